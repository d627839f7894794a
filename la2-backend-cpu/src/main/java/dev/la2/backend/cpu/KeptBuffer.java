package dev.la2.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.util.function.Supplier;

/**
 * One {@link StatePool} buffer of kept block states and its lifetime: closed by the residual's
 * owner, read by any number of backward calls, and given back to the pool once it is closed and
 * no call reads it any more. A buffer given back while a call still read it could be refilled by
 * another forward under that call. One buffer may hold the states of many dense calls (a packed
 * call's sequences); they then live and die together.
 */
final class KeptBuffer {
    private final StatePool pool;
    private final StatePool.Buffer buffer;
    /** Backward calls reading now. */
    private int readers;
    private boolean closed;

    private KeptBuffer(StatePool pool, StatePool.Buffer buffer) {
        this.pool = pool;
        this.buffer = buffer;
    }

    /** At least {@code bytes} from {@code pool}. */
    static KeptBuffer acquire(StatePool pool, long bytes) {
        return new KeptBuffer(pool, pool.acquire(bytes));
    }

    MemorySegment segment() {
        return buffer.segment();
    }

    /** Registers a backward call that will read the buffer; false if it was closed. */
    synchronized boolean startReading() {
        if (closed) {
            return false;
        }
        readers++;
        return true;
    }

    void endReading() {
        boolean giveBack;
        synchronized (this) {
            giveBack = --readers == 0 && closed;
        }
        if (giveBack) {
            pool.release(buffer);
        }
    }

    /** Runs {@code work} as a reader of {@code memory} (null: none); a closed buffer is refused. */
    static <T> T reading(KeptBuffer memory, Supplier<T> work) {
        if (memory == null) {
            return work.get();
        }
        if (!memory.startReading()) {
            throw new IllegalStateException("the kept block states were closed");
        }
        try {
            return work.get();
        } finally {
            memory.endReading();
        }
    }

    /** Idempotent; the buffer goes back to the pool now, or when the last reader ends. */
    void close() {
        boolean giveBack;
        synchronized (this) {
            giveBack = !closed && readers == 0;
            closed = true;
        }
        if (giveBack) {
            pool.release(buffer);
        }
    }
}
