package dev.la2.spi;

import dev.la2.api.La2ArgumentException;
import dev.la2.api.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * What a segment handed in by the caller must be before la2 touches it (SPEC.md section 5): alive,
 * accessible from the calling thread, and writable where la2 writes it; and an array a tensor is
 * copied from or into, one element per element of the tensor. Checked up front, so a closed arena,
 * another thread's confined arena, a read-only view or a short array is refused by the argument's
 * name rather than failing part way through the work.
 */
public final class CallerMemory {
    private CallerMemory() {
    }

    /**
     * Refuses a segment whose arena is closed. Enough for a wrap, which touches no memory: the
     * tensor may be used on the thread that owns a confined arena, and each call checks that.
     */
    public static void alive(String argument, MemorySegment memory) {
        if (memory == null) {
            throw new La2ArgumentException(argument, "null", "a memory segment");
        }
        if (!memory.scope().isAlive()) {
            throw new La2ArgumentException(argument, "a segment of " + memory.byteSize() + " bytes whose arena is closed",
                    "memory that stays alive while la2 uses it");
        }
    }

    /** Refuses a segment whose arena is closed or confined to another thread, for memory la2 reads now. */
    public static void usable(String argument, MemorySegment memory) {
        alive(argument, memory);
        if (!memory.isAccessibleBy(Thread.currentThread())) {
            throw new La2ArgumentException(argument, "a segment of " + memory.byteSize()
                    + " bytes confined to another thread", "memory this thread may access (a shared or global arena, or one it owns)");
        }
    }

    /** As {@link #usable}, and refuses a read-only segment, for memory la2 writes. */
    public static void writable(String argument, MemorySegment memory) {
        usable(argument, memory);
        if (memory.isReadOnly()) {
            throw new La2ArgumentException(argument, "a read-only segment of " + memory.byteSize() + " bytes",
                    "writable memory (la2 writes it)");
        }
    }

    /** Refuses a null array, or one whose length is not {@code tensor}'s element count, for a copy from or into it. */
    public static void array(String argument, Object array, Tensor tensor) {
        String elements = tensor.elementCount() + " elements (" + tensor.dtype() + " " + tensor.shape() + ")";
        if (array == null) {
            throw new La2ArgumentException(argument, "null", "an array of " + elements);
        }
        int length = java.lang.reflect.Array.getLength(array);
        if (length != tensor.elementCount()) {
            throw new La2ArgumentException(argument, "an array of " + length + " elements", elements);
        }
    }
}
