package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SavedForward;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A 16-bit call cut into segments computes in fp32 exactly what the FP32 call on the same values
 * computes, and stages the rows its corrections complete in fp32 (see {@link StagedOutput}): so
 * each of its 16-bit outputs is the FP32 call's output rounded once, bit for bit, and its fp32
 * states and gradients are the FP32 call's. Checked on small problems cut unevenly (block 16,
 * N = 83: a partial last block), dense in both layouts and packed, with and without kept states.
 */
class SixteenBitStagingTest {
    private static final int D = 8;
    private static final int E = 12;
    private static final int N = 83;
    private static final double SCALE = 0.7;

    @ParameterizedTest(name = "{0} {1} B={2} H={3}, {4} threads, segmentTokens {5}, s0 {6}, kept {7}, learnable {8}")
    @CsvSource({
        "FP16, BNHD, 2, 1, 5, 0, true, true, true",
        "BF16, BHND, 1, 2, 3, 0, false, true, false",
        "FP16, BHND, 1, 1, 3, 24, true, false, true",
        "BF16, BNHD, 1, 2, 2, 24, false, false, false",
    })
    void denseCallsRoundTheFp32Results(DType dtype, Layout layout, int b, int h, int threads, int segmentTokens,
                                       boolean s0, boolean kept, boolean learnable) {
        SplittableRandom rng = Fixture.random("staged dense " + dtype + layout + b + h + threads);
        double[][] x = draw(rng, dtype, b * h * N, b * h, h);
        AttentionOptions options = AttentionOptions.defaults().withLayout(layout).withScale(SCALE)
                .withLearnableDecay(learnable).withSaveForBackward(kept);
        Map<String, double[]> cut = dense(dtype, threads, segmentTokens, layout, b, h, s0, options, x);
        Map<String, double[]> fp32 = dense(DType.FP32, threads, segmentTokens, layout, b, h, s0, options, x);
        assertRounded(dtype, cut, fp32);
    }

    @ParameterizedTest(name = "{0}, {1} threads, segmentTokens {2}, kept {3}, learnable {4}, pooled {5}")
    @CsvSource({
        "FP16, 5, 0, true, true, false",
        "BF16, 3, 24, false, false, false",
        "FP16, 3, 0, false, false, true",
    })
    void packedCallsRoundTheFp32Results(DType dtype, int threads, int segmentTokens, boolean kept, boolean learnable,
                                        boolean pooled) {
        SequenceOffsets offsets = SequenceOffsets.ofLengths(N, 0, 5, 40);
        int h = 2;
        SplittableRandom rng = Fixture.random("staged packed " + dtype + threads + kept + pooled);
        double[][] x = draw(rng, dtype, offsets.tokens() * h, offsets.sequences() * h, h);
        AttentionOptions options = AttentionOptions.defaults().withScale(SCALE).withLearnableDecay(learnable)
                .withSaveForBackward(kept);
        Map<String, double[]> cut = packed(dtype, threads, segmentTokens, offsets, h, pooled, options, x);
        Map<String, double[]> fp32 = packed(DType.FP32, threads, segmentTokens, offsets, h, pooled, options, x);
        assertRounded(dtype, cut, fp32);
    }

    /** q, k (rows x D), v, dO (rows x E), decay rates, initial states and dFinalStates, as dtype stores them. */
    private static double[][] draw(SplittableRandom rng, DType dtype, int rows, int states, int heads) {
        double[] rates = {0.05, 0.003};
        return new double[][] {stored(rng, rows * D, 0.5, dtype), stored(rng, rows * D, 0.5, dtype),
                stored(rng, rows * E, 1, dtype), stored(rng, rows * E, 1, dtype), Arrays.copyOf(rates, heads),
                stored(rng, states * D * E, 1, DType.FP32), stored(rng, states * D * E, 1, DType.FP32)};
    }

    private static double[] stored(SplittableRandom rng, int count, double std, DType dtype) {
        double[] a = Fixture.gaussian(rng, count, std, DType.FP32);
        for (int i = 0; i < count; i++) {
            a[i] = rounded(dtype, a[i]);
        }
        return a;
    }

    private static LightningAttention open(int threads, int segmentTokens) {
        Map<String, String> properties = new HashMap<>(Map.of("cpu.blockSize", "16"));
        if (segmentTokens > 0) {
            properties.put("cpu.segmentTokens", String.valueOf(segmentTokens));
        }
        return Fixture.open(threads, properties);
    }

