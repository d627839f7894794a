package dev.la2.api;

import dev.la2.spi.HostTensor;

/**
 * Whether a call may use a tensor's memory at all, and write it where the call writes (SPEC.md
 * section 5). A view of caller memory can be closed behind the tensor's back (its arena closed),
 * confined to another thread, or read-only; each is refused by the argument's name before any work,
 * since otherwise the call fails part way, after writing some outputs or the state it updates in
 * place.
 */
final class HostMemoryCheck {
    private HostMemoryCheck() {
    }

    /** An open tensor whose memory this thread may access. */
    static void open(Tensor t, String name) {
        if (t.isClosed()) {
            String what = t instanceof HostTensor h && h.isArenaClosed() ? "a view of memory whose arena is closed"
                    : "a closed tensor";
            throw new La2ArgumentException(name, what + " (" + t.dtype() + " " + t.shape() + ")", "an open tensor");
        }
        if (t instanceof HostTensor host && !host.segment().isAccessibleBy(Thread.currentThread())) {
            throw new La2ArgumentException(name, "a view of memory confined to another thread (" + t.dtype() + " "
                    + t.shape() + ")", "memory this thread may access (a shared or global arena, or one it owns)");
        }
    }

    /** A tensor the call writes: not a view of read-only memory. */
    static void writable(Tensor t, String name) {
        if (t instanceof HostTensor host && host.isReadOnly()) {
            throw new La2ArgumentException(name, "a tensor over read-only memory (" + t.dtype() + " " + t.shape() + ")",
                    "a tensor over writable memory (the call writes it)");
        }
    }
}
