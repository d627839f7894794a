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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Any finite scale c (SPEC.md section 1), however small: the decay weights c lambda^m are flushed to
 * zero where lambda^m is negligible, never because c is small, which would zero every output and dq.
 */
class ScaleRangeTest {

    @ParameterizedTest(name = "scale {0}")
    @ValueSource(doubles = {1e-30, -3e-29, 1e-36})
    void aTinyScaleScalesTheResultsInsteadOfZeroingThem(double scale) {
        int b = 1, h = 2, n = 100, d = 8, e = 8;
        AttentionShape s = Fixture.shape(b, h, n, d, e, Layout.BHND, DType.FP32);
        SplittableRandom rng = Fixture.random("tiny scale " + scale);
        double[] q = Fixture.gaussian(rng, b * h * n * d, 0.35, DType.FP32), k = Fixture.gaussian(rng, b * h * n * d, 0.35, DType.FP32);
        double[] v = Fixture.gaussian(rng, b * h * n * e, 1, DType.FP32), dO = Fixture.gaussian(rng, b * h * n * e, 1, DType.FP32);
        double[] s0 = Fixture.gaussian(rng, b * h * d * e, 1, DType.FP32), rates = {0.0, 0.25};
        Problem p = new Problem(b, h, n, d, e);
        ReferenceMath.Forward ref = ReferenceMath.forwardRecurrent(p, q, k, v, rates, s0, scale);
        ReferenceMath.Backward grad = ReferenceMath.backward(p, q, k, v, rates, s0, dO, null, scale);
        // One segment per sequence, and forced segments, whose corrections weight by c lambda^m too.
        for (Map<String, String> props : List.of(Map.<String, String>of(), Map.of("cpu.blockSize", "16", "cpu.segmentTokens", "32"))) {
            try (LightningAttention la = Fixture.open(2, props);
                 Tensor tq = Fixture.sequence(la, q, s, d); Tensor tk = Fixture.sequence(la, k, s, d);
                 Tensor tv = Fixture.sequence(la, v, s, e); Tensor tdO = Fixture.sequence(la, dO, s, e);
                 Tensor decay = la.tensor(rates, DType.FP32, Shape.of(h)); Tensor state = Fixture.state(la, s0, s);
                 Tensor out = la.allocate(DType.FP32, Shape.of(b, h, n, e))) {
                AttentionInputs in = new AttentionInputs(tq, tk, tv, decay, state);
                for (boolean kept : new boolean[] {false, true}) {
                    AttentionOptions opts = AttentionOptions.defaults().withScale(scale).withSaveForBackward(kept);
                    String what = props + (kept ? " kept, " : ", ") + Fixture.seed();
                    try (SavedForward saved = la.forward(in, opts, out, null);
                         Gradients g = la.backward(in, tdO, null, opts, saved)) {
                        assertThat(ErrorNorms.relative(out.toDoubleArray(), ref.output())).as("output, " + what)
                                .isLessThanOrEqualTo(1e-5);
                        assertThat(ErrorNorms.relative(g.dq().toDoubleArray(), grad.dq())).as("dq, " + what)
                                .isLessThanOrEqualTo(1e-5);
                        assertThat(ErrorNorms.relative(g.dk().toDoubleArray(), grad.dk())).as("dk, " + what)
                                .isLessThanOrEqualTo(1e-5);
                    }
                }
            }
        }
    }
}
