package dev.la2.api;

import dev.la2.spi.AttentionBackend;
import java.util.Optional;

/**
 * Timing and memory figures of one {@link LightningAttention} instance's backend, for benchmarks,
 * tests and tuning. Every method throws {@link IllegalStateException} once the instance is closed
 * (a closed device backend has released its context). Kept apart from the computing API: what a backend can measure differs between
 * backends, and these figures are diagnostics, not results.
 *
 * <pre>{@code
 * Diagnostics diag = Diagnostics.of(la);
 * double[] ms = diag.timeMillis(() -> la.forward(inputs, options, out, null), 10);
 * diag.memoryStats().ifPresent(m -> System.out.println(m.peakBytes()));
 * }</pre>
 */
public final class Diagnostics {
    private final ValidatingAttention owner;
    private final AttentionBackend backend;

    private Diagnostics(ValidatingAttention owner) {
        this.owner = owner;
        this.backend = owner.backend();
    }

    /** The diagnostics of {@code la}'s backend. */
    public static Diagnostics of(LightningAttention la) {
        if (la == null) {
            throw new La2ArgumentException("la", "null", "an open LightningAttention");
        }
        return new Diagnostics((ValidatingAttention) la);
    }

    /**
     * Runs {@code work} and returns its duration in milliseconds on the backend's own clock: CUDA
     * events around device work for GPU backends, the wall clock for host backends.
     */
    public double timeMillis(Runnable work) {
        owner.checkOpen();
        required(work);
        return backend.timeMillis(work);
    }

    /**
     * Runs {@code work} {@code times} times back to back and returns each run's duration in
     * milliseconds. GPU backends queue the runs without waiting in between (one untimed run first),
     * so each is its device time once the queue is ahead of the device: per-call host overhead is
     * hidden, as in a pipeline; {@link #timeMillis(Runnable)} counts it. Host backends time each
     * run on the wall clock.
     */
    public double[] timeMillis(Runnable work, int times) {
        owner.checkOpen();
        required(work);
        if (times < 1) {
            throw new La2ArgumentException("times", String.valueOf(times), "at least 1 run to time");
        }
        return backend.timeMillis(work, times);
    }

    /** Memory the backend holds now and at its peak since {@link #resetPeakMemory()}, if it tracks it. */
    public Optional<MemoryStats> memoryStats() {
        owner.checkOpen();
        return backend.memoryStats();
    }

    /** Starts a new peak; device backends also free cached blocks, so the next peak counts only later calls. */
    public void resetPeakMemory() {
        owner.checkOpen();
        backend.resetPeakMemory();
    }

    private static void required(Runnable work) {
        if (work == null) {
            throw new La2ArgumentException("work", "null", "a value");
        }
    }
}
