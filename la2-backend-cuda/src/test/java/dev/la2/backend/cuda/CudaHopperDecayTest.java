package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
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
 * The decay gradient's Hopper sweep (decay_hopper.cuh, Backward's route for dense 16-bit
 * D = E = 128 calls) on a GPU: learnable-decay backwards whose
 * heads decay at rates 0, 4, 1, 0.25 and ALiBi slopes, against the float64 reference with the
 * SPEC's metric for dDecay (error over the size of its terms) and tolerance, and the other
 * gradients within the tolerance: dq among them, which the sweep writes in place of the dq pass. On
 * compute capability 9.0 the launch counter proves the sweep ran once per call; elsewhere it must
 * not run. Skipped, with the probe's reason, without a usable
 * GPU.
 */
class CudaHopperDecayTest {
    private static final long SEED = System.nanoTime();
    private static final double TOL = 2e-2;
    private static LightningAttention la;
    private final SplittableRandom rnd = new SplittableRandom(SEED);

    @BeforeAll
    static void open() {
        if (new CudaProvider().probe().isAvailable()) {
            la = LightningAttention.open("cuda");
        }
    }

    @AfterAll
    static void close() {
        if (la != null) {
            la.close();
        }
    }

    @BeforeEach
    void requireGpu() {
        CudaGpuTest.assumeGpu();
    }

    /**
     * 132 sequences of four chunks, the last partial; four sequences of one partial chunk; sequences
     * split into segments (modes 0 and 1 with the scan between): six of 16 segments of three chunks
     * (the last partial), and, on 132 SMs, eight of 16 segments of 16 chunks.
     */
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
                for (Size z : List.of(new Size(2, 66, 200), new Size(1, 4, 50), new Size(2, 3, 3000), new Size(1, 8, 16384))) {
                    out.add(Arguments.of(dtype, layout, z));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void decayGradientMatchesTheReference(DType dtype, Layout layout, Size z) {
        int d = 128, b = z.b(), h = z.h(), n = z.n();
        AttentionShape s = new AttentionShape(b, h, n, d, d, layout, dtype);
        boolean withStates = b == 2;
        double[] rates = new double[h];
        for (int i = 0; i < h; i++) {
            rates[i] = i < 4 ? new double[] {0, 4, 1, 0.25}[i] : Math.pow(2, -8.0 * (i + 1) / h);
        }
        Shape seq = layout.shape(b, h, n, d), state = Shape.of(b, h, d, d);
        AttentionOptions o = AttentionOptions.defaults().withLayout(layout).withScale(0.75).withLearnableDecay(true);
        long before = SweepRunner.HOPPER_DECAY.sum();
        try (Tensor q = la.tensor(normal(b * h * n * d, 1 / Math.sqrt(d)), dtype, seq);
             Tensor k = la.tensor(normal(b * h * n * d, 1 / Math.sqrt(d)), dtype, seq);
             Tensor v = la.tensor(normal(b * h * n * d, 1), dtype, seq);
             Tensor dO = la.tensor(normal(b * h * n * d, 1), dtype, seq);
             Tensor decay = la.tensor(rates, DType.FP32, Shape.of(h));
             Tensor s0 = withStates ? la.tensor(normal(b * h * d * d, 0.5), DType.FP32, state) : null;
             Tensor dSf = withStates ? la.tensor(normal(b * h * d * d, 0.5), DType.FP32, state) : null;
             Gradients g = new Gradients(poisoned(dtype, seq), poisoned(dtype, seq), poisoned(dtype, seq), poisoned(DType.FP32, state),
                     poisoned(DType.FP32, Shape.of(h)))) {
            la.backward(new AttentionInputs(q, k, v, decay, s0), dO, dSf, o, g);
            long launches = SweepRunner.HOPPER_DECAY.sum() - before;
            assertThat(launches).as("launches of the Hopper decay sweep on compute capability %d", GpuCases.computeCapability())
                    .isEqualTo(GpuCases.computeCapability() == SweepPlanner.HOPPER_CC ? 1 : 0);
            ReferenceMath.Backward ref = ReferenceMath.backward(new Problem(b, h, n, d, d), Canonical.gather(q, s, d),
                    Canonical.gather(k, s, d), Canonical.gather(v, s, d), rates, s0 == null ? null : s0.toDoubleArray(),
                    Canonical.gather(dO, s, d), dSf == null ? null : dSf.toDoubleArray(), o.scale());
            double err = ErrorNorms.conditioned(g.dDecay().toDoubleArray(), ref.dDecay(), ref.dDecayScale());
            double dqErr = ErrorNorms.relative(Canonical.gather(g.dq(), s, d), ref.dq());
            System.out.printf("dDecay %s %s %s: error %.3e of its terms' size, dq %.3e (tol %.0e)%n", dtype, layout, z, err, dqErr, TOL);
            assertThat(err).as("dDecay: error relative to its terms (seed %d)", SEED).isLessThanOrEqualTo(TOL);
            assertThat(dqErr).as("dq (seed %d)", SEED).isLessThanOrEqualTo(TOL);
            assertThat(ErrorNorms.relative(Canonical.gather(g.dk(), s, d), ref.dk())).as("dk (seed %d)", SEED).isLessThanOrEqualTo(TOL);
            assertThat(ErrorNorms.relative(Canonical.gather(g.dv(), s, d), ref.dv())).as("dv (seed %d)", SEED).isLessThanOrEqualTo(TOL);
            assertThat(ErrorNorms.relative(g.dInitialState().toDoubleArray(), ref.dInitialState())).as("dInitialState (seed %d)", SEED)
                    .isLessThanOrEqualTo(TOL);
        }
    }

    private static Tensor poisoned(DType dtype, Shape shape) {
        return GpuCases.poisoned(la, dtype, shape);
    }

    private double[] normal(int count, double std) {
        return GpuCases.normal(rnd, count, std);
    }
}
