package dev.la2.backend.cuda;

import dev.la2.api.Diagnostics;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DeviceMemoryException;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.Canonical;
import dev.la2.reference.ErrorNorms;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.Availability;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The cuda backend against the float64 reference. Skipped, with the probe's reason, where no
 * usable GPU is present. Inputs are fresh random values every run (the seed is printed on
 * failure), outputs are poisoned with NaN before each call.
 */
class CudaGpuTest {
    private static LightningAttention la;
    private static final long SEED = System.nanoTime();

    @BeforeAll
    static void open() {
        if (new CudaProvider().probe().isAvailable()) {
            la = LightningAttention.open("cuda");
        }
    }

    /** Per test, not per class: a class-level assumption is not reported as skipped tests by surefire. */
    @BeforeEach
    void requireGpu() {
        assumeGpu();
    }

    /** Skips the calling test, with the probe's reason, where no usable GPU is present. */
    static void assumeGpu() {
        Availability a = new CudaProvider().probe();
        assumeTrue(a.isAvailable(), "skipped: no usable GPU here: " + a);
    }

    @AfterAll
    static void close() {
        if (la != null) {
            la.close();
        }
    }

    /** A named precision setting: storage type plus how FP32 may be multiplied. */
    enum Mode {
        FP32_STRICT(DType.FP32, Precision.STRICT, 1e-5),
        FP32_TF32X3(DType.FP32, Precision.TF32X3, 1e-5),
        FP32_TF32(DType.FP32, Precision.TF32, 3e-3),
        BF16(DType.BF16, Precision.STRICT, 2e-2),
        FP16(DType.FP16, Precision.STRICT, 2e-2);

        final DType dtype;
        final Precision precision;
        final double tol;

        Mode(DType dtype, Precision precision, double tol) {
            this.dtype = dtype;
            this.precision = precision;
            this.tol = tol;
        }
    }

    record Size(int b, int h, int n, int d, int e) {
        @Override
        public String toString() {
            return "B" + b + "H" + h + "N" + n + "D" + d + "E" + e;
        }
    }

