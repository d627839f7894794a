package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.Canonical;
import dev.la2.reference.ErrorNorms;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import dev.la2.spi.AttentionShape;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fused dv + dk pass (sweep_hopper_dkdv.cuh, SweepRunner.runDkDv) on a GPU: the backward of
 * 16-bit D = E = 128 calls without a learnable decay, against the same backend with the pass
 * switched off ("cuda.fusedDkDv" = "false") and against the float64 reference. dq, dv and
 * dInitialState come from the same kernels either way and must match bit for bit; dk, summed in
 * another order and rounded to the storage type, within two units of its last place (relative
 * Frobenius) of the unfused dk. On compute capability
 * 9.0 the launch counter proves the fused pass ran (and not with the switch off); elsewhere it
 * must not run. The same calls with every chunk loaded by cp.async ("cuda.tma" = "false", the fused
 * pass's cp.async entry point) agree with the TMA ones within two units of the last place. Packed
 * calls run the fused pass too (its packed entry point). Skipped, with the probe's reason, without
 * a usable GPU.
 */
class CudaFusedBackwardTest {
    private static final long SEED = System.nanoTime();
    private static final double TOL = 2e-2;
    private static LightningAttention fused;
    private static LightningAttention apart;
    private static LightningAttention loaded;
    private final SplittableRandom rnd = new SplittableRandom(SEED);

    @BeforeAll
    static void open() {
        if (new CudaProvider().probe().isAvailable()) {
            fused = LightningAttention.open("cuda");
            apart = LightningAttention.open("cuda", BackendOptions.defaults().withProperty("cuda.fusedDkDv", "false"));
            loaded = LightningAttention.open("cuda", BackendOptions.defaults().withProperty("cuda.tma", "false"));
        }
    }

    @AfterAll
    static void close() {
        for (LightningAttention la : new LightningAttention[] {fused, apart, loaded}) {
            if (la != null) {
                la.close();
            }
        }
    }

    @BeforeEach
    void requireGpu() {
        CudaGpuTest.assumeGpu();
    }

    /** Several segments with a partial last chunk, one short partial chunk, 132 sequences, and segments of one chunk. */
    record Size(int b, int h, int n) {
        @Override
        public String toString() {
            return "B" + b + "H" + h + "N" + n;
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (DType dtype : new DType[] {DType.BF16, DType.FP16}) {
            for (Layout layout : Layout.values()) {
                for (Size z : List.of(new Size(2, 3, 4133), new Size(1, 2, 50), new Size(2, 66, 700), new Size(1, 3, 320))) {
                    out.add(Arguments.of(dtype, layout, z));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void fusedPassMatchesThePassesApartAndTheReference(DType dtype, Layout layout, Size z) {
        int d = 128;
        AttentionShape s = new AttentionShape(z.b(), z.h(), z.n(), d, d, layout, dtype);
        boolean withStates = z.n() % 2 == 1;
        double[] qx = normal(z.b() * z.h() * z.n() * d, 1 / Math.sqrt(d)), kx = normal(qx.length, 1 / Math.sqrt(d));
        double[] vx = normal(qx.length, 1), dOx = normal(qx.length, 1);
        double[] decay = new double[z.h()];
        for (int i = 0; i < z.h(); i++) {
            decay[i] = i == 0 ? 0 : Math.pow(2, -8.0 * (i + 1) / z.h());
        }
        double[] s0x = withStates ? normal(z.b() * z.h() * d * d, 0.5) : null;
        double[] dSfx = withStates ? normal(s0x.length, 0.5) : null;
        AttentionOptions o = AttentionOptions.defaults().withLayout(layout).withScale(0.75);
        long before = SweepRunner.FUSED_DK_DV.sum();
        Result a = backward(fused, s, qx, kx, vx, dOx, decay, s0x, dSfx, o);
        long fusedLaunches = SweepRunner.FUSED_DK_DV.sum() - before;
        Result b = backward(apart, s, qx, kx, vx, dOx, decay, s0x, dSfx, o);
        long apartLaunches = SweepRunner.FUSED_DK_DV.sum() - before - fusedLaunches;
        Result c = backward(loaded, s, qx, kx, vx, dOx, decay, s0x, dSfx, o);
        long loadedLaunches = SweepRunner.FUSED_DK_DV.sum() - before - fusedLaunches - apartLaunches;

        assertThat(apartLaunches).as("launches of the fused pass with it switched off").isZero();
        assertThat(fusedLaunches).as("launches of the fused pass on compute capability %d", GpuCases.computeCapability())
                .isEqualTo(GpuCases.computeCapability() == SweepPlanner.HOPPER_CC ? 1 : 0);
        assertThat(loadedLaunches).as("launches of the fused pass on cp.async loads").isEqualTo(fusedLaunches);
        assertThat(a.dq).as("dq (seed %d)", SEED).isEqualTo(b.dq);
        assertThat(a.dv).as("dv (seed %d)", SEED).isEqualTo(b.dv);
        assertThat(a.dS0).as("dInitialState (seed %d)", SEED).isEqualTo(b.dS0);
        double ulp = dtype == DType.BF16 ? 0x1p-8 : 0x1p-11;
        assertThat(ErrorNorms.relative(a.dk, b.dk)).as("dk against the passes apart (seed %d)", SEED).isLessThanOrEqualTo(2 * ulp);
        // the fused pass on cp.async loads (cuda.tma=false): the same ring rows, the other dq kernel
        assertThat(ErrorNorms.relative(c.dq, a.dq)).as("dq on cp.async loads (seed %d)", SEED).isLessThanOrEqualTo(2 * ulp);
        assertThat(ErrorNorms.relative(c.dk, a.dk)).as("dk on cp.async loads (seed %d)", SEED).isLessThanOrEqualTo(2 * ulp);
        assertThat(ErrorNorms.relative(c.dv, a.dv)).as("dv on cp.async loads (seed %d)", SEED).isLessThanOrEqualTo(2 * ulp);
        assertThat(ErrorNorms.relative(c.dS0, a.dS0)).as("dInitialState on cp.async loads (seed %d)", SEED)
                .isLessThanOrEqualTo(2 * ulp);

        Problem p = new Problem(z.b(), z.h(), z.n(), d, d);
        ReferenceMath.Backward ref = ReferenceMath.backward(p, a.q, a.k, a.v, decay, s0x, a.dO, dSfx, o.scale());
        assertThat(ErrorNorms.relative(a.dq, ref.dq())).as("dq (seed %d)", SEED).isLessThanOrEqualTo(TOL);
        assertThat(ErrorNorms.relative(a.dk, ref.dk())).as("dk (seed %d)", SEED).isLessThanOrEqualTo(TOL);
        assertThat(ErrorNorms.relative(a.dv, ref.dv())).as("dv (seed %d)", SEED).isLessThanOrEqualTo(TOL);
        assertThat(ErrorNorms.relative(a.dS0, ref.dInitialState())).as("dInitialState (seed %d)", SEED).isLessThanOrEqualTo(TOL);
    }

    static Stream<DType> halfTypes() {
        return Stream.of(DType.BF16, DType.FP16);
    }

    /**
     * A packed call (lengths 0, 1, C-1, C, C+1, several segments' worth and a random one): the fused
     * pass against the passes apart (dq from the same kernels, bit for bit; dk, dv and
     * dInitialState, whose sums run in another order, within two units of the last place of each
     * sequence's norm), and each sequence's gradients against the float64 reference.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("halfTypes")
    void packedFusedPassMatchesThePassesApartAndTheReference(DType dtype) {
        int d = 128, h = 3;
        int[] lengths = {65, 0, 4133, 1, 63, 700, 64, 1 + rnd.nextInt(3000)};
        SequenceOffsets offsets = SequenceOffsets.ofLengths(lengths);
        int t = offsets.tokens(), n = lengths.length;
        double[] qx = normal(t * h * d, 1 / Math.sqrt(d)), kx = normal(qx.length, 1 / Math.sqrt(d));
        double[] vx = normal(qx.length, 1), dOx = normal(qx.length, 1);
        double[] decay = {0, 0.05, 0.5};
        double[] s0x = normal(n * h * d * d, 0.5), dSfx = normal(s0x.length, 0.5);
        AttentionOptions o = AttentionOptions.defaults().withScale(0.75);
        long before = SweepRunner.FUSED_DK_DV.sum();
        Result a = packedBackward(fused, dtype, offsets, h, qx, kx, vx, dOx, decay, s0x, dSfx, o);
        long fusedLaunches = SweepRunner.FUSED_DK_DV.sum() - before;
        Result b = packedBackward(apart, dtype, offsets, h, qx, kx, vx, dOx, decay, s0x, dSfx, o);
        long apartLaunches = SweepRunner.FUSED_DK_DV.sum() - before - fusedLaunches;

        assertThat(apartLaunches).as("launches of the fused pass with it switched off").isZero();
        assertThat(fusedLaunches).as("launches of the fused pass on compute capability %d", GpuCases.computeCapability())
                .isEqualTo(GpuCases.computeCapability() == SweepPlanner.HOPPER_CC ? 1 : 0);
        assertThat(a.dq).as("dq (seed %d)", SEED).isEqualTo(b.dq);
        double ulp = dtype == DType.BF16 ? 0x1p-8 : 0x1p-11;
        for (int i = 0; i < n; i++) {
            int start = offsets.start(i), len = lengths[i];
            String what = "sequence " + i + " of " + len + " tokens (seed " + SEED + ")";
            double[] dS0a = block(a.dS0, i, h * d * d), dS0b = block(b.dS0, i, h * d * d);
            assertThat(ErrorNorms.relative(dS0a, dS0b)).as("dInitialState against the passes apart, %s", what)
                    .isLessThanOrEqualTo(2 * ulp);
            double[] s0i = block(s0x, i, h * d * d), dSfi = block(dSfx, i, h * d * d);
            if (len == 0) {
                // no tokens: the state passes through unchanged, and so does its gradient
                assertThat(ErrorNorms.relative(dS0a, dSfi)).as("dInitialState, %s", what).isLessThanOrEqualTo(TOL);
                continue;
            }
            Problem p = new Problem(1, h, len, d, d);
            ReferenceMath.Backward ref = ReferenceMath.backward(p, sequence(a.q, start, len, h, d), sequence(a.k, start, len, h, d),
                    sequence(a.v, start, len, h, d), decay, s0i, sequence(a.dO, start, len, h, d), dSfi, o.scale());
            assertThat(ErrorNorms.relative(dS0a, ref.dInitialState())).as("dInitialState, %s", what).isLessThanOrEqualTo(TOL);
            assertThat(ErrorNorms.relative(sequence(a.dk, start, len, h, d), sequence(b.dk, start, len, h, d)))
                    .as("dk against the passes apart, %s", what).isLessThanOrEqualTo(2 * ulp);
            assertThat(ErrorNorms.relative(sequence(a.dv, start, len, h, d), sequence(b.dv, start, len, h, d)))
                    .as("dv against the passes apart, %s", what).isLessThanOrEqualTo(2 * ulp);
            assertThat(ErrorNorms.relative(sequence(a.dq, start, len, h, d), ref.dq())).as("dq, %s", what).isLessThanOrEqualTo(TOL);
            assertThat(ErrorNorms.relative(sequence(a.dk, start, len, h, d), ref.dk())).as("dk, %s", what).isLessThanOrEqualTo(TOL);
            assertThat(ErrorNorms.relative(sequence(a.dv, start, len, h, d), ref.dv())).as("dv, %s", what).isLessThanOrEqualTo(TOL);
        }
    }

    /** Block i of {@code size} elements. */
    private static double[] block(double[] x, int i, int size) {
        double[] out = new double[size];
        System.arraycopy(x, i * size, out, 0, size);
        return out;
    }

    /** Tokens start .. start + len of a packed [T][H][D] array, in the reference's [H][N][D] order. */
    private static double[] sequence(double[] x, int start, int len, int h, int d) {
        double[] out = new double[h * len * d];
        for (int hh = 0; hh < h; hh++) {
            for (int t = 0; t < len; t++) {
                System.arraycopy(x, ((start + t) * h + hh) * d, out, (hh * len + t) * d, d);
            }
        }
        return out;
    }

    /** One packed backward: the stored inputs and the gradients, in the packed [T][H][D] order. */
    private static Result packedBackward(LightningAttention la, DType dtype, SequenceOffsets offsets, int h, double[] qx, double[] kx,
                                         double[] vx, double[] dOx, double[] decay, double[] s0x, double[] dSfx, AttentionOptions o) {
        int d = 128;
        Shape seq = Shape.of(offsets.tokens(), h, d), state = Shape.of(offsets.sequences(), h, d, d);
        try (Tensor q = la.tensor(qx, dtype, seq);
             Tensor k = la.tensor(kx, dtype, seq);
             Tensor v = la.tensor(vx, dtype, seq);
             Tensor dO = la.tensor(dOx, dtype, seq);
             Tensor rates = la.tensor(decay, DType.FP32, Shape.of(h));
             Tensor s0 = la.tensor(s0x, DType.FP32, state);
             Tensor dSf = la.tensor(dSfx, DType.FP32, state);
             Gradients g = la.backwardPacked(PackedInputs.of(q, k, v, rates, offsets).withInitialState(s0), dO, dSf, o, null)) {
            return new Result(q.toDoubleArray(), k.toDoubleArray(), v.toDoubleArray(), dO.toDoubleArray(), g.dq().toDoubleArray(),
                    g.dk().toDoubleArray(), g.dv().toDoubleArray(), g.dInitialState().toDoubleArray());
        }
    }

    /** The stored (rounded) inputs in canonical order and the gradients of one backward. */
    private record Result(double[] q, double[] k, double[] v, double[] dO, double[] dq, double[] dk, double[] dv, double[] dS0) {
    }

    private static Result backward(LightningAttention la, AttentionShape s, double[] qx, double[] kx, double[] vx, double[] dOx,
                                   double[] decay, double[] s0x, double[] dSfx, AttentionOptions o) {
        Layout layout = s.layout();
        int b = s.batch(), h = s.heads(), n = s.tokens(), d = s.keyDim();
        Shape seq = layout.shape(b, h, n, d), state = Shape.of(b, h, d, d);
        try (Tensor q = la.tensor(qx, s.dtype(), seq);
             Tensor k = la.tensor(kx, s.dtype(), seq);
             Tensor v = la.tensor(vx, s.dtype(), seq);
             Tensor dO = la.tensor(dOx, s.dtype(), seq);
             Tensor rates = la.tensor(decay, DType.FP32, Shape.of(h));
             Tensor s0 = s0x == null ? null : la.tensor(s0x, DType.FP32, state);
             Tensor dSf = dSfx == null ? null : la.tensor(dSfx, DType.FP32, state);
             Gradients g = new Gradients(GpuCases.poisoned(la, s.dtype(), seq), GpuCases.poisoned(la, s.dtype(), seq), GpuCases.poisoned(la, s.dtype(), seq),
                     GpuCases.poisoned(la, DType.FP32, state), null)) {
            la.backward(new AttentionInputs(q, k, v, rates, s0), dO, dSf, o, g);
            return new Result(Canonical.gather(q, s, d), Canonical.gather(k, s, d), Canonical.gather(v, s, d),
                    Canonical.gather(dO, s, d), Canonical.gather(g.dq(), s, d), Canonical.gather(g.dk(), s, d),
                    Canonical.gather(g.dv(), s, d), g.dInitialState().toDoubleArray());
        }
    }

    private double[] normal(int count, double std) {
        return GpuCases.normal(rnd, count, std);
    }
}
