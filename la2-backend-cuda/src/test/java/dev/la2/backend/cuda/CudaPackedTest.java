package dev.la2.backend.cuda;

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
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.backend.cuda.CudaGpuTest.Mode;
import java.util.ArrayList;
import java.util.Arrays;
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
 * The fused packed and slot calls (SPEC.md section 8) against the SPI's per-sequence defaults on
 * the same GPU (a second backend opened with cuda.packedKernels=false), which run each sequence as
 * a dense call. Skipped, with the probe's reason, where no usable GPU is present. Inputs are fresh
 * random values every run; the seed is in every failure message.
 */
class CudaPackedTest {
    private static final long SEED = System.nanoTime();
    private static LightningAttention fused;
    private static LightningAttention perSequence;

    @BeforeAll
    static void open() {
        if (new CudaProvider().probe().isAvailable()) {
            fused = LightningAttention.open("cuda");
            perSequence = LightningAttention.open("cuda", BackendOptions.defaults().withProperty("cuda.packedKernels", "false"));
        }
    }

    @BeforeEach
    void requireGpu() {
        CudaGpuTest.assumeGpu();
    }

    @AfterAll
    static void close() {
        if (fused != null) {
            fused.close();
            perSequence.close();
        }
    }

    private final SplittableRandom rnd = new SplittableRandom(SEED);

