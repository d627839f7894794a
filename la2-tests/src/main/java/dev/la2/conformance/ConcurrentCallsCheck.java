package dev.la2.conformance;

import static dev.la2.api.Layout.BHND;
import static dev.la2.api.Layout.BNHD;
import static dev.la2.conformance.Case.Decay.ALIBI;
import static dev.la2.conformance.Case.Decay.MIXED;

import dev.la2.api.LightningAttention;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One instance called from several threads at once, as the SPI promises ("safe for concurrent
 * calls"). The threads of a fixed pool are released together by a barrier for every round, so
 * their calls overlap; in each round each thread runs a different case on the same instance
 * (forward, backward, a keeping forward with its backwards, decode steps, a packed call; several
 * shapes and both layouts, with and without an initial state, one at D = E = 128 for the fast
 * paths), with its own inputs and its own outputs poisoned with NaN, through the sequential
 * families' checks, which hold every result to the float64 reference with SPEC.md section 3's
 * tolerances. A backend that keeps per-call scratch in a field or shares one workspace between
 * calls passes those families, one call at a time, and fails here.
 *
 * <p>The inputs of each thread's calls come from the run's seed, so a replay draws the same ones;
 * how the calls interleave is up to the scheduler.
 */
record ConcurrentCallsCheck(LightningAttention la) {
    /** The kit's schedule: four threads, three rounds. */
    static final Schedule SCHEDULE = new Schedule(4, 3);
    /** How long all rounds may take before the check calls it a deadlock. */
    private static final long DEADLINE_SECONDS = 300;

    /** {@code threads} threads calling at once, each taking part in {@code rounds} rounds of one call. */
    record Schedule(int threads, int rounds) {
        @Override
        public String toString() {
            return threads + " threads x " + rounds + " calls on one instance";
        }
    }

    /** One call a thread makes: a sequential family's check of one case. */
    private record Call<C>(String kind, C c, ConformanceKit.CaseCheck<C> check) {
        void run(Configuration cfg, SplittableRandom rng, String context) throws Exception {
            check.run(cfg, c, rng, context);
        }

        @Override
        public String toString() {
            return kind + " " + c;
        }
    }

    /**
     * The cases, {@code threads} per round: thread t runs call {@code t + round * threads} (modulo
     * their number), so every round overlaps different kinds of call.
     */
    private List<Call<?>> calls() {
        ForwardChecks forward = new ForwardChecks(la);
        GradientChecks gradients = new GradientChecks(la);
        DecodeCheck decode = new DecodeCheck(la);
        PackedChecks packed = new PackedChecks(la);
        return List.of(
                new Call<>("forward", Case.of(2, 3, 70, 17, 9, BNHD, 0.5, MIXED, true), forward::forward),
                new Call<>("backward", Case.of(2, 3, 65, 16, 8, BHND, 1.0, MIXED, true).withGradients(true, true),
                        gradients::backward),
                new Call<>("decode", Case.of(2, 3, 9, 5, 7, BHND, 0.8, MIXED, true), decode::decode),
                new Call<>("packed", PackedCase.of(3, 5, 7, 1.0, true, 0, 1, 63, 64, 65), packed::forward),

                new Call<>("forward", Case.of(1, 3, 130, 128, 128, BHND, 0.125, MIXED, false), forward::forward),
                new Call<>("keeping forward and its backwards",
                        Case.of(1, 5, 100, 24, 12, BNHD, 1.0, MIXED, true).withGradients(true, false),
                        new KeptStateChecks(la)::savedForward),
                new Call<>("packed backward", PackedCase.of(3, 6, 4, 1.0, true, 0, 1, 63, 64, 65).withGradients(true, true),
                        packed::backward),
                new Call<>("decode", Case.of(1, 5, 17, 32, 32, BHND, 1.0, ALIBI, false), decode::decode),

                new Call<>("backward", Case.of(1, 3, 130, 128, 128, BNHD, 0.25, MIXED, true).withGradients(false, true),
                        gradients::backward),
                new Call<>("forward", Case.of(3, 5, 200, 8, 32, BHND, 1.0, ALIBI, false).withoutFinalState(),
                        forward::forward),
                new Call<>("forward", Case.of(1, 3, 1, 3, 5, BHND, 1.0, MIXED, true), forward::forward),
                new Call<>("backward", Case.of(2, 3, 64, 32, 32, BNHD, 0.5, ALIBI, false).withGradients(true, true),
                        gradients::backward));
    }

    /**
     * Runs {@code schedule} on {@code cfg} and fails with the first failing call's message (the
     * thread, the round and the case appended to {@code context}); the other failures are
     * suppressed in it. A call that throws fails with that exception as the cause. Calls a
     * backend does not support ({@link UnsupportedOperationException}) are left out, since their
     * own families report them; where all are, the case aborts.
     */
    void concurrent(Configuration cfg, Schedule schedule, SplittableRandom rng, String context) throws InterruptedException {
        List<Call<?>> calls = calls();
        int threads = schedule.threads();
        // SplittableRandom is not thread-safe: every call gets its own stream, split here in a fixed order.
        SplittableRandom[][] streams = new SplittableRandom[threads][schedule.rounds()];
        for (SplittableRandom[] perThread : streams) {
            for (int r = 0; r < perThread.length; r++) {
                perThread[r] = rng.split();
            }
        }
        CyclicBarrier together = new CyclicBarrier(threads);
        List<AssertionError> failures = new ArrayList<>();
        List<UnsupportedOperationException> unsupported = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(threads,
                Thread.ofPlatform().name("conformance-caller-", 0).daemon().factory());
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                running.add(pool.submit((Callable<Void>) () -> {
                    for (int r = 0; r < schedule.rounds(); r++) {
                        Call<?> call = calls.get((thread + r * threads) % calls.size());
                        String where = context + " thread " + thread + ", call " + r + ": " + call;
                        together.await();
                        try {
                            call.run(cfg, streams[thread][r], where);
                        } catch (AssertionError e) {
                            record(failures, e);
                        } catch (UnsupportedOperationException e) {
                            record(unsupported, e);
                        } catch (Throwable e) {
                            record(failures, new AssertionError(where + ": the backend threw " + e, e));
                        }
                    }
                    return null;
                }));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DEADLINE_SECONDS);
            for (int t = 0; t < threads; t++) {
                try {
                    running.get(t).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    throw new AssertionError(context + ": the calls did not finish within " + DEADLINE_SECONDS
                            + " s: a deadlock, or a call that never returns");
                } catch (ExecutionException e) {
                    record(failures, new AssertionError(context + " thread " + t + " stopped: " + e.getCause(), e.getCause()));
                }
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        }
        if (!failures.isEmpty()) {
            AssertionError first = failures.getFirst();
            failures.stream().skip(1).forEach(first::addSuppressed);
            throw first;
        }
        if (unsupported.size() == threads * schedule.rounds()) {
            throw unsupported.getFirst();
        }
    }

    private static <T> void record(List<T> list, T item) {
        synchronized (list) {
            list.add(item);
        }
    }
}
