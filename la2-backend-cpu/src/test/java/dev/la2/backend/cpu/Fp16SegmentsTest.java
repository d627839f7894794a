package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ErrorNorms;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import dev.la2.spi.AttentionShape;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * 16-bit results of sequences cut into segments: a segment's partial rows are staged in fp32 until
 * their correction, so results that fit FP16 stay finite where a partial sum of them does not, and
 * every element is rounded to 16 bits once.
 */
class Fp16SegmentsTest {
    private static final double FP16_MAX = 65504;

    @Test
    void resultsWithinRangeStayFiniteWhateverTheSegmentSettings() {
        // B = H = D = E = 1, no decay, N = 2: o_1 = q_1 (k_0 v_0 + k_1 v_1) = -30000 + 70000.
        double[] q = {1, 1}, k = {1, 2}, v = {-30000, 35000}, dO = {0.5, 1};
        // (v_1 is 35008 in FP16, and 40016 rounds to 40000)
        double[] expectedO = {-30000, 40000};
        // dq_1 = dO_1 (v_0 k_0 + v_1 k_1), its partial in the second segment 70016
        double[] expectedDq = {0.5 * -30000, 40000};
        BackendOptions cut = BackendOptions.defaults().withThreads(2).withProperty("cpu.blockSize", "1")
                .withProperty("cpu.segmentTokens", "1");
        try (LightningAttention la = LightningAttention.open("cpu", cut);
             Tensor tq = la.tensor(q, DType.FP16, Shape.of(1, 1, 2, 1));
             Tensor tk = la.tensor(k, DType.FP16, Shape.of(1, 1, 2, 1));
             Tensor tv = la.tensor(v, DType.FP16, Shape.of(1, 1, 2, 1));
             Tensor td = la.tensor(new double[] {0}, DType.FP32, Shape.of(1));
             Tensor tdo = la.tensor(dO, DType.FP16, Shape.of(1, 1, 2, 1))) {
            AttentionInputs in = AttentionInputs.of(tq, tk, tv, td);
            try (ForwardResult r = la.forward(in, AttentionOptions.defaults())) {
                assertThat(r.output().toDoubleArray()).containsExactly(expectedO);
            }
            try (Gradients g = la.backward(in, tdo, null, AttentionOptions.defaults())) {
                assertThat(g.dq().toDoubleArray()).containsExactly(expectedDq);
                // v_1 is 35008 in FP16; dk_0 = -45000 rounds to -44992
                assertThat(g.dk().toDoubleArray()).containsExactly(-44992, 35008);
                assertThat(g.dv().toDoubleArray()).containsExactly(1.5, 2);
            }
        }
    }

    /**
     * One sequence of N = 256 (four blocks of the default 64) on 2 and 4 threads: the threads alone
     * cut it into as many segments. B = H = D = E = 1, no decay, scale 1, so that with these values
     * fp32 computes every sum exactly and each result must be the FP16 rounding of the exact one.
     * Each case has a partial row beyond FP16's range: o and dq (the second segment's prefix
     * sums), dk and dv (the first segment's suffix sums, before later tokens cancel them).
     */
    @Test
    void sequencesCutByTheThreadsKeepPartialRowsBeyondFp16OffTheTensor() {
        int n = 256;
        double[][] fwdDq = tokens(n, Map.of(), Map.of(), Map.of(0, -60000.0, 200, 60000.0, 201, 60000.0,
                202, -60000.0), Map.of(201, 1.0));
        double[][] dk = tokens(n, Map.of(1, 2.0, 150, 1.0), Map.of(0, 0.25), Map.of(0, -30000.0),
                Map.of(1, 1.25, 150, -2.375));
        double[][] dv = tokens(n, Map.of(1, 2.0, 150, 1.0), Map.of(0, -30000.0), Map.of(0, 0.25),
                Map.of(1, 1.25, 150, -2.375));
        for (int threads : new int[] {2, 4}) {
            SegmentPlan plan = SegmentPlan.of(1, n, 64, 0, threads);
            assertThat(plan.segments()).as("segments on %d threads", threads).isEqualTo(threads);
            for (double[][] x : new double[][][] {fwdDq, dk, dv}) {
                Exact exact = Exact.of(x[0], x[1], x[2], x[3]);
                assertThat(exact.largestPartial(plan)).as("a partial beyond FP16").isGreaterThan(FP16_MAX);
                checkExact(threads, x, exact);
            }
        }
    }

