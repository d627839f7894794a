package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Hopper TF32 sweep (sweep_hopper_tf32.cuh: fp32 storage, Precision.TF32, D = E = 128, scaled
 * fp16 products) on a GPU: forward and backward against the float64 reference within TF32's 3e-3,
 * and against the same backend with the Hopper sweeps switched off ("cuda.hopper" = "false", the
 * wide TF32 sweep). On compute capability 9.0 the launch counter proves the Hopper TF32 sweep ran
 * (and not with the switch off). Inputs far from 1 (q times 2^40, k times 2^-50, v times 2^30, the
 * initial state times 2^20), and tiny ones (q, k, v times 2^-30, the initial state times 2^-100)
 * with whole chunks of zero keys, check the scales; a NaN in v, that the forward's non-finite
 * outputs are exactly where the wide sweep puts them. The backward's passes, chained in one launch
 * (SweepRunner.runTf32Chain: one segment a sequence, and several with mode 0 chained too), give
 * exactly the gradients they give launched apart ("cuda.tf32Chain" = "false"). Skipped, with the
 * probe's reason, without a usable GPU.
 */
class CudaHopperTf32Test {
    private static final long SEED = System.nanoTime();
    private static final double TOL = 3e-3;
    private static final int D = 128;
    private static LightningAttention hopper;
    private static LightningAttention wide;
    private static LightningAttention apart;
    private final SplittableRandom rnd = new SplittableRandom(SEED);

    @BeforeAll
    static void open() {
        if (new CudaProvider().probe().isAvailable()) {
            hopper = LightningAttention.open("cuda");
            wide = LightningAttention.open("cuda", BackendOptions.defaults().withProperty("cuda.hopper", "false"));
            apart = LightningAttention.open("cuda", BackendOptions.defaults().withProperty("cuda.tf32Chain", "false"));
        }
    }

    @AfterAll
    static void close() {
        for (LightningAttention la : new LightningAttention[] {hopper, wide, apart}) {
            if (la != null) {
                la.close();
            }
        }
    }

    @BeforeEach
    void requireGpu() {
        CudaGpuTest.assumeGpu();
    }

    /** How a case's inputs are drawn: q, k ~ N(0, 1/D), v ~ N(0, 1), then scaled as named. */
    enum Scale {
        PLAIN, FAR, TINY_WITH_ZERO_KEYS
    }

    /** Several segments with a partial last chunk, one short partial chunk, more sequences than SMs, and scaled inputs. */
    record Size(int b, int h, int n, Scale scale) {
        @Override
        public String toString() {
            return "B" + b + "H" + h + "N" + n + (scale == Scale.PLAIN ? "" : " " + scale);
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Layout layout : Layout.values()) {
            for (Size z : List.of(new Size(2, 3, 4133, Scale.PLAIN), new Size(1, 2, 50, Scale.PLAIN), new Size(2, 66, 700, Scale.PLAIN),
                    new Size(1, 3, 321, Scale.FAR), new Size(1, 3, 641, Scale.TINY_WITH_ZERO_KEYS))) {
                out.add(Arguments.of(layout, z));
            }
        }
        return out.stream();
    }

    /** The inputs of one case, drawn fresh: q, k, v, dO, the initial state and dS_final (null on even N), decay rates. */
    private record Inputs(double[] q, double[] k, double[] v, double[] dO, double[] s0, double[] dSf, double[] decay) {
    }

