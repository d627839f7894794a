package dev.la2.conformance;

import dev.la2.api.Backends;
import dev.la2.api.BackendOptions;

/**
 * The kit bound to whichever backend {@link ConformanceRunner} selected. Deliberately not named
 * like a test, so build tools that scan for tests do not pick it up; run on its own (say from an
 * IDE) it falls back to {@code -Dla2.backend} / {@code LA2_BACKEND}.
 */
public final class SelectedBackendKit extends ConformanceKit {
    private static volatile String selectedName;
    private static volatile BackendOptions selectedOptions;

    static void select(String name, BackendOptions options) {
        selectedName = name;
        selectedOptions = options;
    }

    static void clear() {
        selectedName = null;
        selectedOptions = null;
    }

    @Override
    protected String backendName() {
        String name = selectedName;
        return name != null ? name : Backends.requestedName();
    }

    @Override
    protected BackendOptions backendOptions() {
        BackendOptions options = selectedOptions;
        return options != null ? options : BackendOptions.defaults();
    }
}