    static final List<Size> SIZES = List.of(
            new Size(1, 1, 1, 1, 1),
            new Size(2, 3, 37, 3, 5),
            new Size(1, 2, 130, 64, 64),
            new Size(2, 2, 300, 128, 128),
            new Size(1, 2, 77, 100, 256),
            new Size(1, 1, 2000, 16, 24),
            new Size(1, 2, 1029, 128, 64),
            new Size(1, 3, 517, 64, 128));

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Mode m : Mode.values()) {
            for (Layout layout : Layout.values()) {
                for (Size s : SIZES) {
                    out.add(Arguments.of(m, layout, s));
                }
            }
        }
        return out.stream();
    }

    private final SplittableRandom rnd = new SplittableRandom(SEED);

    private double[] normal(int count, double std) {
        double[] x = new double[count];
        for (int i = 0; i < count; i++) {
            x[i] = rnd.nextGaussian() * std;
        }
        return x;
    }

    /** Rates including a zero (s = 0: no decay) and a strong decay. */
    private double[] decays(int h) {
        double[] s = new double[h];
        for (int i = 0; i < h; i++) {
            s[i] = i == 0 ? 0.0 : i == 1 ? 2.0 : Math.pow(2, -8.0 * (i + 1) / h);
        }
        return s;
    }

    private void assertClose(String what, double[] got, double[] ref, double tol, Object ctx) {
        double err = ErrorNorms.relative(got, ref);
        System.out.printf("%-16s %-40s err %.3e (tol %.1e)%n", what, ctx, err, tol);
        assertThat(err).as("%s: relative Frobenius error (seed %d, %s)", what, SEED, ctx).isLessThanOrEqualTo(tol);
    }

    private Tensor poisoned(DType dtype, Shape shape) {
        Tensor t = la.allocate(dtype, shape);
        t.fill(Double.NaN);
        return t;
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void forwardMatchesReference(Mode m, Layout layout, Size z) {
        AttentionShape s = new AttentionShape(z.b, z.h, z.n, z.d, z.e, layout, m.dtype);
        Problem p = new Problem(z.b, z.h, z.n, z.d, z.e);
        double scale = 0.75;
        try (Tensor q = la.tensor(normal(z.b * z.h * z.n * z.d, 1 / Math.sqrt(z.d)), m.dtype, layout.shape(z.b, z.h, z.n, z.d));
             Tensor k = la.tensor(normal(z.b * z.h * z.n * z.d, 1 / Math.sqrt(z.d)), m.dtype, layout.shape(z.b, z.h, z.n, z.d));
             Tensor v = la.tensor(normal(z.b * z.h * z.n * z.e, 1), m.dtype, layout.shape(z.b, z.h, z.n, z.e));
             Tensor decay = la.tensor(decays(z.h), DType.FP32, Shape.of(z.h));
             Tensor s0 = la.tensor(normal(z.b * z.h * z.d * z.e, 0.5), DType.FP32, Shape.of(z.b, z.h, z.d, z.e));
             Tensor out = poisoned(m.dtype, layout.shape(z.b, z.h, z.n, z.e));
             Tensor fin = poisoned(DType.FP32, Shape.of(z.b, z.h, z.d, z.e))) {
            AttentionOptions o = AttentionOptions.defaults().withLayout(layout).withPrecision(m.precision).withScale(scale);
            la.forward(AttentionInputs.of(q, k, v, decay).withInitialState(s0), o, out, fin);
            // The reference sees exactly the stored (rounded) inputs.
            ReferenceMath.Forward ref = ReferenceMath.forwardRecurrent(p, Canonical.gather(q, s, z.d), Canonical.gather(k, s, z.d),
                    Canonical.gather(v, s, z.e), decay.toDoubleArray(), s0.toDoubleArray(), scale);
            assertClose("output", Canonical.gather(out, s, z.e), ref.output(), m.tol, z);
            assertClose("final state", fin.toDoubleArray(), ref.finalState(), m.tol, z);
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void backwardMatchesReference(Mode m, Layout layout, Size z) {
        AttentionShape s = new AttentionShape(z.b, z.h, z.n, z.d, z.e, layout, m.dtype);
        Problem p = new Problem(z.b, z.h, z.n, z.d, z.e);
        double scale = 1.25;
        boolean withStates = z.n % 2 == 1; // alternate: with S0 and dS_final, and without both
        try (Tensor q = la.tensor(normal(z.b * z.h * z.n * z.d, 1 / Math.sqrt(z.d)), m.dtype, layout.shape(z.b, z.h, z.n, z.d));
             Tensor k = la.tensor(normal(z.b * z.h * z.n * z.d, 1 / Math.sqrt(z.d)), m.dtype, layout.shape(z.b, z.h, z.n, z.d));
             Tensor v = la.tensor(normal(z.b * z.h * z.n * z.e, 1), m.dtype, layout.shape(z.b, z.h, z.n, z.e));
             Tensor dO = la.tensor(normal(z.b * z.h * z.n * z.e, 1), m.dtype, layout.shape(z.b, z.h, z.n, z.e));
             Tensor decay = la.tensor(decays(z.h), DType.FP32, Shape.of(z.h));
             Tensor s0 = withStates ? la.tensor(normal(z.b * z.h * z.d * z.e, 0.5), DType.FP32, Shape.of(z.b, z.h, z.d, z.e)) : null;
             Tensor dSf = withStates ? la.tensor(normal(z.b * z.h * z.d * z.e, 0.5), DType.FP32, Shape.of(z.b, z.h, z.d, z.e)) : null;
             Gradients g = new Gradients(poisoned(m.dtype, q.shape()), poisoned(m.dtype, k.shape()), poisoned(m.dtype, v.shape()),
                     poisoned(DType.FP32, Shape.of(z.b, z.h, z.d, z.e)), poisoned(DType.FP32, Shape.of(z.h)))) {
            AttentionOptions o = AttentionOptions.defaults().withLayout(layout).withPrecision(m.precision).withScale(scale)
                    .withLearnableDecay(true);
            la.backward(new AttentionInputs(q, k, v, decay, s0), dO, dSf, o, g);
            ReferenceMath.Backward ref = ReferenceMath.backward(p, Canonical.gather(q, s, z.d), Canonical.gather(k, s, z.d),
                    Canonical.gather(v, s, z.e), decay.toDoubleArray(), s0 == null ? null : s0.toDoubleArray(),
                    Canonical.gather(dO, s, z.e), dSf == null ? null : dSf.toDoubleArray(), scale);
            assertClose("dq", Canonical.gather(g.dq(), s, z.d), ref.dq(), m.tol, z);
            assertClose("dk", Canonical.gather(g.dk(), s, z.d), ref.dk(), m.tol, z);
            assertClose("dv", Canonical.gather(g.dv(), s, z.e), ref.dv(), m.tol, z);
            assertClose("dInitialState", g.dInitialState().toDoubleArray(), ref.dInitialState(), m.tol, z);
            // The decay gradient's terms cancel, so, as in the conformance kit, its error is measured
            // against the size of its terms: a plain relative error would blow up on draws whose
            // terms nearly cancel.
            double err = ErrorNorms.conditioned(g.dDecay().toDoubleArray(), ref.dDecay(), ref.dDecayScale());
            System.out.printf("%-16s %-40s err %.3e (tol %.1e, relative to the size of its terms)%n", "dDecay", z, err, m.tol);
            assertThat(err).as("dDecay: error relative to its terms (seed %d, %s)", SEED, z).isLessThanOrEqualTo(m.tol);
        }
    }

    /**
     * Where fp32 is promised, the decay gradient comes from a fourth sweep that carries T = -dS/ds
     * beside S in double and sums term by term (Backward). Over a long sequence (256
     * chunks at s = 0, with an initial state and dS_final) it is held to a tenth of the tolerance,
     * 1e-6 of its terms' size.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fp32Modes")
    void decayGradientKeepsItsDigitsOverLongSequences(Mode m) {
        double err = longDecayGradientError(m, Layout.BHND, 1, 16384, 64);
        assertThat(err).as("dDecay: error relative to its terms (seed %d)", SEED).isLessThanOrEqualTo(1e-6);
    }

    /**
     * With 16-bit storage the decay gradient comes from the identity's cancelling sums, which the
     * backward computes with products of about fp32 accuracy (at D = E = 128 on an H100/H200 the
     * Hopper sweep's split products, elsewhere 3xTF32 over fp32 copies). Over 65 chunks split
     * into segments, with an initial state and dS_final, in both layouts, it keeps a tenth of the
     * 16-bit tolerance.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("sixteenBitLayouts")
    void sixteenBitDecayGradientKeepsATenthOfItsTolerance(Mode m, Layout layout) {
        double err = longDecayGradientError(m, layout, 2, 4133, 128);
        assertThat(err).as("dDecay: error relative to its terms (seed %d, %s)", SEED, layout).isLessThanOrEqualTo(m.tol / 10);
    }

    /**
     * Every head decaying fast (s = 2 and 3) over 8192 tokens at D = E = 128: the identity's sums
     * would cancel to well beyond the tolerance (DecayRoute), so the backward must take a more
     * exact route; within the tolerance in every mode that has a learnable decay.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void fastHeadsKeepTheDecayGradientWithinTolerance(Mode m) {
        double err = longDecayGradientError(m, Layout.BNHD, 1, 8192, 128, new double[] {2, 3});
        assertThat(err).as("dDecay: error relative to its terms (seed %d)", SEED).isLessThanOrEqualTo(m.tol);
    }

    static Stream<Arguments> sixteenBitLayouts() {
        return Stream.of(Mode.BF16, Mode.FP16).flatMap(m -> Stream.of(Layout.values()).map(l -> Arguments.of(m, l)));
    }

    /** dDecay's error relative to its terms, B x 4 heads (two at s = 0) x N tokens, D = E = d, with S0 and dS_final. */
    private double longDecayGradientError(Mode m, Layout layout, int b, int n, int d) {
        return longDecayGradientError(m, layout, b, n, d, new double[] {0, 0.001, 0, 0.001});
    }

    /** The same with the heads' rates given. */
    private double longDecayGradientError(Mode m, Layout layout, int b, int n, int d, double[] rates) {
        int h = rates.length, e = d;
        Problem p = new Problem(b, h, n, d, e);
        AttentionShape s = new AttentionShape(b, h, n, d, e, layout, m.dtype);
        try (Tensor q = la.tensor(normal(b * h * n * d, 1 / Math.sqrt(d)), m.dtype, layout.shape(b, h, n, d));
             Tensor k = la.tensor(normal(b * h * n * d, 1 / Math.sqrt(d)), m.dtype, layout.shape(b, h, n, d));
             Tensor v = la.tensor(normal(b * h * n * e, 1), m.dtype, layout.shape(b, h, n, e));
             Tensor dO = la.tensor(normal(b * h * n * e, 1), m.dtype, layout.shape(b, h, n, e));
             Tensor decay = la.tensor(rates, DType.FP32, Shape.of(h));
             Tensor s0 = la.tensor(normal(b * h * d * e, 0.5), DType.FP32, Shape.of(b, h, d, e));
             Tensor dSf = la.tensor(normal(b * h * d * e, 0.5), DType.FP32, Shape.of(b, h, d, e));
             Gradients g = new Gradients(poisoned(m.dtype, q.shape()), poisoned(m.dtype, k.shape()), poisoned(m.dtype, v.shape()),
                     poisoned(DType.FP32, Shape.of(b, h, d, e)), poisoned(DType.FP32, Shape.of(h)))) {
            AttentionOptions o = AttentionOptions.defaults().withLayout(layout).withPrecision(m.precision).withLearnableDecay(true);
            la.backward(new AttentionInputs(q, k, v, decay, s0), dO, dSf, o, g);
            ReferenceMath.Backward ref = ReferenceMath.backward(p, Canonical.gather(q, s, d), Canonical.gather(k, s, d),
                    Canonical.gather(v, s, e), decay.toDoubleArray(), s0.toDoubleArray(), Canonical.gather(dO, s, e),
                    dSf.toDoubleArray(), 1.0);
            double err = ErrorNorms.conditioned(g.dDecay().toDoubleArray(), ref.dDecay(), ref.dDecayScale());
            System.out.printf("%-16s %-40s err %.3e (relative to the size of its terms)%n", "dDecay", m + " " + layout + " N=" + n, err);
            assertClose("dq", Canonical.gather(g.dq(), s, d), ref.dq(), m.tol, m + " " + layout + " N=" + n);
            assertClose("dv", Canonical.gather(g.dv(), s, e), ref.dv(), m.tol, m + " " + layout + " N=" + n);
            return err;
        }
    }

    static Stream<Mode> fp32Modes() {
        return Stream.of(Mode.FP32_STRICT, Mode.FP32_TF32X3);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void decodeMatchesReference(Mode m) {
        int b = 3, h = 4, d = 100, e = 130;
        double scale = 0.5;
        try (Tensor q = la.tensor(normal(b * h * d, 1 / Math.sqrt(d)), m.dtype, Shape.of(b, h, d));
             Tensor k = la.tensor(normal(b * h * d, 1 / Math.sqrt(d)), m.dtype, Shape.of(b, h, d));
             Tensor v = la.tensor(normal(b * h * e, 1), m.dtype, Shape.of(b, h, e));
             Tensor decay = la.tensor(decays(h), DType.FP32, Shape.of(h));
             Tensor state = la.tensor(normal(b * h * d * e, 1), DType.FP32, Shape.of(b, h, d, e));
             Tensor out = poisoned(m.dtype, Shape.of(b, h, e))) {
            double[] refState = state.toDoubleArray();
            double[] ref = ReferenceMath.decode(b, h, d, e, q.toDoubleArray(), k.toDoubleArray(), v.toDoubleArray(),
                    decay.toDoubleArray(), refState, scale);
            la.decode(q, k, v, decay, state, scale, out);
            assertClose("decode output", out.toDoubleArray(), ref, m.tol, m);
            assertClose("decode state", state.toDoubleArray(), refState, 1e-6, m);
        }
    }

    static Stream<Mode> modes() {
        return Stream.of(Mode.values());
    }

    /** Running [0, m) then [m, N) from the first call's final state equals one call over [0, N). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void chainingLawHolds(Mode m) {
        int b = 2, h = 3, n = 700, split = 333, d = 64, e = 48;
        double[] qa = normal(b * h * n * d, 1 / Math.sqrt(d)), ka = normal(b * h * n * d, 1 / Math.sqrt(d)), va = normal(b * h * n * e, 1);
        AttentionOptions o = AttentionOptions.defaults().withPrecision(m.precision);
        try (Tensor decay = la.tensor(decays(h), DType.FP32, Shape.of(h));
             Tensor q = la.tensor(qa, m.dtype, Shape.of(b, h, n, d));
             Tensor k = la.tensor(ka, m.dtype, Shape.of(b, h, n, d));
             Tensor v = la.tensor(va, m.dtype, Shape.of(b, h, n, e));
             Tensor q1 = la.tensor(slice(qa, b * h, n, d, 0, split), m.dtype, Shape.of(b, h, split, d));
             Tensor k1 = la.tensor(slice(ka, b * h, n, d, 0, split), m.dtype, Shape.of(b, h, split, d));
             Tensor v1 = la.tensor(slice(va, b * h, n, e, 0, split), m.dtype, Shape.of(b, h, split, e));
             Tensor q2 = la.tensor(slice(qa, b * h, n, d, split, n), m.dtype, Shape.of(b, h, n - split, d));
             Tensor k2 = la.tensor(slice(ka, b * h, n, d, split, n), m.dtype, Shape.of(b, h, n - split, d));
             Tensor v2 = la.tensor(slice(va, b * h, n, e, split, n), m.dtype, Shape.of(b, h, n - split, e));
             ForwardResult whole = la.forward(AttentionInputs.of(q, k, v, decay), o);
             ForwardResult first = la.forward(AttentionInputs.of(q1, k1, v1, decay), o);
             ForwardResult second = la.forward(AttentionInputs.of(q2, k2, v2, decay).withInitialState(first.finalState()), o)) {
            double[] all = whole.output().toDoubleArray();
            double[] joined = new double[all.length];
            double[] o1 = first.output().toDoubleArray(), o2 = second.output().toDoubleArray();
            for (int sq = 0; sq < b * h; sq++) {
                System.arraycopy(o1, sq * split * e, joined, sq * n * e, split * e);
                System.arraycopy(o2, sq * (n - split) * e, joined, sq * n * e + split * e, (n - split) * e);
            }
            double tol = m.dtype == DType.FP32 ? 1e-5 : 1e-2;
            assertClose("chained output", joined, all, tol, m);
            assertClose("chained final state", second.finalState().toDoubleArray(), whole.finalState().toDoubleArray(), tol, m);
        }
    }

    private static double[] slice(double[] x, int seqs, int n, int f, int from, int to) {
        double[] out = new double[seqs * (to - from) * f];
        for (int s = 0; s < seqs; s++) {
            System.arraycopy(x, (s * n + from) * f, out, s * (to - from) * f, (to - from) * f);
        }
        return out;
    }

    @Test
    void outOfMemoryIsReportedAndTheBackendKeepsWorking() {
        // More than any current GPU holds: 2^40 floats = 4 TiB.
        assertThatThrownBy(() -> la.allocate(DType.FP32, Shape.of(1 << 20, 1 << 20)))
                .isInstanceOf(DeviceMemoryException.class)
                .hasMessageContaining("4398046511104 bytes")
                .hasMessageContaining("free");
        forwardMatchesReference(Mode.FP32_STRICT, Layout.BHND, new Size(1, 2, 130, 64, 64));
    }

    @Test
    void nanInInputsPropagates() {
        int n = 50, d = 8, e = 8;
        double[] qa = normal(n * d, 0.3);
        qa[10 * d + 3] = Double.NaN;
        try (Tensor q = la.tensor(qa, DType.FP32, Shape.of(1, 1, n, d));
             Tensor k = la.tensor(normal(n * d, 0.3), DType.FP32, Shape.of(1, 1, n, d));
             Tensor v = la.tensor(normal(n * e, 1), DType.FP32, Shape.of(1, 1, n, e));
             Tensor decay = la.tensor(new double[] {0.1}, DType.FP32, Shape.of(1));
             ForwardResult r = la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults())) {
            double[] o = r.output().toDoubleArray();
            for (int j = 0; j < e; j++) {
                assertThat(o[10 * e + j]).as("output row of the NaN query").isNaN();
                assertThat(o[9 * e + j]).as("earlier rows").isFinite();
            }
        }
    }

    /** Small uploads answer reads from their host copy; fill and kernels make reads go to the device. */
    @Test
    void smallTensorsReadBackWhatWasWrittenLast() {
        try (Tensor t = la.tensor(new double[] {0.1, 0.2, 3e-3}, DType.FP32, Shape.of(3));
             Tensor h = la.tensor(new float[] {0.1f, -2.5f}, DType.BF16, Shape.of(2))) {
            assertThat(t.toDoubleArray()).containsExactly((float) 0.1, (float) 0.2, (float) 3e-3);
            assertThat(h.toFloatArray()).containsExactly(dev.la2.spi.HalfFloats.fromBf16(dev.la2.spi.HalfFloats.toBf16(0.1f)), -2.5f);
            t.fill(7.5);
            assertThat(t.toDoubleArray()).containsExactly(7.5, 7.5, 7.5);
            h.fill(Double.NaN);
            for (float x : h.toFloatArray()) {
                assertThat(x).isNaN();
            }
            t.copyFrom(new float[] {1, 2, 3});
            assertThat(t.toFloatArray()).containsExactly(1f, 2f, 3f);
        }
    }

    /** Copies from or into null, a closed arena's memory or a read-only segment are refused by name. */
    @Test
    void unusableCopySourcesAndTargetsAreRefusedByName() {
        try (Tensor t = la.tensor(new double[] {1, 2, 3}, DType.FP32, Shape.of(3))) {
            java.lang.foreign.MemorySegment closed;
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                closed = arena.allocate(12);
            }
            java.lang.foreign.MemorySegment readOnly = java.lang.foreign.Arena.ofAuto().allocate(12).asReadOnly();
            for (var refused : List.<Runnable>of(() -> t.copyFrom((float[]) null), () -> t.copyFrom((double[]) null),
                    () -> t.copyFrom((java.lang.foreign.MemorySegment) null), () -> t.copyFrom(closed))) {
                assertThatThrownBy(refused::run).isInstanceOfSatisfying(dev.la2.api.La2ArgumentException.class,
                        e -> assertThat(e.argument()).isEqualTo("src"));
            }
            for (var refused : List.<Runnable>of(() -> t.copyTo((float[]) null), () -> t.copyTo((double[]) null),
                    () -> t.copyTo(readOnly))) {
                assertThatThrownBy(refused::run).isInstanceOfSatisfying(dev.la2.api.La2ArgumentException.class,
                        e -> assertThat(e.argument()).isEqualTo("dst"));
            }
            assertThat(t.toDoubleArray()).containsExactly(1, 2, 3);
        }
    }

    @Test
    void timingAndMemoryStatsWork() {
        try (Tensor q = la.tensor(normal(2 * 4 * 512 * 64, 0.125), DType.BF16, Shape.of(2, 4, 512, 64));
             Tensor decay = la.tensor(decays(4), DType.FP32, Shape.of(4));
             Tensor out = la.allocate(DType.BF16, Shape.of(2, 4, 512, 64))) {
            AttentionInputs in = AttentionInputs.of(q, q, q, decay);
            double ms = Diagnostics.of(la).timeMillis(() -> la.forward(in, AttentionOptions.defaults(), out, null));
            assertThat(ms).isGreaterThan(0).isLessThan(10_000);
            // queued timing: one untimed run first, then one device interval per timed run
            int[] runs = {0};
            double[] queued = Diagnostics.of(la).timeMillis(() -> {
                runs[0]++;
                la.forward(in, AttentionOptions.defaults(), out, null);
            }, 5);
            assertThat(runs[0]).isEqualTo(6);
            assertThat(queued).hasSize(5);
            for (double t : queued) {
                assertThat(t).isGreaterThan(0).isLessThan(10_000);
            }
            assertThat(Diagnostics.of(la).memoryStats()).hasValueSatisfying(st -> {
                assertThat(st.kind()).isEqualTo("device");
                assertThat(st.inUseBytes()).isGreaterThanOrEqualTo(3L * q.byteSize());
                assertThat(st.peakBytes()).isGreaterThanOrEqualTo(st.inUseBytes());
            });
            assertThat(q.backend()).isEqualTo("cuda:0");
        }
    }

    /**
     * The Cleaner's thread, shared by every tensor, must not wait while a long call holds the
     * backend on another thread; the block comes back to the pool at the lock's next holder.
     */
    @Test
    void theCleanerDoesNotWaitForABusyBackend() throws Exception {
        Shape shape = Shape.of(3, 1001, 777);
        CudaTensor dropped = (CudaTensor) la.allocate(DType.FP32, shape);
        long address = dropped.address();
        java.util.concurrent.CountDownLatch holding = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        Thread busy = new Thread(() -> Diagnostics.of(la).timeMillis(() -> {
            holding.countDown();
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        busy.start();
        try {
            assertThat(holding.await(30, java.util.concurrent.TimeUnit.SECONDS)).as("the busy thread holds the lock").isTrue();
            org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(5), dropped::cleanAsUnreachable,
                    "the Cleaner's release waited for the lock");
        } finally {
            done.countDown();
            busy.join();
        }
        try (Tensor next = la.allocate(DType.FP32, shape)) {
            assertThat(((CudaTensor) next).address()).as("the next allocation of that size gets the block back").isEqualTo(address);
        }
    }

    @Test
    void concurrentCallersGetCorrectResults() throws Exception {
        // Each thread draws from its own generator: SplittableRandom is not thread-safe.
        Runnable one = () -> new CudaGpuTest().forwardMatchesReference(Mode.FP32_STRICT, Layout.BNHD, new Size(1, 3, 257, 32, 16));
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 4; i++) {
            Thread t = new Thread(() -> {
                try {
                    one.run();
                } catch (Throwable ex) {
                    errors.add(ex);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        assertThat(errors).isEmpty();
    }
}
