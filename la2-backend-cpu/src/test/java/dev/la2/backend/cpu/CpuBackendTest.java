package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ErrorNorms;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import dev.la2.spi.AttentionShape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Forward, backward and decode against the float64 reference over shapes, layouts, dtypes and thread plans. */
class CpuBackendTest {

    /** name, B, H, N, D, E, threads, properties. */
    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        Map<String, String> none = Map.of();
        Map<String, String> small = Map.of("cpu.blockSize", "8");
        Map<String, String> segmented = Map.of("cpu.blockSize", "8", "cpu.segmentTokens", "16");
        // One token with six sequences: a single sequence's dq, dk and o are each one dot product of
        // four terms times a row, and a draw whose dot nearly cancels puts fp32's own rounding above
        // 1e-5 of the result (seen: 1.7e-5 for dq at B = H = 1, every backend alike); the relative
        // Frobenius error over six independent sequences is not at the mercy of one such draw.
        Object[][] shapes = {
                {"one token", 2, 3, 1, 4, 4, 1, none},
                {"N = C + 1", 1, 2, 65, 16, 16, 2, none},
                {"D != E, odd", 2, 3, 37, 7, 5, 2, small},
                {"D = 1", 1, 3, 20, 1, 9, 1, small},
                {"E = 1", 1, 2, 19, 3, 1, 2, small},
                {"prime H, segments", 1, 5, 41, 6, 11, 2, segmented},
                {"B*H = 1 split over threads", 1, 1, 150, 33, 17, 2, Map.of("cpu.blockSize", "16")},
                {"B*H = 1 forced segments", 1, 1, 100, 9, 12, 2, segmented},
                {"single thread, forced segments", 2, 1, 57, 5, 8, 1, segmented},
                {"vector widths", 1, 2, 130, 64, 48, 2, none},
                {"wide D and E, inner slices", 1, 2, 70, 100, 130, 2, none},
                {"scalar kernels", 1, 2, 45, 13, 10, 2, Map.of("cpu.vectorBits", "0", "cpu.blockSize", "8", "cpu.segmentTokens", "16")},
        };
        for (Object[] s : shapes) {
            for (Layout layout : Layout.values()) {
                for (DType dtype : new DType[] {DType.FP32, DType.FP64}) {
                    list.add(Arguments.of(s[0], layout, dtype, s[1], s[2], s[3], s[4], s[5], s[6], s[7]));
                }
            }
        }
        return list.stream();
    }

    private record Data(AttentionShape shape, double[] q, double[] k, double[] v, double[] decay,
                        double[] s0, double[] dOut, double[] dFinal) {
        static Data random(SplittableRandom rng, AttentionShape s) {
            DType t = s.dtype();
            int keys = s.batch() * s.heads() * s.tokens() * s.keyDim();
            int values = s.batch() * s.heads() * s.tokens() * s.valueDim();
            int states = s.batch() * s.heads() * s.keyDim() * s.valueDim();
            return new Data(s,
                    Fixture.gaussian(rng, keys, 1 / Math.sqrt(s.keyDim()), t),
                    Fixture.gaussian(rng, keys, 1 / Math.sqrt(s.keyDim()), t),
                    Fixture.gaussian(rng, values, 1, t),
                    Fixture.decay(rng, s.heads(), t),
                    Fixture.gaussian(rng, states, 1, t),
                    Fixture.gaussian(rng, values, 1, t),
                    Fixture.gaussian(rng, states, 1, t));
        }

        Problem problem() {
            return new Problem(shape.batch(), shape.heads(), shape.tokens(), shape.keyDim(), shape.valueDim());
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void forwardMatchesReference(String name, Layout layout, DType dtype, int b, int h, int n, int d, int e,
                                 int threads, Map<String, String> props) {
        AttentionShape s = Fixture.shape(b, h, n, d, e, layout, dtype);
        Data x = Data.random(Fixture.random("forward " + name + layout + dtype), s);
        AttentionOptions opts = AttentionOptions.defaults().withLayout(layout).withScale(0.75);
        try (LightningAttention la = Fixture.open(threads, props);
             Tensor q = Fixture.sequence(la, x.q, s, d); Tensor k = Fixture.sequence(la, x.k, s, d);
             Tensor v = Fixture.sequence(la, x.v, s, e);
             Tensor decay = la.tensor(x.decay, dtype.stateType(), Shape.of(h));
             Tensor s0 = Fixture.state(la, x.s0, s);
             Tensor out = la.allocate(dtype, layout.shape(b, h, n, e));
             Tensor fin = la.allocate(dtype.stateType(), Shape.of(b, h, d, e))) {
            for (boolean withState : new boolean[] {false, true}) {
                out.fill(Double.NaN);
                fin.fill(Double.NaN);
                AttentionInputs in = new AttentionInputs(q, k, v, decay, withState ? s0 : null);
                la.forward(in, opts, out, fin);
                ReferenceMath.Forward ref = ReferenceMath.forwardClosed(x.problem(), x.q, x.k, x.v, x.decay,
                        withState ? x.s0 : null, 0.75);
                assertThat(ErrorNorms.relative(Fixture.canonical(out, s, e), ref.output()))
                        .as("output, initial state %s, %s", withState, Fixture.seed())
                        .isLessThanOrEqualTo(Fixture.tolerance(dtype));
                assertThat(ErrorNorms.relative(fin.toDoubleArray(), ref.finalState()))
                        .as("final state, initial state %s, %s", withState, Fixture.seed())
                        .isLessThanOrEqualTo(Fixture.tolerance(dtype));
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void backwardMatchesReference(String name, Layout layout, DType dtype, int b, int h, int n, int d, int e,
                                  int threads, Map<String, String> props) {
        AttentionShape s = Fixture.shape(b, h, n, d, e, layout, dtype);
        Data x = Data.random(Fixture.random("backward " + name + layout + dtype), s);
        try (LightningAttention la = Fixture.open(threads, props);
             Tensor q = Fixture.sequence(la, x.q, s, d); Tensor k = Fixture.sequence(la, x.k, s, d);
             Tensor v = Fixture.sequence(la, x.v, s, e);
             Tensor decay = la.tensor(x.decay, dtype.stateType(), Shape.of(h));
             Tensor s0 = Fixture.state(la, x.s0, s);
             Tensor dOut = Fixture.sequence(la, x.dOut, s, e);
             Tensor dFin = Fixture.state(la, x.dFinal, s)) {
            for (int variant = 0; variant < 16; variant++) {
                boolean withState = (variant & 1) != 0, withFinal = (variant & 2) != 0;
                boolean learnable = (variant & 4) != 0, kept = (variant & 8) != 0;
                AttentionOptions opts = AttentionOptions.defaults().withLayout(layout).withScale(1.25)
                        .withLearnableDecay(learnable);
                AttentionInputs in = new AttentionInputs(q, k, v, decay, withState ? s0 : null);
                SavedForward saved = null;
                if (kept) {
                    try (Tensor out = la.allocate(dtype, layout.shape(b, h, n, e))) {
                        saved = la.forward(in, opts.withSaveForBackward(true), out, null);
                    }
                    // The tiled paths keep block states; the fp64 recurrence keeps nothing.
                    assertThat(saved.holdsStates()).as("states kept, " + dtype).isEqualTo(dtype != DType.FP64);
                }
                try (SavedForward closeAfter = saved; Gradients g = new Gradients(la.allocate(dtype, q.shape()), la.allocate(dtype, k.shape()),
                        la.allocate(dtype, v.shape()), la.allocate(dtype.stateType(), Shape.of(b, h, d, e)),
                        learnable ? la.allocate(dtype.stateType(), Shape.of(h)) : null)) {
                    g.dq().fill(Double.NaN);
                    g.dk().fill(Double.NaN);
                    g.dv().fill(Double.NaN);
                    g.dInitialState().fill(Double.NaN);
                    if (learnable) {
                        g.dDecay().fill(Double.NaN);
                    }
                    la.backward(in, dOut, withFinal ? dFin : null, opts, saved, g);
                    ReferenceMath.Backward ref = ReferenceMath.backward(x.problem(), x.q, x.k, x.v, x.decay,
                            withState ? x.s0 : null, x.dOut, withFinal ? x.dFinal : null, 1.25);
                    String what = "state " + withState + ", dFinal " + withFinal + ", learnable " + learnable
                            + ", kept " + kept + ", " + Fixture.seed();
                    double tol = Fixture.tolerance(dtype);
                    assertThat(ErrorNorms.relative(Fixture.canonical(g.dq(), s, d), ref.dq())).as("dq, " + what).isLessThanOrEqualTo(tol);
                    assertThat(ErrorNorms.relative(Fixture.canonical(g.dk(), s, d), ref.dk())).as("dk, " + what).isLessThanOrEqualTo(tol);
                    assertThat(ErrorNorms.relative(Fixture.canonical(g.dv(), s, e), ref.dv())).as("dv, " + what).isLessThanOrEqualTo(tol);
                    assertThat(ErrorNorms.relative(g.dInitialState().toDoubleArray(), ref.dInitialState()))
                            .as("dInitialState, " + what).isLessThanOrEqualTo(tol);
                    if (learnable) {
                        assertThat(ErrorNorms.conditioned(g.dDecay().toDoubleArray(), ref.dDecay(), ref.dDecayScale()))
                                .as("dDecay, " + what).isLessThanOrEqualTo(tol);
                    }
                }
            }
        }
    }

    /**
     * The decay gradient pairs states with gradients across the whole sequence (at s = 0 with
     * weights up to N), so from kept states its accuracy depends on how they were summed. Over
     * 256 blocks (N = 16384, D = E = 64, four heads, one draw each): states summed in fp32 gave
     * 0.44-3.0e-6 of its terms' size, 1e-6 or more in 9 of 12 draws; summed in double, as a forward
     * told of the decay gradient keeps them, 0.6-2.9e-7. Two draws, each held to 1e-6. The same
     * bound holds where the backward rebuilds the states (the forward kept fp32 sums, or nothing),
     * and where each sequence is cut into four segments.
     */
    @Test
    void decayGradientKeepsItsDigitsOverLongSequences() {
        int b = 1, h = 4, n = 16384, d = 64, e = 64;
        AttentionShape s = Fixture.shape(b, h, n, d, e, Layout.BHND, DType.FP32);
        SplittableRandom rng = Fixture.random("decay gradient over long sequences");
        double[] rates = {0, 0.001, 0, 0.001};
        AttentionOptions learnable = AttentionOptions.defaults().withLearnableDecay(true);
        Map<String, AttentionOptions> forwards = Map.of(
                "kept for the decay gradient", learnable.withSaveForBackward(true),
                "kept without it", AttentionOptions.defaults().withSaveForBackward(true),
                "nothing kept", learnable);
        for (int draw = 0; draw < 2; draw++) {
            double[] q = Fixture.gaussian(rng, b * h * n * d, 1 / Math.sqrt(d), DType.FP32);
            double[] k = Fixture.gaussian(rng, b * h * n * d, 1 / Math.sqrt(d), DType.FP32);
            double[] v = Fixture.gaussian(rng, b * h * n * e, 1, DType.FP32);
            double[] dOut = Fixture.gaussian(rng, b * h * n * e, 1, DType.FP32);
            ReferenceMath.Backward ref = ReferenceMath.backward(new Problem(b, h, n, d, e), q, k, v, rates, null, dOut,
                    null, 1.0);
            for (Map<String, String> plan : List.of(Map.<String, String>of(), Map.of("cpu.segmentTokens", "4096"))) {
                try (LightningAttention la = Fixture.open(2, plan);
                     Tensor tq = Fixture.sequence(la, q, s, d); Tensor tk = Fixture.sequence(la, k, s, d);
                     Tensor tv = Fixture.sequence(la, v, s, e); Tensor tdo = Fixture.sequence(la, dOut, s, e);
                     Tensor decay = la.tensor(rates, DType.FP32, Shape.of(h));
                     Tensor out = la.allocate(DType.FP32, Shape.of(b, h, n, e))) {
                    AttentionInputs in = AttentionInputs.of(tq, tk, tv, decay);
                    String where = "draw " + draw + ", " + (plan.isEmpty() ? "one segment" : "four segments");
                    forwards.forEach((what, forward) -> {
                        try (SavedForward saved = la.forward(in, forward, out, null);
                             Gradients g = la.backward(in, tdo, null, learnable, saved)) {
                            assertThat(ErrorNorms.conditioned(g.dDecay().toDoubleArray(), ref.dDecay(), ref.dDecayScale()))
                                    .as("dDecay, %s, %s, %s", what, where, Fixture.seed()).isLessThanOrEqualTo(1e-6);
                        }
                    });
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void decodeMatchesReference(String name, Layout layout, DType dtype, int b, int h, int n, int d, int e,
                                int threads, Map<String, String> props) {
        if (layout == Layout.BNHD) {
            return; // decode tensors have no layout
        }
        SplittableRandom rng = Fixture.random("decode " + name + dtype);
        double[] q = Fixture.gaussian(rng, b * h * d, 1 / Math.sqrt(d), dtype);
        double[] k = Fixture.gaussian(rng, b * h * d, 1 / Math.sqrt(d), dtype);
        double[] v = Fixture.gaussian(rng, b * h * e, 1, dtype);
        double[] decay = Fixture.decay(rng, h, dtype);
        double[] state = Fixture.gaussian(rng, b * h * d * e, 1, dtype);
        DType st = dtype.stateType();
        try (LightningAttention la = Fixture.open(threads, props);
             Tensor tq = la.tensor(q, dtype, Shape.of(b, h, d)); Tensor tk = la.tensor(k, dtype, Shape.of(b, h, d));
             Tensor tv = la.tensor(v, dtype, Shape.of(b, h, e)); Tensor td = la.tensor(decay, st, Shape.of(h));
             Tensor ts = la.tensor(state, st, Shape.of(b, h, d, e)); Tensor out = la.allocate(dtype, Shape.of(b, h, e))) {
            out.fill(Double.NaN);
            la.decode(tq, tk, tv, td, ts, 0.5, out);
            double[] refState = state.clone();
            double[] ref = ReferenceMath.decode(b, h, d, e, q, k, v, decay, refState, 0.5);
            assertThat(ErrorNorms.relative(out.toDoubleArray(), ref)).as("output, " + Fixture.seed())
                    .isLessThanOrEqualTo(Fixture.tolerance(dtype));
            assertThat(ErrorNorms.relative(ts.toDoubleArray(), refState)).as("state, " + Fixture.seed())
                    .isLessThanOrEqualTo(Fixture.tolerance(dtype));
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void chainingEqualsOneCall(String name, Layout layout, DType dtype, int b, int h, int n, int d, int e,
                               int threads, Map<String, String> props) {
        if (n < 2) {
            return;
        }
        int m = n / 3 + 1;
        AttentionShape whole = Fixture.shape(b, h, n, d, e, layout, dtype);
        Data x = Data.random(Fixture.random("chain " + name + layout + dtype), whole);
        AttentionShape first = Fixture.shape(b, h, m, d, e, layout, dtype);
        AttentionShape second = Fixture.shape(b, h, n - m, d, e, layout, dtype);
        AttentionOptions opts = AttentionOptions.defaults().withLayout(layout);
        try (LightningAttention la = Fixture.open(threads, props);
             Tensor decay = la.tensor(x.decay, dtype.stateType(), Shape.of(h))) {
            double[] full, parts;
            double[] fullState, partState;
            try (Tensor q = Fixture.sequence(la, x.q, whole, d); Tensor k = Fixture.sequence(la, x.k, whole, d);
                 Tensor v = Fixture.sequence(la, x.v, whole, e);
                 ForwardResult r = la.forward(AttentionInputs.of(q, k, v, decay), opts)) {
                full = Fixture.canonical(r.output(), whole, e);
                fullState = r.finalState().toDoubleArray();
            }
            double[] o1, o2;
            try (Tensor q = Fixture.sequence(la, slice(x.q, whole, 0, m, d), first, d);
                 Tensor k = Fixture.sequence(la, slice(x.k, whole, 0, m, d), first, d);
                 Tensor v = Fixture.sequence(la, slice(x.v, whole, 0, m, e), first, e);
                 ForwardResult r1 = la.forward(AttentionInputs.of(q, k, v, decay), opts);
                 Tensor q2 = Fixture.sequence(la, slice(x.q, whole, m, n, d), second, d);
                 Tensor k2 = Fixture.sequence(la, slice(x.k, whole, m, n, d), second, d);
                 Tensor v2 = Fixture.sequence(la, slice(x.v, whole, m, n, e), second, e);
                 ForwardResult r2 = la.forward(AttentionInputs.of(q2, k2, v2, decay).withInitialState(r1.finalState()), opts)) {
                o1 = Fixture.canonical(r1.output(), first, e);
                o2 = Fixture.canonical(r2.output(), second, e);
                partState = r2.finalState().toDoubleArray();
            }
            parts = join(o1, o2, whole, m, e);
            assertThat(ErrorNorms.relative(parts, full)).as("outputs, " + Fixture.seed())
                    .isLessThanOrEqualTo(Fixture.tolerance(dtype));
            assertThat(ErrorNorms.relative(partState, fullState)).as("final state, " + Fixture.seed())
                    .isLessThanOrEqualTo(Fixture.tolerance(dtype));
        }
    }

    /** Tokens [from, to) of canonical [B, H, N, F] data. */
    static double[] slice(double[] data, AttentionShape s, int from, int to, int f) {
        int len = to - from, seqs = s.batch() * s.heads();
        double[] out = new double[seqs * len * f];
        for (int seq = 0; seq < seqs; seq++) {
            System.arraycopy(data, (seq * s.tokens() + from) * f, out, seq * len * f, len * f);
        }
        return out;
    }

    static double[] join(double[] a, double[] b, AttentionShape s, int m, int f) {
        int n = s.tokens(), seqs = s.batch() * s.heads();
        double[] out = new double[seqs * n * f];
        for (int seq = 0; seq < seqs; seq++) {
            System.arraycopy(a, seq * m * f, out, seq * n * f, m * f);
            System.arraycopy(b, seq * (n - m) * f, out, (seq * n + m) * f, (n - m) * f);
        }
        return out;
    }

    /** A bad setting is the caller's error naming it, not a backend that failed to start. */
    @Test
    void badPropertiesAreRefusedByName() {
        for (var bad : List.of(Map.entry("cpu.blockSize", "0"), Map.entry("cpu.segmentTokens", "many"), Map.entry("cpu.vectorBits", "-3"))) {
            assertThatThrownBy(() -> LightningAttention.open("cpu", BackendOptions.defaults().withProperty(bad.getKey(), bad.getValue())))
                    .isInstanceOf(La2ArgumentException.class).hasMessageContaining(bad.getKey() + "=");
        }
    }
}