    private static void checkExact(int threads, double[][] x, Exact exact) {
        int n = x[0].length;
        Shape shape = Shape.of(1, 1, n, 1);
        try (LightningAttention la = LightningAttention.open("cpu", BackendOptions.defaults().withThreads(threads));
             Tensor q = la.tensor(x[0], DType.FP16, shape); Tensor k = la.tensor(x[1], DType.FP16, shape);
             Tensor v = la.tensor(x[2], DType.FP16, shape); Tensor dO = la.tensor(x[3], DType.FP16, shape);
             Tensor decay = la.tensor(new double[] {0}, DType.FP32, Shape.of(1))) {
            AttentionInputs in = AttentionInputs.of(q, k, v, decay);
            AttentionOptions opts = AttentionOptions.defaults().withScale(1);
            try (ForwardResult r = la.forward(in, opts)) {
                assertThat(values(r.output())).as("o, %d threads", threads).containsExactly(fp16(exact.o()));
            }
            for (boolean kept : new boolean[] {false, true}) {
                SavedForward saved = null;
                if (kept) {
                    try (Tensor out = la.allocate(DType.FP16, shape)) {
                        saved = la.forward(in, opts.withSaveForBackward(true), out, null);
                    }
                }
                try (SavedForward closeAfter = saved; Gradients g = la.backward(in, dO, null, opts, saved)) {
                    String what = threads + " threads, states kept " + kept;
                    assertThat(values(g.dq())).as("dq, " + what).containsExactly(fp16(exact.dq()));
                    assertThat(values(g.dk())).as("dk, " + what).containsExactly(fp16(exact.dk()));
                    assertThat(values(g.dv())).as("dv, " + what).containsExactly(fp16(exact.dv()));
                }
            }
        }
    }

