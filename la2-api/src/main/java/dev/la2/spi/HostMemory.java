package dev.la2.spi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where the memory of owned {@link HostTensor}s comes from, and when it goes back.
 *
 * <p>Results must be readable, writable and closable from any thread, and a closed tensor's memory
 * must never be read or written again, from any thread. Of the JDK's arenas only a shared one
 * gives both, and closing one costs a handshake with every thread of the JVM. The allocating calls
 * make several small results per call, so an arena per tensor spends most of a small call on those
 * handshakes. Small tensors are therefore cut from shared slabs of {@link #SLAB_BYTES}: a slab's
 * arena is closed, one handshake for all its tensors, once no more tensors are cut from it and
 * every tensor cut from it is freed. A tensor over {@link #LARGEST_SLICE} bytes keeps an arena of
 * its own: the call that fills it does enough work to carry a handshake, and a slab then holds at
 * least 16 tensors.
 *
 * <p>Why that is safe: bytes of a slab are handed out once and never again, and memory is only
 * freed by closing its arena. A freed tensor's {@link Block} says so, and {@link HostTensor} checks
 * it before every access it makes. A segment taken from the tensor earlier (a backend's call that
 * is still running, or code that kept {@link HostTensor#segment()}) still reaches only bytes that
 * no other tensor will ever get, and from the moment the slab's arena closes it throws
 * {@link IllegalStateException} like any segment of a closed arena. So a late read or write can
 * neither touch freed memory nor another tensor's data. Fresh slab memory is zeroed by the arena
 * and never reused, so a tensor starts zeroed as one with its own arena does.
 *
 * <p>The price is that one live tensor keeps its whole slab allocated: at most {@link #SLAB_BYTES}
 * per tensor that outlives the tensors cut after it.
 */
final class HostMemory {
    static final long SLAB_BYTES = 1 << 20;
    static final long LARGEST_SLICE = SLAB_BYTES / 16;
    private static final long ALIGNMENT = 64;

    private static final AtomicLong LIVE_BYTES = new AtomicLong();
    private static final AtomicLong PEAK_BYTES = new AtomicLong();
    private static final AtomicLong RESERVED_BYTES = new AtomicLong();
    private static final Object LOCK = new Object();
    /** The slab small tensors are cut from now; guarded by {@link #LOCK}. */
    private static Slab current;

    private HostMemory() {
    }

    /**
     * {@code bytes} of zeroed memory aligned to 64 bytes, open until {@link Block#free()}.
     *
     * @throws OutOfMemoryError         if the memory cannot be had
     * @throws IllegalArgumentException if {@code bytes} is beyond what an arena allocates
     */
    static Block allocate(long bytes) {
        Block block = bytes <= LARGEST_SLICE ? slice(bytes) : own(bytes);
        PEAK_BYTES.accumulateAndGet(LIVE_BYTES.addAndGet(bytes), Math::max);
        return block;
    }

    private static Block own(long bytes) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment segment = arena.allocate(bytes, ALIGNMENT);
            RESERVED_BYTES.addAndGet(bytes);
            return new Block(segment, arena, null);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            arena.close();
            throw e;
        }
    }

    private static Block slice(long bytes) {
        Slab retired = null;
        try {
            synchronized (LOCK) {
                if (current == null || !current.fits(bytes)) {
                    retired = current;
                    current = null;
                    if (retired != null && !retired.retire()) {
                        retired = null;
                    }
                    current = new Slab();
                }
                return new Block(current.cut(bytes), null, current);
            }
        } finally {
            if (retired != null) {
                retired.close();
            }
        }
    }

    /** Bytes of the blocks not yet freed. */
    static long liveBytes() {
        return LIVE_BYTES.get();
    }

    static long peakBytes() {
        return PEAK_BYTES.get();
    }

    static void resetPeakBytes() {
        PEAK_BYTES.set(LIVE_BYTES.get());
    }

    /** Native bytes allocated for blocks now: every open arena, whole slabs included. */
    static long reservedBytes() {
        return RESERVED_BYTES.get();
    }

    /**
     * One tensor's memory: its own arena or a slice of a slab. {@link #free()} is idempotent and is
     * also the tensor's {@link java.lang.ref.Cleaner} action, so it holds no tensor.
     */
    static final class Block implements Runnable {
        private final MemorySegment segment;
        private final Arena arena;
        private final Slab slab;
        private volatile boolean freed;

        private Block(MemorySegment segment, Arena arena, Slab slab) {
            this.segment = segment;
            this.arena = arena;
            this.slab = slab;
        }

        MemorySegment segment() {
            return segment;
        }

        boolean isFreed() {
            return freed;
        }

        /** Marks the block freed, then gives its memory back: closes its arena or leaves its slab. */
        void free() {
            synchronized (this) {
                if (freed) {
                    return;
                }
                freed = true;
            }
            LIVE_BYTES.addAndGet(-segment.byteSize());
            if (arena != null) {
                arena.close();
                RESERVED_BYTES.addAndGet(-segment.byteSize());
            } else if (slab.leave()) {
                slab.close();
            }
        }

        @Override
        public void run() {
            free();
        }
    }

    /** A shared arena of {@link #SLAB_BYTES} cut front to back; closed once retired and empty. */
    private static final class Slab {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment memory;
        /** Guarded by {@link #LOCK}, as are the fields below. */
        private long next;
        private int blocks;
        private boolean retired;

        Slab() {
            try {
                memory = arena.allocate(SLAB_BYTES, ALIGNMENT);
            } catch (OutOfMemoryError e) {
                arena.close();
                throw e;
            }
            RESERVED_BYTES.addAndGet(SLAB_BYTES);
        }

        boolean fits(long bytes) {
            return next + bytes <= SLAB_BYTES;
        }

        MemorySegment cut(long bytes) {
            MemorySegment part = memory.asSlice(next, bytes);
            next = Math.min(SLAB_BYTES, (next + bytes + ALIGNMENT - 1) & -ALIGNMENT);
            blocks++;
            return part;
        }

        /** No more cuts; true if no block is left, so the caller closes it. */
        boolean retire() {
            retired = true;
            return blocks == 0;
        }

        /** One block freed; true if it was the last of a retired slab, so the caller closes it. */
        boolean leave() {
            synchronized (LOCK) {
                return --blocks == 0 && retired;
            }
        }

        /** Outside {@link #LOCK}: the handshake of a shared arena's close need not hold up allocations. */
        void close() {
            arena.close();
            RESERVED_BYTES.addAndGet(-SLAB_BYTES);
        }
    }
}
