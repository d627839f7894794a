package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.SavedForward;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ErrorNorms;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The packed forward that keeps states and the packed backward, which schedule every sequence's
 * work together (SPEC.md sections 7 and 8), against the same sequences run one by one through the
 * dense calls: with the segment length fixed, both cut every sequence alike and the results agree
 * bit for bit; with the default cut, keeping states changes nothing in the forward's results
 * (but for a decay gradient, whose states are carried in double).
 */
class CpuPackedTrainingTest {
    private static final int H = 3;
    private static final int D = 8;
    private static final int E = 16;
    private static final double SCALE = 0.7;
    private static final int[] LENGTHS = {0, 1, 63, 64, 65, 300, 0, 700, 2};

    /** One packed problem's host values: q, k [T, H, D], v and dO [T, H, E], states [S, H, D, E]. */
    private record Problem(SequenceOffsets offsets, double[] q, double[] k, double[] v, double[] dOut,
                           double[] initial, double[] dFinal, double[] rates) {

        static Problem draw(SplittableRandom rng, int[] lengths, DType dtype) {
            SequenceOffsets offsets = SequenceOffsets.ofLengths(lengths);
            int t = offsets.tokens(), states = lengths.length * H * D * E;
            return new Problem(offsets, Fixture.gaussian(rng, t * H * D, 0.35, dtype),
                    Fixture.gaussian(rng, t * H * D, 0.35, dtype), Fixture.gaussian(rng, t * H * E, 1, dtype),
                    Fixture.gaussian(rng, t * H * E, 1, dtype), Fixture.gaussian(rng, states, 0.5, DType.FP32),
                    Fixture.gaussian(rng, states, 0.5, DType.FP32), Fixture.decay(rng, H, DType.FP32));
        }
    }

    /** What a forward and backward produced, as host values. */
    private record Results(double[] out, double[] fin, double[] dq, double[] dk, double[] dv, double[] dInitial,
                           double[] dDecay) {
    }

    @ParameterizedTest(name = "{0}, keep {1}, learnable decay {2}")
    @CsvSource({"FP32, true, true", "FP32, true, false", "FP32, false, true", "BF16, true, true", "FP16, false, false"})
    void packedTrainingEqualsTheSequencesOneByOneBitForBit(DType dtype, boolean keep, boolean learnable) {
        Problem p = Problem.draw(Fixture.random("packedTraining" + dtype + keep + learnable), LENGTHS, dtype);
        AttentionOptions options = AttentionOptions.defaults().withScale(SCALE).withLearnableDecay(learnable)
                .withSaveForBackward(keep);
        try (LightningAttention la = Fixture.open(4, Map.of("cpu.segmentTokens", "128"))) {
            Results packed = packed(la, p, dtype, options);
            Results alone = oneByOne(la, p, dtype, options);
            identical("output", packed.out(), alone.out());
            identical("final states", packed.fin(), alone.fin());
            identical("dq", packed.dq(), alone.dq());
            identical("dk", packed.dk(), alone.dk());
            identical("dv", packed.dv(), alone.dv());
            identical("dInitialState", packed.dInitial(), alone.dInitial());
            if (learnable) {
                identical("dDecay", packed.dDecay(), alone.dDecay());
            }
        }
    }

    @ParameterizedTest(name = "learnable decay {0}")
    @CsvSource({"true", "false"})
    void keepingStatesLeavesThePackedForwardAsItIsAndTheBackwardWithinTolerance(boolean learnable) {
        // One head and more threads than sequences: the long sequences are cut into segments.
        int[] lengths = {700, 0, 5, 1500, 64};
        Problem p = Problem.draw(Fixture.random("packedKeeping" + learnable), lengths, DType.FP32);
        AttentionOptions options = AttentionOptions.defaults().withScale(SCALE).withLearnableDecay(learnable);
        try (LightningAttention la = Fixture.open(6, Map.of())) {
            Results plain = packed(la, p, DType.FP32, options);
            Results kept = packed(la, p, DType.FP32, options.withSaveForBackward(true));
            if (learnable) {
                // Kept for a decay gradient, the states are carried in double, as the dense call carries them.
                assertThat(ErrorNorms.relative(kept.out(), plain.out())).isLessThan(1e-5);
                assertThat(ErrorNorms.relative(kept.fin(), plain.fin())).isLessThan(1e-5);
            } else {
                identical("output", kept.out(), plain.out());
                identical("final states", kept.fin(), plain.fin());
            }
            for (double[][] pair : List.of(new double[][] {kept.dq(), plain.dq()},
                    new double[][] {kept.dk(), plain.dk()}, new double[][] {kept.dv(), plain.dv()},
                    new double[][] {kept.dInitial(), plain.dInitial()})) {
                assertThat(ErrorNorms.relative(pair[0], pair[1])).isLessThan(1e-5);
            }
            if (learnable) {
                assertThat(ErrorNorms.relative(kept.dDecay(), plain.dDecay())).isLessThan(1e-4);
            }
        }
    }

    private static void identical(String what, double[] got, double[] expected) {
        assertThat(got).hasSameSizeAs(expected);
        int differs = Arrays.mismatch(got, expected);
        assertThat(differs).as(what + " differs first at " + differs + ", " + Fixture.seed()).isEqualTo(-1);
    }

