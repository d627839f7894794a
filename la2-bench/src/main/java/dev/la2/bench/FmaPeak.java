package dev.la2.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;

/**
 * The host's fp32 peak, measured: fused multiply-adds on the preferred float vector, several
 * independent chains per thread and one thread per available processor, for a fixed time after a
 * warm-up. Nothing computes fp32 faster on these cores, which makes it the honest ceiling for a
 * host backend's arithmetic (a library's sgemm is only as good as that library). GFLOP/s on
 * SPEC.md's notional count can still pass it: that count includes each block's masked half, which
 * the kernels skip. It needs the Vector API (--add-modules jdk.incubator.vector), not ND4J.
 *
 * @param gflops       2 * lanes * fmas / seconds, in GFLOP/s (an FMA is two flops per lane)
 * @param threads      threads run at once
 * @param lanes        floats per vector
 * @param accumulators independent FMA chains per thread
 * @param fmas         vector FMAs done by all threads in the timed window
 * @param seconds      the timed window, from the common start to the last thread's end
 */
public record FmaPeak(double gflops, int threads, int lanes, int accumulators, long fmas, double seconds) {

    private static final String MODULE = "jdk.incubator.vector";

    /** Empty when the Vector API can run here; otherwise why not. */
    public static Optional<String> unavailableReason() {
        return ModuleLayer.boot().findModule(MODULE).isPresent() ? Optional.empty()
                : Optional.of(MODULE + " not in the boot layer (start java with --add-modules " + MODULE + ")");
    }

    /**
     * Runs the FMA chains on every available processor: {@code warmupMillis} untimed (for the JIT),
     * then {@code millis} timed.
     *
     * @throws UnsupportedOperationException when the Vector API is absent
     */
    public static FmaPeak measure(long warmupMillis, long millis) {
        if (warmupMillis < 0 || millis < 1) {
            throw new IllegalArgumentException("FMA peak: got warm-up " + warmupMillis + " ms, " + millis
                    + " ms timed; expected warm-up >= 0 and timed >= 1");
        }
        Optional<String> absent = unavailableReason();
        if (absent.isPresent()) {
            throw new UnsupportedOperationException(absent.get());
        }
        int threads = Runtime.getRuntime().availableProcessors();
        long[] window = new long[2];
        CyclicBarrier start = new CyclicBarrier(threads, () -> {
            window[0] = System.nanoTime();
            window[1] = window[0] + millis * 1_000_000L;
        });
        long[] done = new long[threads];
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int index = t;
            workers.add(Thread.ofPlatform().name("la2-fma-peak-" + t).start(() -> {
                FmaLoop.run(System.nanoTime() + warmupMillis * 1_000_000L);
                try {
                    start.await();
                } catch (InterruptedException | BrokenBarrierException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                done[index] = FmaLoop.run(window[1]);
            }));
        }
        try {
            for (Thread w : workers) {
                w.join();
            }
        } catch (InterruptedException e) {
            workers.forEach(Thread::interrupt);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("FMA peak: interrupted", e);
        }
        double seconds = (System.nanoTime() - window[0]) / 1e9;
        long fmas = 0;
        for (long f : done) {
            fmas += f;
        }
        int lanes = FmaLoop.SPECIES.length();
        return new FmaPeak(2.0 * lanes * fmas / seconds / 1e9, threads, lanes, FmaLoop.ACCUMULATORS, fmas, seconds);
    }

    /** For headers, for example "fp32, 12 chains of 8-lane FMAs on each of 16 threads, 0.30 s: 1234.5 GFLOP/s". */
    public String description() {
        return String.format(Locale.ROOT, "fp32, %d chains of %d-lane FMAs on each of %d threads, %.2f s: %.1f GFLOP/s",
                accumulators, lanes, threads, seconds, gflops);
    }
}
