package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
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
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Decays so fast that lambda = exp(-s) itself is below the threshold under which the tiled path
 * flushes decay weights (DecayPowers.weight), while lambda is still a normal number of the state
 * type: dS0 = lambda G_0 and the decay gradient (SPEC.md section 2) are proportional to lambda, so
 * they must come out with SPEC.md section 3's relative error, not as zero; the forward's final state
 * and the other gradients must be unaffected. One block, several blocks, and sequences cut into
 * segments; with and without kept states. Past that, where an fp32 result's every element lies below
 * fp32's smallest normal magnitude, SPEC.md section 3 holds it to an absolute bound instead.
 */
class FastDecayTest {

    static Stream<Arguments> rates() {
        return Stream.of(Arguments.of(DType.FP32, 66.0), Arguments.of(DType.FP32, 75.0), Arguments.of(DType.FP32, 85.0),
                Arguments.of(DType.FP64, 650.0), Arguments.of(DType.FP64, 700.0));
    }

    @ParameterizedTest(name = "{0} s = {1}")
    @MethodSource("rates")
    void lambdaProportionalResultsKeepTheirRelativeError(DType dtype, double rate) {
        int b = 1, h = 1, n = 52, d = 4, e = 4;
        double scale = 0.8;
        AttentionShape s = Fixture.shape(b, h, n, d, e, Layout.BHND, dtype);
        SplittableRandom rng = Fixture.random("fast decay " + dtype + rate);
        double[] q = Fixture.gaussian(rng, n * d, 0.5, dtype), k = Fixture.gaussian(rng, n * d, 0.5, dtype);
        double[] v = Fixture.gaussian(rng, n * e, 1, dtype), dO = Fixture.gaussian(rng, n * e, 1, dtype);
        double[] s0 = Fixture.gaussian(rng, d * e, 1, dtype), dsf = Fixture.gaussian(rng, d * e, 1, dtype);
        double[] rates = {rate};
        Problem p = new Problem(b, h, n, d, e);
        ReferenceMath.Forward ref = ReferenceMath.forwardRecurrent(p, q, k, v, rates, s0, scale);
        ReferenceMath.Backward grad = ReferenceMath.backward(p, q, k, v, rates, s0, dO, dsf, scale);
        double tol = Fixture.tolerance(dtype);
        SoftAssertions soft = new SoftAssertions();
        // One block; several blocks in one segment; two and four segments.
        for (Map<String, String> props : List.of(Map.<String, String>of(),
                Map.of("cpu.blockSize", "16", "cpu.segmentTokens", "64"), Map.of("cpu.blockSize", "16"),
                Map.of("cpu.blockSize", "16", "cpu.segmentTokens", "16"))) {
            try (LightningAttention la = Fixture.open(2, props);
                 Tensor tq = Fixture.sequence(la, q, s, d); Tensor tk = Fixture.sequence(la, k, s, d);
                 Tensor tv = Fixture.sequence(la, v, s, e); Tensor tdO = Fixture.sequence(la, dO, s, e);
                 Tensor decay = la.tensor(rates, dtype.stateType(), Shape.of(h)); Tensor state = Fixture.state(la, s0, s);
                 Tensor tdsf = Fixture.state(la, dsf, s);
                 Tensor out = la.allocate(dtype, Shape.of(b, h, n, e));
                 Tensor fin = la.allocate(dtype.stateType(), Shape.of(b, h, d, e))) {
                AttentionInputs in = new AttentionInputs(tq, tk, tv, decay, state);
                for (boolean kept : new boolean[] {false, true}) {
                    AttentionOptions opts = AttentionOptions.defaults().withScale(scale).withLearnableDecay(true)
                            .withSaveForBackward(kept);
                    String what = dtype + " s " + rate + " " + props + (kept ? " kept, " : ", ") + Fixture.seed();
                    try (SavedForward saved = la.forward(in, opts, out, fin);
                         Gradients g = la.backward(in, tdO, tdsf, opts, saved)) {
                        soft.assertThat(ErrorNorms.relative(out.toDoubleArray(), ref.output())).as("output, " + what)
                                .isLessThanOrEqualTo(tol);
                        soft.assertThat(ErrorNorms.relative(fin.toDoubleArray(), ref.finalState()))
                                .as("final state, " + what).isLessThanOrEqualTo(tol);
                        soft.assertThat(ErrorNorms.relative(g.dq().toDoubleArray(), grad.dq())).as("dq, " + what)
                                .isLessThanOrEqualTo(tol);
                        soft.assertThat(ErrorNorms.relative(g.dk().toDoubleArray(), grad.dk())).as("dk, " + what)
                                .isLessThanOrEqualTo(tol);
                        soft.assertThat(ErrorNorms.relative(g.dv().toDoubleArray(), grad.dv())).as("dv, " + what)
                                .isLessThanOrEqualTo(tol);
                        soft.assertThat(ErrorNorms.relative(g.dInitialState().toDoubleArray(), grad.dInitialState()))
                                .as("dS0, " + what).isLessThanOrEqualTo(tol);
                        soft.assertThat(ErrorNorms.conditioned(g.dDecay().toDoubleArray(), grad.dDecay(), grad.dDecayScale()))
                                .as("dDecay, " + what).isLessThanOrEqualTo(tol);
                    }
                }
            }
        }
        soft.assertAll();
    }

