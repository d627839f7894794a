package dev.la2.backend.cpu;

import java.util.concurrent.atomic.AtomicLong;

/** Working memory the instance's calls hold (per-task tiles and states), for memoryStats(). */
final class Scratch {
    private final AtomicLong live = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

    long reserve(long bytes) {
        peak.accumulateAndGet(live.addAndGet(bytes), Math::max);
        return bytes;
    }

    void release(long bytes) {
        live.addAndGet(-bytes);
    }

    long live() {
        return live.get();
    }

    long peak() {
        return peak.get();
    }

    void resetPeak() {
        peak.set(live.get());
    }
}