    private Inputs draw(Size z, Layout layout) {
        int count = z.b() * z.h() * z.n() * D;
        boolean far = z.scale() == Scale.FAR, tiny = z.scale() == Scale.TINY_WITH_ZERO_KEYS;
        double fq = far ? 0x1p40 : tiny ? 0x1p-30 : 1, fk = far ? 0x1p-50 : tiny ? 0x1p-30 : 1, fv = far ? 0x1p30 : tiny ? 0x1p-30 : 1;
        double fs = far ? 0x1p20 : tiny ? 0x1p-100 : 1;
        boolean withStates = z.n() % 2 == 1;
        double[] decay = new double[z.h()];
        for (int i = 0; i < z.h(); i++) {
            decay[i] = i == 0 ? 0 : Math.pow(2, -8.0 * (i + 1) / z.h());
        }
        double[] k = normal(count, fk / Math.sqrt(D));
        if (tiny) {
            // tokens 64 .. 191 of every sequence (two whole chunks) without keys
            for (int b = 0; b < z.b(); b++) {
                for (int h = 0; h < z.h(); h++) {
                    for (int t = 64; t < 192; t++) {
                        int row = layout == Layout.BHND ? (b * z.h() + h) * z.n() + t : (b * z.n() + t) * z.h() + h;
                        Arrays.fill(k, row * D, (row + 1) * D, 0.0);
                    }
                }
            }
        }
        return new Inputs(normal(count, fq / Math.sqrt(D)), k, normal(count, fv), normal(count, 1),
                withStates ? normal(z.b() * z.h() * D * D, 0.5 * fs) : null, withStates ? normal(z.b() * z.h() * D * D, 0.5) : null, decay);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void forwardMatchesTheReferenceAndTheWideSweep(Layout layout, Size z) {
        Inputs in = draw(z, layout);
        AttentionShape s = new AttentionShape(z.b(), z.h(), z.n(), D, D, layout, DType.FP32);
        Counted hopperRun = counted(SweepRunner.HOPPER_TF32, () -> forward(hopper, s, in));
        Counted wideRun = counted(SweepRunner.HOPPER_TF32, () -> forward(wide, s, in));
        double[][] a = hopperRun.result(), b = wideRun.result();
        assertThat(wideRun.count()).as("passes on the Hopper TF32 sweep with cuda.hopper off").isZero();
        assertThat(hopperRun.count()).as("passes on the Hopper TF32 sweep on compute capability %d", GpuCases.computeCapability())
                .isEqualTo(GpuCases.computeCapability() == SweepPlanner.HOPPER_CC ? 1 : 0);
        Problem p = new Problem(z.b(), z.h(), z.n(), D, D);
        ReferenceMath.Forward ref = ReferenceMath.forwardRecurrent(p, a[2], a[3], a[4], in.decay(), in.s0(), 0.75);
        close("output", a[0], ref.output(), layout, z);
        close("final state", a[1], ref.finalState(), layout, z);
        close("wide sweep's output", b[0], ref.output(), layout, z);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void backwardMatchesTheReference(Layout layout, Size z) {
        Inputs in = draw(z, layout);
        AttentionShape s = new AttentionShape(z.b(), z.h(), z.n(), D, D, layout, DType.FP32);
        Counted run = counted(SweepRunner.HOPPER_TF32, () -> backward(hopper, s, in));
        double[][] g = run.result();
        assertThat(run.count()).as("dq, dv and dk passes on the Hopper TF32 sweep on compute capability %d", GpuCases.computeCapability())
                .isEqualTo(GpuCases.computeCapability() == SweepPlanner.HOPPER_CC ? 3 : 0);
        Problem p = new Problem(z.b(), z.h(), z.n(), D, D);
        ReferenceMath.Backward ref = ReferenceMath.backward(p, g[4], g[5], g[6], in.decay(), in.s0(), g[7], in.dSf(), 1.25);
        close("dq", g[0], ref.dq(), layout, z);
        close("dk", g[1], ref.dk(), layout, z);
        close("dv", g[2], ref.dv(), layout, z);
        close("dInitialState", g[3], ref.dInitialState(), layout, z);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void chainedBackwardEqualsThePassesApart(Layout layout, Size z) {
        Inputs in = draw(z, layout);
        AttentionShape s = new AttentionShape(z.b(), z.h(), z.n(), D, D, layout, DType.FP32);
        Counted chainedRun = counted(SweepRunner.TF32_CHAIN, () -> backward(hopper, s, in));
        Counted aloneRun = counted(SweepRunner.TF32_CHAIN, () -> backward(apart, s, in));
        double[][] chained = chainedRun.result(), alone = aloneRun.result();
        assertThat(aloneRun.count()).as("chains with cuda.tf32Chain off").isZero();
        assertThat(chainedRun.count()).as("chained backwards on compute capability %d", GpuCases.computeCapability())
                .isEqualTo(GpuCases.computeCapability() == SweepPlanner.HOPPER_CC ? 1 : 0);
        String[] names = {"dq", "dk", "dv", "dInitialState"};
        for (int i = 0; i < names.length; i++) {
            assertThat(chained[i]).as("%s chained against apart (seed %d, %s %s)", names[i], SEED, layout, z).isEqualTo(alone[i]);
        }
    }

    /** A call's results and how much it added to a launch counter. */
    private record Counted(double[][] result, long count) {
    }

    private static Counted counted(LongAdder counter, Supplier<double[][]> call) {
        long before = counter.sum();
        double[][] result = call.get();
        return new Counted(result, counter.sum() - before);
    }

    /** One output against the reference within TF32's tolerance, its error printed. */
    private static void close(String what, double[] got, double[] ref, Layout layout, Size z) {
        double err = ErrorNorms.relative(got, ref);
        System.out.printf("%-20s %s %s err %.3e (tol %.1e)%n", what, layout, z, err, TOL);
        assertThat(err).as("%s (seed %d, %s %s)", what, SEED, layout, z).isLessThanOrEqualTo(TOL);
    }

    /** A NaN in v: the forward's non-finite outputs exactly where the wide sweep's are, the finite ones within TF32's tolerance. */
    @Test
    void nonFiniteInputsPropagateAsOnTheWideSweep() {
        Size z = new Size(2, 3, 1000, Scale.PLAIN);
        Inputs in = draw(z, Layout.BHND);
        in.v()[(4 * z.n() + 300) * D + 5] = Double.NaN;  // sequence 4 (batch 1, head 1), token 300, column 5
        AttentionShape s = new AttentionShape(z.b(), z.h(), z.n(), D, D, Layout.BHND, DType.FP32);
        double[][] a = forward(hopper, s, in), b = forward(wide, s, in);
        int nonFinite = 0;
        for (int i = 0; i < a[0].length; i++) {
            assertThat(Double.isFinite(a[0][i])).as("finiteness of output %d (seed %d)", i, SEED).isEqualTo(Double.isFinite(b[0][i]));
            if (!Double.isFinite(b[0][i])) {
                nonFinite++;
                a[0][i] = 0;
                b[0][i] = 0;
            }
        }
        assertThat(nonFinite).as("outputs the NaN reaches").isPositive();
        assertThat(ErrorNorms.relative(a[0], b[0])).as("finite outputs against the wide sweep (seed %d)", SEED).isLessThanOrEqualTo(2 * TOL);
    }

    /** Output, final state, and the stored q, k, v in canonical order. */
    private static double[][] forward(LightningAttention la, AttentionShape s, Inputs in) {
        Layout layout = s.layout();
        int b = s.batch(), h = s.heads(), n = s.tokens();
        Shape seq = layout.shape(b, h, n, D), state = Shape.of(b, h, D, D);
        AttentionOptions o = AttentionOptions.defaults().withLayout(layout).withPrecision(Precision.TF32).withScale(0.75);
        try (Tensor q = la.tensor(in.q(), DType.FP32, seq);
             Tensor k = la.tensor(in.k(), DType.FP32, seq);
             Tensor v = la.tensor(in.v(), DType.FP32, seq);
             Tensor rates = la.tensor(in.decay(), DType.FP32, Shape.of(h));
             Tensor s0 = in.s0() == null ? null : la.tensor(in.s0(), DType.FP32, state);
             Tensor out = GpuCases.poisoned(la, DType.FP32, seq);
             Tensor fin = GpuCases.poisoned(la, DType.FP32, state)) {
            la.forward(new AttentionInputs(q, k, v, rates, s0), o, out, fin);
            return new double[][] {Canonical.gather(out, s, D), fin.toDoubleArray(), Canonical.gather(q, s, D), Canonical.gather(k, s, D),
                Canonical.gather(v, s, D)};
        }
    }

    /** dq, dk, dv, dInitialState, then the stored q, k, v, dO, in canonical order. */
    private static double[][] backward(LightningAttention la, AttentionShape s, Inputs in) {
        Layout layout = s.layout();
        int b = s.batch(), h = s.heads(), n = s.tokens();
        Shape seq = layout.shape(b, h, n, D), state = Shape.of(b, h, D, D);
        AttentionOptions o = AttentionOptions.defaults().withLayout(layout).withPrecision(Precision.TF32).withScale(1.25);
        try (Tensor q = la.tensor(in.q(), DType.FP32, seq);
             Tensor k = la.tensor(in.k(), DType.FP32, seq);
             Tensor v = la.tensor(in.v(), DType.FP32, seq);
             Tensor dO = la.tensor(in.dO(), DType.FP32, seq);
             Tensor rates = la.tensor(in.decay(), DType.FP32, Shape.of(h));
             Tensor s0 = in.s0() == null ? null : la.tensor(in.s0(), DType.FP32, state);
             Tensor dSf = in.dSf() == null ? null : la.tensor(in.dSf(), DType.FP32, state);
             Gradients g = new Gradients(GpuCases.poisoned(la, DType.FP32, seq), GpuCases.poisoned(la, DType.FP32, seq), GpuCases.poisoned(la, DType.FP32, seq),
                     GpuCases.poisoned(la, DType.FP32, state), null)) {
            la.backward(new AttentionInputs(q, k, v, rates, s0), dO, dSf, o, g);
            return new double[][] {Canonical.gather(g.dq(), s, D), Canonical.gather(g.dk(), s, D), Canonical.gather(g.dv(), s, D),
                g.dInitialState().toDoubleArray(), Canonical.gather(q, s, D), Canonical.gather(k, s, D), Canonical.gather(v, s, D),
                Canonical.gather(dO, s, D)};
        }
    }

    private double[] normal(int count, double std) {
        return GpuCases.normal(rnd, count, std);
    }
}