    static Stream<Arguments> belowFp32Range() {
        // lambda itself subnormal in fp32 (dS0 and dDecay ~ lambda), and lambda^N dS_final with c = 0
        return Stream.of(Arguments.of(DType.FP32, 100.0, 0.8, 52), Arguments.of(DType.FP16, 95.0, 0.8, 52),
                Arguments.of(DType.BF16, 120.0, 0.8, 52), Arguments.of(DType.FP32, 1.0, 0.0, 128),
                Arguments.of(DType.FP16, 1.0, 0.0, 130));
    }

    @ParameterizedTest(name = "{0} s = {1} c = {2} N = {3}")
    @MethodSource("belowFp32Range")
    void resultsBelowFp32RangeMeetTheAbsoluteBound(DType dtype, double rate, double scale, int n) {
        int b = 1, h = 1, d = 4, e = 4;
        AttentionShape s = Fixture.shape(b, h, n, d, e, Layout.BHND, dtype);
        SplittableRandom rng = Fixture.random("below fp32 " + dtype + rate + scale);
        double[] rates = {rate};
        double tol = dtype == DType.FP32 ? 1e-5 : 2e-2;
        SoftAssertions soft = new SoftAssertions();
        for (Map<String, String> props : List.of(Map.<String, String>of(),
                Map.of("cpu.blockSize", "16", "cpu.segmentTokens", "16"))) {
            try (LightningAttention la = Fixture.open(2, props);
                 Tensor tq = Fixture.sequence(la, Fixture.gaussian(rng, n * d, 0.5, dtype), s, d);
                 Tensor tk = Fixture.sequence(la, Fixture.gaussian(rng, n * d, 0.5, dtype), s, d);
                 Tensor tv = Fixture.sequence(la, Fixture.gaussian(rng, n * e, 1, dtype), s, e);
                 Tensor tdO = Fixture.sequence(la, Fixture.gaussian(rng, n * e, 1, dtype), s, e);
                 Tensor decay = la.tensor(rates, dtype.stateType(), Shape.of(h));
                 Tensor state = Fixture.state(la, Fixture.gaussian(rng, d * e, 1, dtype), s);
                 Tensor tdsf = Fixture.state(la, Fixture.gaussian(rng, d * e, 1, dtype), s);
                 Tensor out = la.allocate(dtype, Shape.of(b, h, n, e));
                 Tensor fin = la.allocate(dtype.stateType(), Shape.of(b, h, d, e))) {
                // the reference on the values the tensors hold
                double[] q = tq.toDoubleArray(), k = tk.toDoubleArray(), v = tv.toDoubleArray();
                double[] dO = tdO.toDoubleArray(), s0 = state.toDoubleArray(), dsf = tdsf.toDoubleArray();
                Problem p = new Problem(b, h, n, d, e);
                ReferenceMath.Forward ref = ReferenceMath.forwardRecurrent(p, q, k, v, rates, s0, scale);
                ReferenceMath.Backward grad = ReferenceMath.backward(p, q, k, v, rates, s0, dO, dsf, scale);
                // the case is what it claims: dS0's reference lies wholly below fp32's normal range
                assertThat(largest(grad.dInitialState()))
                        .isLessThan(Float.MIN_NORMAL);
                AttentionInputs in = new AttentionInputs(tq, tk, tv, decay, state);
                AttentionOptions opts = AttentionOptions.defaults().withScale(scale).withLearnableDecay(true);
                String what = dtype + " s " + rate + " c " + scale + " " + props + ", " + Fixture.seed();
                la.forward(in, opts, out, fin);
                try (Gradients g = la.backward(in, tdO, tdsf, opts)) {
                    check(soft, "output, " + what, out.toDoubleArray(), ref.output(), null, tol);
                    check(soft, "final state, " + what, fin.toDoubleArray(), ref.finalState(), null, tol);
                    check(soft, "dq, " + what, g.dq().toDoubleArray(), grad.dq(), null, tol);
                    check(soft, "dk, " + what, g.dk().toDoubleArray(), grad.dk(), null, tol);
                    check(soft, "dv, " + what, g.dv().toDoubleArray(), grad.dv(), null, tol);
                    check(soft, "dS0, " + what, g.dInitialState().toDoubleArray(), grad.dInitialState(), null, tol);
                    check(soft, "dDecay, " + what, g.dDecay().toDoubleArray(), grad.dDecay(), grad.dDecayScale(), tol);
                }
            }
        }
        soft.assertAll();
    }

    /** SPEC.md section 3: the absolute bound where every reference element is below fp32's normal range, else the relative one. */
    private static void check(SoftAssertions soft, String what, double[] got, double[] ref, double[] terms, double tol) {
        if (largest(ref) < Float.MIN_NORMAL) {
            soft.assertThat(largestDifference(got, ref)).as(what + " (absolute)").isLessThanOrEqualTo(Float.MIN_NORMAL);
        } else {
            soft.assertThat(ErrorNorms.conditioned(got, ref, terms)).as(what).isLessThanOrEqualTo(tol);
        }
    }

    /** The largest |a|. */
    private static double largest(double[] a) {
        double m = 0;
        for (double x : a) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    /** The largest |a - b|; NaN where a holds a non-finite value. */
    private static double largestDifference(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            if (!Double.isFinite(a[i])) {
                return Double.NaN;
            }
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