    /** Random FP16 and BF16 problems, two heads on four threads (two segments each), against the reference. */
    @Test
    void cutSixteenBitSequencesMatchTheReference() {
        int b = 1, h = 2, n = 300, d = 24, e = 20;
        double tolerance = 5e-3;
        for (DType dtype : new DType[] {DType.FP16, DType.BF16}) {
            for (Layout layout : Layout.values()) {
                AttentionShape s = Fixture.shape(b, h, n, d, e, layout, dtype);
                assertThat(SegmentPlan.of(b * h, n, 64, 0, 4).segments()).isEqualTo(2);
                SplittableRandom rng = Fixture.random("cut 16-bit " + dtype + layout);
                Problem problem = new Problem(b, h, n, d, e);
                double[] decayRates = {0.0625, 0.003};
                try (LightningAttention la = Fixture.open(4, Map.of());
                     Tensor q = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * d, 1 / Math.sqrt(d), dtype), s, d);
                     Tensor k = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * d, 1 / Math.sqrt(d), dtype), s, d);
                     Tensor v = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * e, 1, dtype), s, e);
                     Tensor dO = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * e, 1, dtype), s, e);
                     Tensor decay = la.tensor(decayRates, DType.FP32, Shape.of(h));
                     Tensor s0 = Fixture.state(la, Fixture.gaussian(rng, b * h * d * e, 1, DType.FP32), s)) {
                    // The reference sees the inputs as the tensors store them.
                    double[] qx = Fixture.canonical(q, s, d), kx = Fixture.canonical(k, s, d);
                    double[] vx = Fixture.canonical(v, s, e), dOx = Fixture.canonical(dO, s, e);
                    double[] s0x = s0.toDoubleArray();
                    AttentionInputs in = new AttentionInputs(q, k, v, decay, s0);
                    AttentionOptions opts = AttentionOptions.defaults().withLayout(layout).withScale(0.5);
                    String what = dtype + " " + layout + ", " + Fixture.seed();
                    try (ForwardResult r = la.forward(in, opts)) {
                        ReferenceMath.Forward ref = ReferenceMath.forwardClosed(problem, qx, kx, vx, decayRates, s0x, 0.5);
                        assertThat(ErrorNorms.relative(Fixture.canonical(r.output(), s, e), ref.output()))
                                .as("output, " + what).isLessThanOrEqualTo(tolerance);
                    }
                    ReferenceMath.Backward ref = ReferenceMath.backward(problem, qx, kx, vx, decayRates, s0x, dOx, null, 0.5);
                    try (Gradients g = la.backward(in, dO, null, opts)) {
                        assertThat(ErrorNorms.relative(Fixture.canonical(g.dq(), s, d), ref.dq())).as("dq, " + what)
                                .isLessThanOrEqualTo(tolerance);
                        assertThat(ErrorNorms.relative(Fixture.canonical(g.dk(), s, d), ref.dk())).as("dk, " + what)
                                .isLessThanOrEqualTo(tolerance);
                        assertThat(ErrorNorms.relative(Fixture.canonical(g.dv(), s, e), ref.dv())).as("dv, " + what)
                                .isLessThanOrEqualTo(tolerance);
                    }
                }
            }
        }
    }

    /** q, k, v and dO of one sequence of {@code n} tokens as the maps say, elsewhere q = k = 1 and v = dO = 0. */
    private static double[][] tokens(int n, Map<Integer, Double> q, Map<Integer, Double> k, Map<Integer, Double> v,
                                     Map<Integer, Double> dO) {
        double[][] x = new double[4][n];
        Arrays.fill(x[0], 1);
        Arrays.fill(x[1], 1);
        q.forEach((t, a) -> x[0][t] = a);
        k.forEach((t, a) -> x[1][t] = a);
        v.forEach((t, a) -> x[2][t] = a);
        dO.forEach((t, a) -> x[3][t] = a);
        return x;
    }

    /** A tensor's values, zeros unsigned (the exact results' signs of zero are not the point). */
    private static double[] values(Tensor t) {
        double[] r = t.toDoubleArray();
        for (int i = 0; i < r.length; i++) {
            r[i] += 0.0;
        }
        return r;
    }

    /** The exact results rounded to FP16, zeros unsigned. */
    private static double[] fp16(double[] exact) {
        double[] r = new double[exact.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = Float.float16ToFloat(Float.floatToFloat16((float) exact[i])) + 0.0;
        }
        return r;
    }

    /**
     * The exact results for D = E = 1, no decay, scale 1: o_t = q_t P_t and dq_t = dO_t P_t with
     * P_t = sum_{j<=t} k_j v_j; dk_j = v_j R_j and dv_j = k_j R_j with R_j = sum_{t>=j} q_t dO_t.
     */
    private record Exact(double[] q, double[] k, double[] v, double[] dO) {
        static Exact of(double[] q, double[] k, double[] v, double[] dO) {
            return new Exact(q, k, v, dO);
        }

        double[] o() {
            return prefix(q, 0, q.length);
        }

        double[] dq() {
            return prefix(dO, 0, q.length);
        }

        double[] dk() {
            return suffix(v, 0, q.length);
        }

        double[] dv() {
            return suffix(k, 0, q.length);
        }

        /** The largest magnitude of a row as a segment of {@code plan} computes it from a zero state. */
        double largestPartial(SegmentPlan plan) {
            double max = 0;
            for (int p = 0; p < plan.segments(); p++) {
                for (double[] rows : new double[][] {prefix(q, plan.start(p), plan.end(p)),
                        prefix(dO, plan.start(p), plan.end(p)), suffix(v, plan.start(p), plan.end(p)),
                        suffix(k, plan.start(p), plan.end(p))}) {
                    for (int t = plan.start(p); t < plan.end(p); t++) {
                        max = Math.max(max, Math.abs(rows[t]));
                    }
                }
            }
            return max;
        }

        /** w_t sum_{from<=j<=t} k_j v_j for t in [from, to). */
        private double[] prefix(double[] w, int from, int to) {
            double[] r = new double[q.length];
            double sum = 0;
            for (int t = from; t < to; t++) {
                sum += k[t] * v[t];
                r[t] = w[t] * sum;
            }
            return r;
        }

        /** w_j sum_{j<=t<to} q_t dO_t for j in [from, to). */
        private double[] suffix(double[] w, int from, int to) {
            double[] r = new double[q.length];
            double sum = 0;
            for (int j = to - 1; j >= from; j--) {
                sum += q[j] * dO[j];
                r[j] = w[j] * sum;
            }
            return r;
        }
    }
}
