package dev.la2.reliability;

import dev.la2.api.BackendInfo;
import dev.la2.api.Backends;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The backends the reliability tests run on: every available real one (the kit's test doubles,
 * registered on this class path to prove the kit can fail, are left out).
 */
final class Backends4Test {
    private static final Set<String> TEST_DOUBLES = Set.of("faulty", "unavailable-here");

    private Backends4Test() {
    }

    /** Available backends meant for speed: not the float64 oracle. */
    static Stream<String> fast() {
        return all().filter(n -> !n.equals("reference"));
    }

    /** Every available backend, or those named in {@code -Dla2.reliability.backends=a,b}. */
    static Stream<String> all() {
        String only = System.getProperty("la2.reliability.backends", "");
        Set<String> chosen = only.isBlank() ? Set.of() : Set.of(only.split(","));
        List<String> names = Backends.discover().stream()
                .filter(i -> i.availability().isAvailable())
                .map(BackendInfo::name)
                .filter(n -> !TEST_DOUBLES.contains(n))
                .filter(n -> chosen.isEmpty() || chosen.contains(n))
                .toList();
        return names.stream();
    }
}