    private static Map<String, double[]> dense(DType dtype, int threads, int segmentTokens, Layout layout, int b,
                                               int h, boolean s0, AttentionOptions options, double[][] x) {
        Shape keys = layout.shape(b, h, N, D), values = layout.shape(b, h, N, E), states = Shape.of(b, h, D, E);
        try (LightningAttention la = open(threads, segmentTokens);
             Tensors t = Tensors.of(la, dtype, keys, values, states, x)) {
            AttentionInputs in = AttentionInputs.of(t.q(), t.k(), t.v(), t.decay())
                    .withInitialState(s0 ? t.initial() : null);
            SavedForward saved = la.forward(in, options, t.out(), t.fin());
            try (SavedForward closed = saved; Gradients g = la.backward(in, t.dO(), t.dFinal(), options, saved)) {
                return results(t.out(), t.fin(), g);
            }
        }
    }

    private static Map<String, double[]> packed(DType dtype, int threads, int segmentTokens, SequenceOffsets offsets,
                                                int h, boolean pooled, AttentionOptions options, double[][] x) {
        int tokens = offsets.tokens();
        Shape keys = Shape.of(tokens, h, D), values = Shape.of(tokens, h, E), states = Shape.of(offsets.sequences(), h, D, E);
        try (LightningAttention la = open(threads, segmentTokens);
             Tensors t = Tensors.of(la, dtype, keys, values, states, x)) {
            if (pooled) {
                // The slots in reverse order of the sequences, updated in place.
                la.forwardPacked(PackedInputs.of(t.q(), t.k(), t.v(), t.decay(), offsets),
                        PoolSlots.of(t.initial(), 3, 2, 1, 0), options, t.out());
                return results(t.out(), t.initial(), null);
            }
            PackedInputs in = new PackedInputs(t.q(), t.k(), t.v(), t.decay(), offsets, t.initial());
            SavedForward saved = la.forwardPacked(in, options, t.out(), t.fin());
            try (SavedForward closed = saved; Gradients g = la.backwardPacked(in, t.dO(), t.dFinal(), options, saved)) {
                return results(t.out(), t.fin(), g);
            }
        }
    }

    /** One call's tensors: the inputs as {@link #draw} gives them, the output and the final states. */
    private record Tensors(Tensor q, Tensor k, Tensor v, Tensor dO, Tensor decay, Tensor initial, Tensor dFinal,
                           Tensor out, Tensor fin) implements AutoCloseable {

        static Tensors of(LightningAttention la, DType dtype, Shape keys, Shape values, Shape states, double[][] x) {
            return new Tensors(la.tensor(x[0], dtype, keys), la.tensor(x[1], dtype, keys),
                    la.tensor(x[2], dtype, values), la.tensor(x[3], dtype, values),
                    la.tensor(x[4], DType.FP32, Shape.of(x[4].length)), la.tensor(x[5], DType.FP32, states),
                    la.tensor(x[6], DType.FP32, states), la.allocate(dtype, values), la.allocate(DType.FP32, states));
        }

        @Override
        public void close() {
            for (Tensor t : new Tensor[] {q, k, v, dO, decay, initial, dFinal, out, fin}) {
                t.close();
            }
        }
    }

    /** 16-bit outputs under keys starting "16 ", fp32 ones under the others. */
    private static Map<String, double[]> results(Tensor out, Tensor fin, Gradients g) {
        Map<String, double[]> r = new LinkedHashMap<>();
        r.put("16 output", out.toDoubleArray());
        r.put("final states", fin.toDoubleArray());
        if (g != null) {
            r.put("16 dq", g.dq().toDoubleArray());
            r.put("16 dk", g.dk().toDoubleArray());
            r.put("16 dv", g.dv().toDoubleArray());
            r.put("dInitialState", g.dInitialState().toDoubleArray());
            if (g.dDecay() != null) {
                r.put("dDecay", g.dDecay().toDoubleArray());
            }
        }
        return r;
    }

    private static void assertRounded(DType dtype, Map<String, double[]> cut, Map<String, double[]> fp32) {
        assertThat(cut.keySet()).isEqualTo(fp32.keySet());
        cut.forEach((what, got) -> {
            double[] want = fp32.get(what).clone();
            if (what.startsWith("16 ")) {
                for (int i = 0; i < want.length; i++) {
                    want[i] = rounded(dtype, want[i]);
                }
            }
            int differs = Arrays.mismatch(got, want);
            assertThat(differs).as(what + " differs first at " + differs + ", " + Fixture.seed()).isEqualTo(-1);
        });
    }

    /** x as dtype stores it: to nearest, ties to even. */
    private static double rounded(DType dtype, double x) {
        float f = (float) x;
        return switch (dtype) {
            case FP16 -> Float.float16ToFloat(Float.floatToFloat16(f));
            case BF16 -> {
                int bits = Float.floatToRawIntBits(f);
                yield Float.intBitsToFloat((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000);
            }
            default -> f;
        };
    }
}
