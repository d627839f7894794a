package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.api.BackendOptions;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * What each backend promises about repeated calls (README, "Reliability"):
 * cpu: every result bitwise identical for a given thread count, across calls and instances;
 * cuda: repeated calls on the same device agree to a relative difference below 1e-6 (partial sums
 * of segments meet in atomic additions, whose order varies), far inside every SPEC.md tolerance.
 */
class DeterminismTest {

    @Test
    void cpuIsBitwiseReproducibleForAGivenThreadCount() {
        Assumptions.assumeTrue(Backends4Test.fast().anyMatch("cpu"::equals), "the cpu backend is not on this class path");
        long seed = Long.getLong("la2.seed", System.nanoTime());
        Calls.Spec s = Calls.Spec.random(new Random(seed), 700, 70);
        for (int threads : new int[] {1, 2, 3}) {
            float[][] first = run("cpu", BackendOptions.defaults().withThreads(threads), s, DType.FP32, Precision.STRICT);
            float[][] again = run("cpu", BackendOptions.defaults().withThreads(threads), s, DType.FP32, Precision.STRICT);
            for (int i = 0; i < first.length; i++) {
                // Arrays.mismatch, not containsExactly: AssertJ's diff is quadratic in the length
                assertThat(Arrays.mismatch(again[i], first[i])).as("first element that differs, threads %d, part %d, seed %d",
                        threads, i, seed).isEqualTo(-1);
            }
        }
    }

    @Test
    void cudaRepeatsAgreeWithinItsPromise() {
        Assumptions.assumeTrue(Backends4Test.fast().anyMatch("cuda"::equals), "the cuda backend is not available here");
        long seed = Long.getLong("la2.seed", System.nanoTime());
        Random r = new Random(seed);
        // One sequence per head and long: the backend cuts it into segments, whose partial sums meet in atomics.
        List<Calls.Spec> specs = List.of(spec(r, 1, 2, 8192, 128, 128), spec(r, 2, 3, 1500, 64, 64), spec(r, 1, 2, 3000, 48, 40));
        String[] parts = {"output", "finalState", "dq", "dk", "dv", "dInitialState", "dDecay"};
        double[] worst = new double[parts.length];
        int[] bitwise = new int[parts.length];
        int runs = 0;
        for (Calls.Spec s : specs) {
            for (Object[] mode : new Object[][] {{DType.FP32, Precision.STRICT}, {DType.FP32, Precision.TF32X3},
                    {DType.FP32, Precision.TF32}, {DType.BF16, Precision.STRICT}, {DType.FP16, Precision.STRICT}}) {
                DType dtype = (DType) mode[0];
                Precision precision = (Precision) mode[1];
                float[][] first = run("cuda", BackendOptions.defaults(), s, dtype, precision);
                float[][] again = run("cuda", BackendOptions.defaults(), s, dtype, precision);
                runs++;
                for (int i = 0; i < parts.length; i++) {
                    if (Arrays.equals(first[i], again[i])) {
                        bitwise[i]++;
                    }
                    double diff = Calls.relativeError(again[i], Calls.wide(first[i]));
                    worst[i] = Math.max(worst[i], diff);
                    assertThat(diff).as("%s/%s N=%d D=%d E=%d, %s, seed %d", dtype, precision, s.n(), s.d(), s.e(),
                            parts[i], seed).isLessThan(CUDA_REPEAT_BOUND);
                }
            }
        }
        StringBuilder sb = new StringBuilder("cuda determinism over " + runs + " repeated calls (bitwise equal / worst relative difference):");
        for (int i = 0; i < parts.length; i++) {
            sb.append(String.format(java.util.Locale.ROOT, " %s %d/%d %.1e;", parts[i], bitwise[i], runs, worst[i]));
        }
        System.out.println(sb);
    }

    /** What la2 promises for repeated CUDA calls on the same device (README, Reliability). */
    private static final double CUDA_REPEAT_BOUND = 1e-6;

    private static Calls.Spec spec(Random r, int b, int h, int n, int d, int e) {
        float[] decay = new float[h];
        for (int i = 0; i < h; i++) {
            decay[i] = (float) (r.nextDouble() * 0.1);
        }
        return new Calls.Spec(b, h, n, d, e, 1.0, Calls.gaussian(r, b * h * n * d, 1 / Math.sqrt(d)),
                Calls.gaussian(r, b * h * n * d, 1 / Math.sqrt(d)), Calls.gaussian(r, b * h * n * e, 1), decay,
                Calls.gaussian(r, b * h * n * e, 1));
    }

    /** Output, final state, dq, dk, dv, dInitialState, then dDecay last. */
    private static float[][] run(String backend, BackendOptions options, Calls.Spec s, DType dtype, Precision precision) {
        AttentionOptions o = s.options().withPrecision(precision);
        try (LightningAttention la = LightningAttention.open(backend, options);
             Tensor q = la.tensor(s.q(), dtype, s.keys());
             Tensor k = la.tensor(s.k(), dtype, s.keys());
             Tensor v = la.tensor(s.v(), dtype, s.values());
             Tensor decay = la.tensor(s.decay(), dtype.stateType(), Shape.of(s.h()));
             Tensor dOut = la.tensor(s.dOut(), dtype, s.values());
             ForwardResult f = la.forward(dev.la2.api.AttentionInputs.of(q, k, v, decay), o);
             Gradients g = la.backward(dev.la2.api.AttentionInputs.of(q, k, v, decay), dOut, null, o.withLearnableDecay(true))) {
            return new float[][] {f.output().toFloatArray(), f.finalState().toFloatArray(), g.dq().toFloatArray(),
                    g.dk().toFloatArray(), g.dv().toFloatArray(), g.dInitialState().toFloatArray(), g.dDecay().toFloatArray()};
        }
    }
}
