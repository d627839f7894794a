package dev.la2.reference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.Backends;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.spi.AttentionShape;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The oracle as a backend, reached the way users reach it: through the facade, by name. */
class ReferenceProviderTest {

    @Test
    void isDiscoveredAsTheLowestPriorityAlwaysAvailableBackend() {
        assertThat(Backends.discover()).anySatisfy(info -> {
            assertThat(info.name()).isEqualTo("reference");
            assertThat(info.priority()).isEqualTo(-1000);
            assertThat(info.availability().isAvailable()).isTrue();
            assertThat(info.dtypes()).containsExactlyInAnyOrder(DType.values());
        });
        try (LightningAttention la = LightningAttention.open("reference")) {
            assertThat(la.backendName()).isEqualTo("reference");
            assertThat(la.dtypes()).containsExactlyInAnyOrder(DType.values());
            assertThat(la.precisions()).containsExactly(Precision.STRICT);
        }
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void forwardBackwardAndDecodeThroughTheFacadeMatchTheMath(Layout layout) {
        SplittableRandom rng = Seed.random("facade" + layout);
        int b = 2, h = 3, n = 37, d = 5, e = 4;
        Problem p = new Problem(b, h, n, d, e);
        AttentionShape s = new AttentionShape(b, h, n, d, e, layout, DType.FP64);
        double[] q = Seed.gaussian(rng, p.keys(), 1 / Math.sqrt(d));
        double[] k = Seed.gaussian(rng, p.keys(), 1 / Math.sqrt(d));
        double[] v = Seed.gaussian(rng, p.values(), 1);
        double[] decay = {0.0, 3 + rng.nextDouble(), rng.nextDouble()};
        double[] s0 = Seed.gaussian(rng, p.states(), 1);
        double[] dOut = Seed.gaussian(rng, p.values(), 1);
        double[] dFinal = Seed.gaussian(rng, p.states(), 1);
        double scale = 0.5 + rng.nextDouble();
        AttentionOptions options = AttentionOptions.defaults().withLayout(layout).withScale(scale).withLearnableDecay(true);
        String context = layout + ", " + Seed.describe();

        try (LightningAttention la = LightningAttention.open("reference");
             Tensor tq = la.tensor(Canonical.fromCanonical(q, s, d), DType.FP64, layout.shape(b, h, n, d));
             Tensor tk = la.tensor(Canonical.fromCanonical(k, s, d), DType.FP64, layout.shape(b, h, n, d));
             Tensor tv = la.tensor(Canonical.fromCanonical(v, s, e), DType.FP64, layout.shape(b, h, n, e));
             Tensor td = la.tensor(decay, DType.FP64, Shape.of(h));
             Tensor ts0 = la.tensor(s0, DType.FP64, Shape.of(b, h, d, e));
             Tensor tdo = la.tensor(Canonical.fromCanonical(dOut, s, e), DType.FP64, layout.shape(b, h, n, e));
             Tensor tdf = la.tensor(dFinal, DType.FP64, Shape.of(b, h, d, e))) {
            AttentionInputs inputs = new AttentionInputs(tq, tk, tv, td, ts0);

            ReferenceMath.Forward expected = ReferenceMath.forwardClosed(p, q, k, v, decay, s0, scale);
            try (ForwardResult r = la.forward(inputs, options)) {
                assertThat(r.output().shape()).isEqualTo(layout.shape(b, h, n, e));
                assertThat(Seed.relativeError(Canonical.gather(r.output(), s, e), expected.output()))
                        .as("output " + context).isLessThanOrEqualTo(1e-12);
                assertThat(Seed.relativeError(r.finalState().toDoubleArray(), expected.finalState()))
                        .as("final state " + context).isLessThanOrEqualTo(1e-12);
            }

            ReferenceMath.Backward g = ReferenceMath.backward(p, q, k, v, decay, s0, dOut, dFinal, scale);
            try (Gradients got = la.backward(inputs, tdo, tdf, options)) {
                assertThat(Seed.relativeError(Canonical.gather(got.dq(), s, d), g.dq())).as("dq " + context).isLessThanOrEqualTo(1e-13);
                assertThat(Seed.relativeError(Canonical.gather(got.dk(), s, d), g.dk())).as("dk " + context).isLessThanOrEqualTo(1e-13);
                assertThat(Seed.relativeError(Canonical.gather(got.dv(), s, e), g.dv())).as("dv " + context).isLessThanOrEqualTo(1e-13);
                assertThat(Seed.relativeError(got.dInitialState().toDoubleArray(), g.dInitialState()))
                        .as("dInitialState " + context).isLessThanOrEqualTo(1e-13);
                assertThat(Seed.relativeError(got.dDecay().toDoubleArray(), g.dDecay())).as("dDecay " + context)
                        .isLessThanOrEqualTo(1e-13);
            }

            // Decode the first token from S0: o = c q_0 (lambda S0 + k_0^T v_0), the state advanced in place.
            double[] q0 = new double[b * h * d], k0 = new double[b * h * d], v0 = new double[b * h * e];
            for (int seq = 0; seq < b * h; seq++) {
                System.arraycopy(q, seq * n * d, q0, seq * d, d);
                System.arraycopy(k, seq * n * d, k0, seq * d, d);
                System.arraycopy(v, seq * n * e, v0, seq * e, e);
            }
            Problem one = new Problem(b, h, 1, d, e);
            ReferenceMath.Forward step = ReferenceMath.forwardClosed(one, q0, k0, v0, decay, s0, scale);
            try (Tensor dq0 = la.tensor(q0, DType.FP64, Shape.of(b, h, d));
                 Tensor dk0 = la.tensor(k0, DType.FP64, Shape.of(b, h, d));
                 Tensor dv0 = la.tensor(v0, DType.FP64, Shape.of(b, h, e));
                 Tensor state = la.tensor(s0, DType.FP64, Shape.of(b, h, d, e));
                 Tensor out = la.decode(dq0, dk0, dv0, td, state, scale)) {
                assertThat(Seed.relativeError(out.toDoubleArray(), step.output())).as("decode output " + context)
                        .isLessThanOrEqualTo(1e-13);
                assertThat(Seed.relativeError(state.toDoubleArray(), step.finalState())).as("decode state " + context)
                        .isLessThanOrEqualTo(1e-13);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void narrowStorageIsComputedInFloat64FromTheStoredValues(DType dtype) {
        SplittableRandom rng = Seed.random("narrow" + dtype);
        int b = 1, h = 2, n = 20, d = 3, e = 6;
        Problem p = new Problem(b, h, n, d, e);
        AttentionShape s = new AttentionShape(b, h, n, d, e, Layout.BNHD, dtype);
        AttentionOptions options = AttentionOptions.defaults().withLayout(Layout.BNHD);
        try (LightningAttention la = LightningAttention.open("reference");
             Tensor tq = la.tensor(Seed.gaussian(rng, p.keys(), 0.5), dtype, Layout.BNHD.shape(b, h, n, d));
             Tensor tk = la.tensor(Seed.gaussian(rng, p.keys(), 0.5), dtype, Layout.BNHD.shape(b, h, n, d));
             Tensor tv = la.tensor(Seed.gaussian(rng, p.values(), 1), dtype, Layout.BNHD.shape(b, h, n, e));
             Tensor td = la.tensor(new double[] {0.1, 0.0}, DType.FP32, Shape.of(h));
             ForwardResult r = la.forward(AttentionInputs.of(tq, tk, tv, td), options)) {
            // Inputs as held in narrow storage, so only the output's own rounding remains.
            double[] expected = ReferenceMath.forwardRecurrent(p, Canonical.gather(tq, s, d), Canonical.gather(tk, s, d),
                    Canonical.gather(tv, s, e), td.toDoubleArray(), null, 1.0).output();
            // Twice the unit roundoff of the storage: only the output's own rounding may remain.
            double unit = dtype == DType.FP32 ? 0x1p-23 : dtype == DType.BF16 ? 0x1p-8 : 0x1p-10;
            assertThat(r.output().dtype()).isEqualTo(dtype);
            assertThat(r.finalState().dtype()).isEqualTo(DType.FP32);
            assertThat(Seed.relativeError(Canonical.gather(r.output(), s, e), expected)).as(dtype + ", " + Seed.describe())
                    .isLessThanOrEqualTo(unit);
        }
    }
}
