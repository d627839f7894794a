package dev.la2.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.la2.api.BackendInfo;
import dev.la2.api.Backends;
import dev.la2.api.BackendOptions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit against every backend provider on this module's test class path, so that adding a
 * backend as a test dependency is all it takes to hold it to SPEC.md. The reference backend has
 * its own test class ({@link ReferenceConformanceTest}); the test doubles of this module are left out.
 */
class DiscoveredBackendsConformanceTest {
    private static final Set<String> NOT_HERE = Set.of("reference", FaultyProvider.NAME, UnavailableProvider.NAME);

    @TestFactory
    Stream<DynamicTest> everyDiscoveredBackendConforms() {
        List<BackendInfo> backends = Backends.discover().stream().filter(i -> !NOT_HERE.contains(i.name())).toList();
        if (backends.isEmpty()) {
            return Stream.of(dynamicTest("no other backend on the test class path", () -> Assumptions.abort(
                    "only the reference backend is on la2-tests' test class path; add la2-backend-cpu or"
                            + " la2-backend-cuda as a test dependency to check them here. Found:\n" + Backends.describe())));
        }
        return backends.stream().map(info -> dynamicTest(info.name() + " (" + info.providerClass() + ")", () -> {
            StringWriter text = new StringWriter();
            ConformanceRunner.Result result;
            try (PrintWriter out = new PrintWriter(text)) {
                result = ConformanceRunner.run(info.name(), BackendOptions.defaults(), out);
            }
            System.out.println("la2 conformance, backend '" + info.name() + "':\n" + text);
            if (result.passed() == 0 && result.failed() == 0) {
                Assumptions.abort("backend '" + info.name() + "' skipped:\n" + text);
            }
            assertThat(result.failed()).as("failures of backend '%s':%n%s", info.name(), text).isZero();
            assertThat(result.passed()).isPositive();
            // la2's own backends implement all of SPEC.md: no case may be skipped as unsupported.
            assertThat(result.skipped()).as("skipped cases of backend '%s':%n%s", info.name(), text).isZero();
        }));
    }
}
