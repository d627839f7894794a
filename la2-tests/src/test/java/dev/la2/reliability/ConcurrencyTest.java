package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * 8 threads x 1000 mixed calls (forward, backward, decode; different shapes) on ONE instance give
 * exactly the results of the same calls made on one thread (host backends: bitwise), with no
 * deadlock, and after close() no la2 thread is left.
 */
class ConcurrencyTest {
    private static final int THREADS = 8;
    private static final int CALLS_PER_THREAD = 1000;
    private static final int SPECS = 12;

    /** What one call kind returns, flattened, for comparison. */
    private static float[][] call(LightningAttention la, Calls.Uploaded up, Calls.Spec s, int kind) {
        return switch (kind) {
            case 0 -> {
                try (ForwardResult r = la.forward(up.inputs(), s.options())) {
                    yield new float[][] {r.output().toFloatArray(), r.finalState().toFloatArray()};
                }
            }
            case 1 -> {
                try (Gradients g = la.backward(up.inputs(), up.dOut, null, s.options().withLearnableDecay(true))) {
                    yield new float[][] {g.dq().toFloatArray(), g.dk().toFloatArray(), g.dv().toFloatArray(),
                            g.dInitialState().toFloatArray(), g.dDecay().toFloatArray()};
                }
            }
            default -> {
                // One decode step for every (b, h) from a state made of the spec's first D x E values.
                int b = s.b(), h = s.h(), d = s.d(), e = s.e();
                float[] qd = new float[b * h * d], kd = new float[b * h * d], vd = new float[b * h * e];
                float[] st = new float[b * h * d * e];
                for (int i = 0; i < qd.length; i++) {
                    qd[i] = s.q()[i % s.q().length];
                    kd[i] = s.k()[(i * 7) % s.k().length];
                }
                for (int i = 0; i < vd.length; i++) {
                    vd[i] = s.v()[i % s.v().length];
                }
                for (int i = 0; i < st.length; i++) {
                    st[i] = s.dOut()[i % s.dOut().length];
                }
                try (Tensor q = la.tensor(qd, DType.FP32, Shape.of(b, h, d));
                     Tensor k = la.tensor(kd, DType.FP32, Shape.of(b, h, d));
                     Tensor v = la.tensor(vd, DType.FP32, Shape.of(b, h, e));
                     Tensor state = la.tensor(st, DType.FP32, Shape.of(b, h, d, e));
                     Tensor o = la.decode(q, k, v, up.decay, state, s.scale())) {
                    yield new float[][] {o.toFloatArray(), state.toFloatArray()};
                }
            }
        };
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.la2.reliability.Backends4Test#fast")
    void mixedCallsFromEightThreadsMatchOneThread(String backend) throws Exception {
        long seed = Long.getLong("la2.seed", System.nanoTime());
        Random r = new Random(seed);
        List<Calls.Spec> specs = new ArrayList<>();
        for (int i = 0; i < SPECS; i++) {
            specs.add(Calls.Spec.random(r, i % 3 == 0 ? 150 : 70, i % 2 == 0 ? 32 : 17));
        }
        boolean bitwise = !backend.startsWith("cuda");
        AtomicLong calls = new AtomicLong();
        long started = System.nanoTime();
        try (LightningAttention la = LightningAttention.open(backend)) {
            List<Calls.Uploaded> uploads = new ArrayList<>();
            List<float[][][]> expected = new ArrayList<>();
            for (Calls.Spec s : specs) {
                Calls.Uploaded up = new Calls.Uploaded(la, s);
                uploads.add(up);
                expected.add(new float[][][] {call(la, up, s, 0), call(la, up, s, 1), call(la, up, s, 2)});
            }
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int thread = t;
                    futures.add(pool.submit(() -> {
                        Random tr = new Random(seed + thread);
                        for (int i = 0; i < CALLS_PER_THREAD; i++) {
                            int spec = tr.nextInt(SPECS), kind = tr.nextInt(3);
                            float[][] got = call(la, uploads.get(spec), specs.get(spec), kind);
                            float[][] want = expected.get(spec)[kind];
                            for (int part = 0; part < want.length; part++) {
                                String what = "thread " + thread + " call " + i + " spec " + spec + " kind " + kind
                                        + " part " + part + ", seed " + seed;
                                if (bitwise) {
                                    // Arrays.equals compares as containsExactly does (Float.equals: bit
                                    // patterns, NaN equal to NaN, -0 unlike 0) at a fraction of the cost
                                    // of AssertJ's element-by-element diff, which then reports a mismatch.
                                    if (!Arrays.equals(got[part], want[part])) {
                                        assertThat(got[part]).as(what).containsExactly(want[part]);
                                    }
                                } else {
                                    assertThat(Calls.relativeError(got[part], wide(want[part]))).as(what).isLessThan(1e-5);
                                }
                            }
                            calls.incrementAndGet();
                        }
                        return null;
                    }));
                }
                Assertions.assertTimeoutPreemptively(Duration.ofMinutes(5), () -> {
                    for (Future<?> f : futures) {
                        f.get();
                    }
                }, "deadlock or starvation: not all threads finished within 5 minutes");
            } finally {
                pool.shutdownNow();
                pool.awaitTermination(10, TimeUnit.SECONDS);
            }
            uploads.forEach(Calls.Uploaded::close);
        }
        assertThat(calls.get()).isEqualTo((long) THREADS * CALLS_PER_THREAD);
        assertThat(la2Threads()).as("la2 threads alive after close()").isEmpty();
        System.out.printf("concurrency on %s: %d threads x %d calls in %.1f s, %s%n", backend, THREADS,
                CALLS_PER_THREAD, (System.nanoTime() - started) / 1e9, bitwise ? "bitwise equal" : "within 1e-5");
    }

    static List<String> la2Threads() throws InterruptedException {
        // Pool threads finish their last task asynchronously; give them a moment to exit.
        for (int attempt = 0; attempt < 50; attempt++) {
            List<String> alive = Thread.getAllStackTraces().keySet().stream()
                    .filter(Thread::isAlive).map(Thread::getName).filter(n -> n.startsWith("la2-")).toList();
            if (alive.isEmpty()) {
                return alive;
            }
            Thread.sleep(100);
        }
        return Thread.getAllStackTraces().keySet().stream()
                .filter(Thread::isAlive).map(Thread::getName).filter(n -> n.startsWith("la2-")).toList();
    }

    private static double[] wide(float[] a) {
        return Calls.wide(a);
    }
}
