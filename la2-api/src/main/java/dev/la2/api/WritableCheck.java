package dev.la2.api;

import dev.la2.spi.HostTensor;

/**
 * Refuses, before any work, a tensor a call writes (an output, a decode state, a state pool) that
 * views read-only caller memory (SPEC.md section 5): without this the call would fail part way,
 * after writing some of its other outputs or the state it updates in place.
 */
final class WritableCheck {
    private WritableCheck() {
    }

    static void check(Tensor t, String name) {
        if (t instanceof HostTensor host && host.isReadOnly()) {
            throw new La2ArgumentException(name, "a tensor over read-only memory (" + t.dtype() + " " + t.shape() + ")",
                    "a tensor over writable memory (the call writes it)");
        }
    }
}