    private float[] normal(long count, double std) {
        float[] x = new float[Math.toIntExact(count)];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextGaussian() * std);
        }
        return x;
    }

    private float[] decays(int h) {
        float[] x = new float[h];
        for (int i = 0; i < h; i++) {
            x[i] = (float) (0.005 + 0.3 * rnd.nextDouble());
        }
        return x;
    }

    /** The same host data as a tensor of each backend: [0] fused, [1] per sequence. */
    private static Tensor[] pair(float[] data, DType dtype, Shape shape) {
        return new Tensor[] {fused.tensor(data, dtype, shape), perSequence.tensor(data, dtype, shape)};
    }

    private static void closeAll(Tensor[]... pairs) {
        for (Tensor[] p : pairs) {
            if (p != null) {
                for (Tensor t : p) {
                    t.close();
                }
            }
        }
    }

    /** max |got - want| within tol times the larger of 1 and max |want|, and nothing non-finite. */
    private static void assertClose(Tensor got, Tensor want, double tol, String what) {
        float[] g = got.toFloatArray(), w = want.toFloatArray();
        double ref = 1;
        for (float x : w) {
            ref = Math.max(ref, Math.abs(x));
        }
        for (int i = 0; i < g.length; i++) {
            double diff = Math.abs((double) g[i] - w[i]);
            if (!(diff <= tol * ref)) {
                throw new AssertionError(what + ": element " + i + " of " + g.length + " is " + g[i] + ", expected " + w[i]
                        + " (tolerance " + tol * ref + ", seed " + SEED + ")");
            }
        }
    }

    record Dims(int h, int d, int e) {
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Mode m : Mode.values()) {
            for (Dims dims : List.of(new Dims(3, 64, 128), new Dims(2, 16, 24))) {
                for (boolean learn : new boolean[] {false, true}) {
                    out.add(Arguments.of(m, dims, learn));
                }
            }
        }
        return out.stream();
    }

    /** Lengths 0, 1, C-1, C, C+1 and random ones up to 5000, shuffled, in one call. */
    private int[] lengths() {
        List<Integer> l = new ArrayList<>(List.of(0, 1, 63, 64, 65));
        for (int i = 0; i < 4; i++) {
            l.add(rnd.nextInt(5001));
        }
        for (int i = l.size() - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            Integer x = l.get(i);
            l.set(i, l.get(j));
            l.set(j, x);
        }
        return l.stream().mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest(name = "{0} {1} learnableDecay={2}")
    @MethodSource("cases")
    void packedForwardAndBackwardEqualTheSequencesOneByOne(Mode m, Dims dims, boolean learn) {
        compare(m, SequenceOffsets.ofLengths(lengths()), dims.h(), dims.d(), dims.e(), learn);
    }

    /** More than 65,535 sequences x heads in one call. */
    @Test
    void moreThan65535SequenceHeads() {
        int s = 17_000;
        int[] lengths = new int[s];
        for (int i = 0; i < s; i++) {
            lengths[i] = rnd.nextInt(4);
        }
        compare(Mode.BF16, SequenceOffsets.ofLengths(lengths), 4, 16, 16, true);
    }

    private void compare(Mode m, SequenceOffsets offsets, int h, int d, int e, boolean learn) {
        int t = offsets.tokens(), s = offsets.sequences();
        DType st = m.dtype.stateType();
        Shape keys = Shape.of(t, h, d), values = Shape.of(t, h, e), states = Shape.of(s, h, d, e);
        Tensor[] q = pair(normal(keys.elementCount(), 1 / Math.sqrt(d)), m.dtype, keys);
        Tensor[] k = pair(normal(keys.elementCount(), 1 / Math.sqrt(d)), m.dtype, keys);
        Tensor[] v = pair(normal(values.elementCount(), 1), m.dtype, values);
        Tensor[] dO = pair(normal(values.elementCount(), 1), m.dtype, values);
        Tensor[] s0 = pair(normal(states.elementCount(), 0.5), st, states);
        Tensor[] dSf = pair(normal(states.elementCount(), 0.5), st, states);
        Tensor[] decay = pair(decays(h), DType.FP32, Shape.of(h));
        AttentionOptions options = AttentionOptions.defaults().withPrecision(m.precision).withScale(0.7)
                .withLearnableDecay(learn).withFinalState(true);
        String what = m + " H" + h + " D" + d + " E" + e + " S" + s + " T" + t;
        ForwardResult[] fwd = new ForwardResult[2];
        Gradients[] grads = new Gradients[2];
        try {
            for (int i = 0; i < 2; i++) {
                LightningAttention la = i == 0 ? fused : perSequence;
                PackedInputs in = PackedInputs.of(q[i], k[i], v[i], decay[i], offsets).withInitialState(s0[i]);
                fwd[i] = la.forwardPacked(in, options);
                grads[i] = la.backwardPacked(in, dO[i], dSf[i], options, null);
            }
            assertClose(fwd[0].output(), fwd[1].output(), m.tol, what + " output");
            assertClose(fwd[0].finalState(), fwd[1].finalState(), m.tol, what + " final state");
            assertClose(grads[0].dq(), grads[1].dq(), m.tol, what + " dq");
            assertClose(grads[0].dk(), grads[1].dk(), m.tol, what + " dk");
            assertClose(grads[0].dv(), grads[1].dv(), m.tol, what + " dv");
            assertClose(grads[0].dInitialState(), grads[1].dInitialState(), m.tol, what + " dInitialState");
            if (learn) {
                assertClose(grads[0].dDecay(), grads[1].dDecay(), m.tol, what + " dDecay");
            }
        } finally {
            for (int i = 0; i < 2; i++) {
                if (fwd[i] != null) {
                    fwd[i].close();
                }
                if (grads[i] != null) {
                    grads[i].close();
                }
            }
            closeAll(q, k, v, dO, s0, dSf, decay);
        }
    }

    /** Slots permuted and padded, reused across two calls (a prefill in two pieces). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void pooledPrefillInPiecesEqualsTheDefault(Mode m) {
        int h = 3, d = 64, e = 64, pool = 9;
        int[] slots = {4, -1, 0, 7, 2, 8};
        Shape poolShape = Shape.of(pool, h, d, e);
        Tensor[] p = pair(normal(poolShape.elementCount(), 0.5), m.dtype.stateType(), poolShape);
        Tensor[] decay = pair(decays(h), DType.FP32, Shape.of(h));
        try {
            for (int piece = 0; piece < 2; piece++) {
                SequenceOffsets offsets = SequenceOffsets.ofLengths(lengths6());
                int t = offsets.tokens();
                Shape keys = Shape.of(t, h, d), values = Shape.of(t, h, e);
                Tensor[] q = pair(normal(keys.elementCount(), 1 / Math.sqrt(d)), m.dtype, keys);
                Tensor[] k = pair(normal(keys.elementCount(), 1 / Math.sqrt(d)), m.dtype, keys);
                Tensor[] v = pair(normal(values.elementCount(), 1), m.dtype, values);
                Tensor[] out = new Tensor[] {fused.allocate(m.dtype, values), perSequence.allocate(m.dtype, values)};
                try {
                    for (int i = 0; i < 2; i++) {
                        LightningAttention la = i == 0 ? fused : perSequence;
                        la.forwardPacked(PackedInputs.of(q[i], k[i], v[i], decay[i], offsets), PoolSlots.of(p[i], slots),
                                AttentionOptions.defaults().withPrecision(m.precision), out[i]);
                    }
                    assertClose(out[0], out[1], m.tol, m + " pooled output, piece " + piece);
                    assertClose(p[0], p[1], m.tol, m + " pool after piece " + piece);
                } finally {
                    closeAll(q, k, v, out);
                }
            }
        } finally {
            closeAll(p, decay);
        }
    }

    private int[] lengths6() {
        return new int[] {rnd.nextInt(300), rnd.nextInt(70), 0, rnd.nextInt(2000), 1, 64};
    }

    static Stream<Mode> modes() {
        return Stream.of(Mode.values());
    }

    @ParameterizedTest(name = "S={0}")
    @MethodSource("decodeSizes")
    void decodeBySlotEqualsTheDefault(int s) {
        int h = 32, d = 128, e = 128, pool = s + 3;
        int[] slots = Arrays.copyOf(permutation(pool), s);
        if (s > 1) {
            slots[s / 2] = -1;
        }
        for (DType dtype : List.of(DType.BF16, DType.FP32)) {
            Shape poolShape = Shape.of(pool, h, d, e), keys = Shape.of(s, h, d), values = Shape.of(s, h, e);
            Tensor[] p = pair(normal(poolShape.elementCount(), 0.5), DType.FP32, poolShape);
            Tensor[] q = pair(normal(keys.elementCount(), 0.1), dtype, keys);
            Tensor[] k = pair(normal(keys.elementCount(), 0.1), dtype, keys);
            Tensor[] v = pair(normal(values.elementCount(), 1), dtype, values);
            Tensor[] decay = pair(decays(h), DType.FP32, Shape.of(h));
            Tensor[] out = {fused.allocate(dtype, values), perSequence.allocate(dtype, values)};
            try {
                for (int i = 0; i < 2; i++) {
                    out[i].fill(Double.NaN);
                    (i == 0 ? fused : perSequence).decodeSlots(q[i], k[i], v[i], decay[i], PoolSlots.of(p[i], slots), 0.9, out[i]);
                }
                assertClose(out[0], out[1], 1e-6, dtype + " decode-by-slot output");
                assertClose(p[0], p[1], 1e-6, dtype + " pool after decode by slot");
            } finally {
                closeAll(p, q, k, v, decay, out);
            }
        }
    }

    /** 0 .. n-1 in random order. */
    private int[] permutation(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int x = p[i];
            p[i] = p[j];
            p[j] = x;
        }
        return p;
    }

    static Stream<Integer> decodeSizes() {
        return Stream.of(256, 1);
    }

    /** Drafts equal the default's (a forward from each slot), the pool is unchanged by them, and commit advances it as the default does. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void draftAndCommitEqualTheDefault(Mode m) {
        int s = 5, kk = 4, h = 3, d = 64, e = 128, pool = 7;
        int[] slots = {3, -1, 0, 6, 1};
        int[] accepted = {2, 3, 0, 4, 1};
        Shape poolShape = Shape.of(pool, h, d, e), keys = Shape.of(s, kk, h, d), values = Shape.of(s, kk, h, e);
        Tensor[] p = pair(normal(poolShape.elementCount(), 0.5), DType.FP32, poolShape);
        Tensor[] q = pair(normal(keys.elementCount(), 1 / Math.sqrt(d)), m.dtype, keys);
        Tensor[] k = pair(normal(keys.elementCount(), 1 / Math.sqrt(d)), m.dtype, keys);
        Tensor[] v = pair(normal(values.elementCount(), 1), m.dtype, values);
        Tensor[] decay = pair(decays(h), DType.FP32, Shape.of(h));
        Tensor[] out = {fused.allocate(m.dtype, values), perSequence.allocate(m.dtype, values)};
        try {
            float[] before = p[0].toFloatArray();
            for (int i = 0; i < 2; i++) {
                out[i].fill(Double.NaN);
                (i == 0 ? fused : perSequence).draft(q[i], k[i], v[i], decay[i], PoolSlots.of(p[i], slots), 0.8, out[i]);
            }
            assertClose(out[0], out[1], m.tol, m + " draft output");
            assertThat(p[0].toFloatArray()).as("pool after draft").containsExactly(before);
            for (int i = 0; i < 2; i++) {
                (i == 0 ? fused : perSequence).commit(k[i], v[i], decay[i], PoolSlots.of(p[i], slots), accepted);
            }
            assertClose(p[0], p[1], m.tol, m + " pool after commit");
        } finally {
            closeAll(p, q, k, v, decay, out);
        }
    }

    /**
     * A packed call over tensors of more than 2^31 elements (H=32, D=E=128, bf16): the sequence
     * that crosses element 2^31 equals the same sequence run alone as a dense call, forward and
     * backward. Its inputs are uploaded into views of device-filled tensors.
     */
    @Test
    void tensorsOfMoreThan2To31Elements() {
        int h = 32, d = 128, e = 128;
        int crossing = 1288;
        int[] lengths = {300_000, 224_000, crossing};
        SequenceOffsets offsets = SequenceOffsets.ofLengths(lengths);
        int t = offsets.tokens(), start = offsets.start(2);
        assertThat((long) t * h * d).isGreaterThan(1L << 31);
        assertThat((long) start * h * d).isLessThan(1L << 31);
        Shape keys = Shape.of(t, h, d), values = Shape.of(t, h, e), one = Shape.of(1, crossing, h, d);
        float[] qx = normal(one.elementCount(), 1 / Math.sqrt(d)), kx = normal(one.elementCount(), 1 / Math.sqrt(d));
        float[] vx = normal(one.elementCount(), 1), gx = normal(one.elementCount(), 1);
        AttentionOptions options = AttentionOptions.defaults().withFinalState(true);
        try (Tensor q = fused.allocate(DType.BF16, keys); Tensor k = fused.allocate(DType.BF16, keys);
             Tensor v = fused.allocate(DType.BF16, values); Tensor dO = fused.allocate(DType.BF16, values);
             Tensor decay = fused.tensor(decays(h), DType.FP32, Shape.of(h))) {
            CudaBackend be = ((CudaTensor) q).owner();
            Tensor[] big = {q, k, v, dO};
            float[][] host = {qx, kx, vx, gx};
            for (int i = 0; i < 4; i++) {
                be.randomFill(big[i], i + 1, i < 2 ? 1 / Math.sqrt(d) : 1);
                be.view(big[i], (long) start * h * d, one).copyFrom(host[i]);
            }
            try (ForwardResult packed = fused.forwardPacked(PackedInputs.of(q, k, v, decay, offsets), options);
                 Gradients g = fused.backwardPacked(PackedInputs.of(q, k, v, decay, offsets), dO, null, options, null);
                 Tensor q1 = fused.tensor(qx, DType.BF16, one); Tensor k1 = fused.tensor(kx, DType.BF16, one);
                 Tensor v1 = fused.tensor(vx, DType.BF16, one); Tensor g1 = fused.tensor(gx, DType.BF16, one)) {
                AttentionOptions dense = options.withLayout(Layout.BNHD);
                AttentionInputs in = AttentionInputs.of(q1, k1, v1, decay);
                try (ForwardResult alone = fused.forward(in, dense); Gradients ga = fused.backward(in, g1, null, dense)) {
                    long at = (long) start * h * d;
                    assertClose(be.view(packed.output(), at, one), alone.output(), Mode.BF16.tol, "output past 2^31");
                    assertClose(be.view(packed.finalState(), 2L * h * d * e, Shape.of(1, h, d, e)), alone.finalState(),
                            Mode.BF16.tol, "final state");
                    assertClose(be.view(g.dq(), at, one), ga.dq(), Mode.BF16.tol, "dq past 2^31");
                    assertClose(be.view(g.dk(), at, one), ga.dk(), Mode.BF16.tol, "dk past 2^31");
                    assertClose(be.view(g.dv(), at, one), ga.dv(), Mode.BF16.tol, "dv past 2^31");
                    assertClose(be.view(g.dInitialState(), 2L * h * d * e, Shape.of(1, h, d, e)), ga.dInitialState(),
                            Mode.BF16.tol, "dInitialState");
                }
            }
        }
    }

    /**
     * The finite check of a pooled call on a device pool (SPEC.md sections 3 and 8): it reads the
     * named slots only, each through a view, and names a non-finite element by its index in the pool.
     */
    @Test
    void theFiniteCheckReadsOnlyTheNamedSlotsOfADevicePool() {
        int slots = 6, d = 16, e = 8, slot = 4;
        float[] states = normal((long) slots * d * e, 1);
        states[2 * d * e + 3] = Float.NaN; // slot 2, named by no call
        states[slot * d * e + 5 * e + 1] = Float.POSITIVE_INFINITY;
        AttentionOptions checked = AttentionOptions.defaults().withFiniteCheck(true);
        try (Tensor pool = fused.tensor(states, DType.FP32, Shape.of(slots, 1, d, e));
             Tensor q = fused.tensor(normal(2 * d, 0.25), DType.FP32, Shape.of(2, 1, d));
             Tensor k = fused.tensor(normal(2 * d, 0.25), DType.FP32, Shape.of(2, 1, d));
             Tensor v = fused.tensor(normal(2 * e, 1), DType.FP32, Shape.of(2, 1, e));
             Tensor decay = fused.tensor(decays(1), DType.FP32, Shape.of(1));
             Tensor out = fused.allocate(DType.FP32, Shape.of(2, 1, e))) {
            PackedInputs in = PackedInputs.of(q, k, v, decay, SequenceOffsets.ofLengths(1, 1));
            assertThatThrownBy(() -> fused.forwardPacked(in, PoolSlots.of(pool, 0, slot), checked, out))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("pool: got Infinity at [" + slot + ", 0, 5, 1] (slot, h, d, e) of shape [" + slots + ", 1, "
                            + d + ", " + e + "]; expected finite values, since options.checkFinite() is true");
            assertThat(pool.toFloatArray()).as("the refused call changes nothing").isEqualTo(states);
            fused.forwardPacked(in, PoolSlots.of(pool, 0, 5), checked, out);
            assertThat(out.toFloatArray()).doesNotContain(Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY);
        }
    }
}
