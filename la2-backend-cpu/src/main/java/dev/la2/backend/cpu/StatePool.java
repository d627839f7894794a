package dev.la2.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Native buffers for kept block states and staged 16-bit rows ({@link Staging}), reused from call
 * to call. A training step keeps and frees the same sizes every step, and fresh native memory is
 * zeroed and faulted in page by page, which costs nearly as much as the forward call that fills
 * it. Holds at most {@link #IDLE_BUFFERS} idle buffers; their bytes count as live scratch until freed.
 */
final class StatePool implements AutoCloseable {
    private static final int IDLE_BUFFERS = 4;

    /** One allocation; {@code segment} may be longer than asked for. */
    record Buffer(Arena arena, MemorySegment segment) {
    }

    private final Scratch scratch;
    private final List<Buffer> idle = new ArrayList<>();
    private boolean closed;

    StatePool(Scratch scratch) {
        this.scratch = scratch;
    }

    /** The smallest idle buffer of at least {@code bytes}, or a new one. */
    Buffer acquire(long bytes) {
        synchronized (this) {
            Buffer best = null;
            for (Buffer b : idle) {
                if (b.segment().byteSize() >= bytes && (best == null || b.segment().byteSize() < best.segment().byteSize())) {
                    best = b;
                }
            }
            if (best != null) {
                idle.remove(best);
                return best;
            }
        }
        Arena arena = Arena.ofShared();
        try {
            Buffer fresh = new Buffer(arena, arena.allocate(Math.max(1, bytes), 64));
            scratch.reserve(fresh.segment().byteSize());
            return fresh;
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e;
        }
    }

    /** Takes {@code buffer} back for reuse, freeing the oldest idle one beyond the cap (or it, once closed). */
    void release(Buffer buffer) {
        Buffer dropped = buffer;
        synchronized (this) {
            if (!closed) {
                idle.add(buffer);
                dropped = idle.size() > IDLE_BUFFERS ? idle.removeFirst() : null;
            }
        }
        if (dropped != null) {
            free(dropped);
        }
    }

    private void free(Buffer b) {
        long bytes = b.segment().byteSize();
        b.arena().close();
        scratch.release(bytes);
    }

    @Override
    public void close() {
        List<Buffer> all;
        synchronized (this) {
            closed = true;
            all = new ArrayList<>(idle);
            idle.clear();
        }
        all.forEach(this::free);
    }
}