    /** The packed forward (keeping states when the options say so) and backward. */
    private static Results packed(LightningAttention la, Problem p, DType dtype, AttentionOptions options) {
        int t = p.offsets().tokens(), s = p.offsets().sequences();
        Shape keys = Shape.of(t, H, D), values = Shape.of(t, H, E), states = Shape.of(s, H, D, E);
        try (Tensor q = la.tensor(p.q(), dtype, keys); Tensor k = la.tensor(p.k(), dtype, keys);
             Tensor v = la.tensor(p.v(), dtype, values); Tensor dOut = la.tensor(p.dOut(), dtype, values);
             Tensor decay = la.tensor(p.rates(), DType.FP32, Shape.of(H));
             Tensor initial = la.tensor(p.initial(), DType.FP32, states);
             Tensor dFinal = la.tensor(p.dFinal(), DType.FP32, states);
             Tensor out = la.allocate(dtype, values); Tensor fin = la.allocate(DType.FP32, states)) {
            PackedInputs in = new PackedInputs(q, k, v, decay, p.offsets(), initial);
            SavedForward saved = la.forwardPacked(in, options, out, fin);
            try (Gradients g = la.backwardPacked(in, dOut, dFinal, options, saved)) {
                if (options.saveForBackward()) {
                    assertThat(saved.holdsStates()).isTrue();
                    assertThat(saved.byteSize()).isPositive();
                }
                return new Results(out.toDoubleArray(), fin.toDoubleArray(), g.dq().toDoubleArray(),
                        g.dk().toDoubleArray(), g.dv().toDoubleArray(), g.dInitialState().toDoubleArray(),
                        g.dDecay() == null ? null : g.dDecay().toDoubleArray());
            } finally {
                if (saved != null) {
                    saved.close();
                }
            }
        }
    }

    /**
     * Each sequence as a dense call of one sequence in layout BNHD; an empty sequence's final state
     * is its initial state and its dInitialState its dFinalState. dDecay is summed in double.
     */
    private static Results oneByOne(LightningAttention la, Problem p, DType dtype, AttentionOptions options) {
        int t = p.offsets().tokens(), s = p.offsets().sequences(), de = H * D * E;
        Results r = new Results(new double[t * H * E], p.initial().clone(), new double[t * H * D],
                new double[t * H * D], new double[t * H * E], p.dFinal().clone(),
                options.learnableDecay() ? new double[H] : null);
        AttentionOptions dense = options.withLayout(Layout.BNHD);
        try (Tensor decay = la.tensor(p.rates(), DType.FP32, Shape.of(H))) {
            for (int i = 0; i < s; i++) {
                int n = p.offsets().length(i), at = p.offsets().start(i);
                if (n == 0) {
                    continue;
                }
                Shape keys = Shape.of(1, n, H, D), values = Shape.of(1, n, H, E), state = Shape.of(1, H, D, E);
                int kFrom = at * H * D, vFrom = at * H * E;
                try (Tensor q = la.tensor(slice(p.q(), kFrom, n * H * D), dtype, keys);
                     Tensor k = la.tensor(slice(p.k(), kFrom, n * H * D), dtype, keys);
                     Tensor v = la.tensor(slice(p.v(), vFrom, n * H * E), dtype, values);
                     Tensor dOut = la.tensor(slice(p.dOut(), vFrom, n * H * E), dtype, values);
                     Tensor initial = la.tensor(slice(p.initial(), i * de, de), DType.FP32, state);
                     Tensor dFinal = la.tensor(slice(p.dFinal(), i * de, de), DType.FP32, state);
                     Tensor out = la.allocate(dtype, values); Tensor fin = la.allocate(DType.FP32, state)) {
                    AttentionInputs in = AttentionInputs.of(q, k, v, decay).withInitialState(initial);
                    SavedForward saved = la.forward(in, dense, out, fin);
                    try (Gradients g = la.backward(in, dOut, dFinal, dense, saved)) {
                        System.arraycopy(out.toDoubleArray(), 0, r.out(), vFrom, n * H * E);
                        System.arraycopy(fin.toDoubleArray(), 0, r.fin(), i * de, de);
                        System.arraycopy(g.dq().toDoubleArray(), 0, r.dq(), kFrom, n * H * D);
                        System.arraycopy(g.dk().toDoubleArray(), 0, r.dk(), kFrom, n * H * D);
                        System.arraycopy(g.dv().toDoubleArray(), 0, r.dv(), vFrom, n * H * E);
                        System.arraycopy(g.dInitialState().toDoubleArray(), 0, r.dInitial(), i * de, de);
                        if (r.dDecay() != null) {
                            double[] part = g.dDecay().toDoubleArray();
                            for (int h = 0; h < H; h++) {
                                r.dDecay()[h] += part[h];
                            }
                        }
                    } finally {
                        if (saved != null) {
                            saved.close();
                        }
                    }
                }
            }
        }
        if (r.dDecay() != null) {
            for (int h = 0; h < H; h++) {
                r.dDecay()[h] = (float) r.dDecay()[h];
            }
        }
        return r;
    }

    private static double[] slice(double[] a, int from, int length) {
        return Arrays.copyOfRange(a, from, from + length);
    }
}
