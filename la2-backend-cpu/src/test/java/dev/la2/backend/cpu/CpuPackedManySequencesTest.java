package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ErrorNorms;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A packed call of more sequences x heads than a GPU grid's second dimension takes (65,535),
 * with small D and E: the forward, the same through a state pool, and a decode by slot, each
 * against a float64 recurrence (SPEC.md section 8).
 */
class CpuPackedManySequencesTest {
    private static final int S = 22_000;
    private static final int H = 3;
    private static final int D = 2;
    private static final int E = 3;
    private static final double SCALE = 0.5;

    @Test
    void packedForwardPoolAndDecodeBySlotOverMoreThan65535SequenceHeads() {
        assertThat((long) S * H).isGreaterThan(65_535);
        SplittableRandom rng = new SplittableRandom(19);
        int[] lengths = new int[S];
        for (int i = 0; i < S; i++) {
            lengths[i] = rng.nextInt(4);
        }
        SequenceOffsets offsets = SequenceOffsets.ofLengths(lengths);
        int t = offsets.tokens();
        double[] q = gaussian(rng, t * H * D);
        double[] k = gaussian(rng, t * H * D);
        double[] v = gaussian(rng, t * H * E);
        double[] s0 = gaussian(rng, S * H * D * E);
        double[] rates = {0.0, 3.0, 0.2};
        try (LightningAttention la = LightningAttention.open("cpu");
             Tensor qt = la.tensor(q, DType.FP32, Shape.of(t, H, D));
             Tensor kt = la.tensor(k, DType.FP32, Shape.of(t, H, D));
             Tensor vt = la.tensor(v, DType.FP32, Shape.of(t, H, E));
             Tensor decay = la.tensor(rates, DType.FP32, Shape.of(H));
             Tensor initial = la.tensor(s0, DType.FP32, Shape.of(S, H, D, E));
             Tensor pool = la.tensor(s0, DType.FP32, Shape.of(S, H, D, E));
             Tensor out = la.allocate(DType.FP32, Shape.of(t, H, E));
             Tensor fin = la.allocate(DType.FP32, Shape.of(S, H, D, E))) {
            double[] expectedOut = new double[t * H * E];
            double[] expectedFin = s0.clone();
            recurrence(offsets, q, k, v, rates, expectedFin, expectedOut);
            AttentionOptions options = AttentionOptions.defaults().withScale(SCALE);

            la.forwardPacked(new PackedInputs(qt, kt, vt, decay, offsets, initial), options, out, fin);
            assertThat(ErrorNorms.relative(out.toDoubleArray(), expectedOut)).isLessThan(1e-5);
            assertThat(ErrorNorms.relative(fin.toDoubleArray(), expectedFin)).isLessThan(1e-5);

            int[] slots = new int[S];
            for (int i = 0; i < S; i++) {
                slots[i] = S - 1 - i;
            }
            // The pool holds sequence i's state in slot S-1-i.
            double[] reversed = new double[s0.length];
            int size = H * D * E;
            for (int i = 0; i < S; i++) {
                System.arraycopy(s0, i * size, reversed, (S - 1 - i) * size, size);
            }
            pool.copyFrom(reversed);
            out.fill(Double.NaN);
            la.forwardPacked(PackedInputs.of(qt, kt, vt, decay, offsets), PoolSlots.of(pool, slots), options, out);
            assertThat(ErrorNorms.relative(out.toDoubleArray(), expectedOut)).isLessThan(1e-5);
            double[] poolNow = pool.toDoubleArray();
            double[] expectedPool = new double[s0.length];
            for (int i = 0; i < S; i++) {
                System.arraycopy(expectedFin, i * size, expectedPool, (S - 1 - i) * size, size);
            }
            assertThat(ErrorNorms.relative(poolNow, expectedPool)).isLessThan(1e-5);

            // One decode step by slot for every sequence from where the pool now is.
            int[] one = new int[S];
            Arrays.fill(one, 1);
            SequenceOffsets step = SequenceOffsets.ofLengths(one);
            double[] qs = gaussian(rng, S * H * D);
            double[] ks = gaussian(rng, S * H * D);
            double[] vs = gaussian(rng, S * H * E);
            double[] stepOut = new double[S * H * E];
            double[] states = expectedFin.clone();
            recurrence(step, qs, ks, vs, rates, states, stepOut);
            try (Tensor qd = la.tensor(qs, DType.FP32, Shape.of(S, H, D));
                 Tensor kd = la.tensor(ks, DType.FP32, Shape.of(S, H, D));
                 Tensor vd = la.tensor(vs, DType.FP32, Shape.of(S, H, E));
                 Tensor od = la.allocate(DType.FP32, Shape.of(S, H, E))) {
                la.decodeSlots(qd, kd, vd, decay, PoolSlots.of(pool, slots), SCALE, od);
                assertThat(ErrorNorms.relative(od.toDoubleArray(), stepOut)).isLessThan(1e-5);
            }
        }
    }

    /** S_t = lambda S_{t-1} + k_t^T v_t, o_t = c q_t S_t per sequence and head; {@code states} in, then out. */
    private static void recurrence(SequenceOffsets offsets, double[] q, double[] k, double[] v, double[] rates,
                                   double[] states, double[] out) {
        int[] starts = offsets.offsets();
        for (int i = 0; i < offsets.sequences(); i++) {
            int lo = starts[i];
            for (int h = 0; h < H; h++) {
                double lambda = Math.exp(-rates[h]);
                int st = (i * H + h) * D * E;
                for (int tok = lo; tok < lo + offsets.length(i); tok++) {
                    int kr = (tok * H + h) * D;
                    int vr = (tok * H + h) * E;
                    for (int d = 0; d < D; d++) {
                        for (int e = 0; e < E; e++) {
                            states[st + d * E + e] = lambda * states[st + d * E + e] + k[kr + d] * v[vr + e];
                        }
                    }
                    for (int e = 0; e < E; e++) {
                        double acc = 0;
                        for (int d = 0; d < D; d++) {
                            acc += q[kr + d] * states[st + d * E + e];
                        }
                        out[vr + e] = SCALE * acc;
                    }
                }
            }
        }
    }

    private static double[] gaussian(SplittableRandom rng, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = rng.nextGaussian() / 2;
        }
        return a;
    }
}
