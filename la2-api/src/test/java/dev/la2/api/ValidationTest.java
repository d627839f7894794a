package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The facade rejects bad calls before any work, with messages naming the argument. */
class ValidationTest {
    private static final int B = 2, H = 3, N = 5, D = 4, E = 6;

    private final long seed = System.nanoTime();
    private final Random random = new Random(seed);
    private LightningAttention la;
    private Tensor q, k, v, decay;
    private float[] qData;

    @BeforeEach
    void open() {
        la = LightningAttention.open("loop");
        qData = randoms(B * H * N * D);
        q = la.tensor(qData, DType.FP32, Shape.of(B, H, N, D));
        k = la.tensor(randoms(B * H * N * D), DType.FP32, Shape.of(B, H, N, D));
        v = la.tensor(randoms(B * H * N * E), DType.FP32, Shape.of(B, H, N, E));
        decay = la.tensor(new float[] {0f, 0.5f, 2f}, DType.FP32, Shape.of(H));
    }

    @AfterEach
    void close() {
        la.close();
    }

    private float[] randoms(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) random.nextGaussian();
        }
        return a;
    }

    private ForwardResult forward(AttentionInputs in) {
        return la.forward(in, AttentionOptions.defaults());
    }

    @Test
    void wrongRankNamesTheArgumentAndTheExpectedAxes() {
        try (Tensor q3 = la.allocate(DType.FP32, Shape.of(B, H, N))) {
            assertThatThrownBy(() -> forward(AttentionInputs.of(q3, k, v, decay)))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("q: got shape [2, 3, 5] (rank 3); expected rank 4, [B, H, N, D] for layout BHND");
        }
    }

    @Test
    void repeatedTimingRunsTheWorkOncePerTimeAndRejectsNoRuns() {
        int[] runs = {0};
        double[] ms = Diagnostics.of(la).timeMillis(() -> runs[0]++, 4);
        assertThat(ms).hasSize(4);
        assertThat(java.util.Arrays.stream(ms).min().orElseThrow()).isGreaterThanOrEqualTo(0);
        assertThat(runs[0]).isEqualTo(4);
        assertThatThrownBy(() -> Diagnostics.of(la).timeMillis(() -> runs[0]++, 0))
                .isInstanceOf(La2ArgumentException.class)
                .hasMessage("times: got 0; expected at least 1 run to time");
        assertThat(runs[0]).isEqualTo(4);
    }

    @Test
    void diagnosticsOfAClosedInstanceRefuseEveryCall() {
        LightningAttention other = LightningAttention.open(la.backendName());
        Diagnostics diag = Diagnostics.of(other);
        assertThat(diag.memoryStats()).isNotNull();
        other.close();
        for (org.assertj.core.api.ThrowableAssert.ThrowingCallable call : new org.assertj.core.api.ThrowableAssert.ThrowingCallable[] {
                diag::memoryStats, diag::resetPeakMemory, () -> diag.timeMillis(() -> { }), () -> diag.timeMillis(() -> { }, 2)}) {
            assertThatThrownBy(call).isInstanceOf(IllegalStateException.class).hasMessageContaining("is closed");
        }
    }

    @Test
    void nullLayoutOrPrecisionInOptionsIsNamed() {
        assertThatThrownBy(() -> AttentionOptions.defaults().withLayout(null))
                .isInstanceOf(La2ArgumentException.class)
                .hasMessage("layout: got null; expected one of [BHND, BNHD]");
        assertThatThrownBy(() -> AttentionOptions.defaults().withPrecision(null))
                .isInstanceOf(La2ArgumentException.class)
                .hasMessageStartingWith("precision: got null;");
    }

    @Test
    void mismatchedKeyShape() {
        try (Tensor k2 = la.allocate(DType.FP32, Shape.of(B, H, N + 1, D))) {
            assertThatThrownBy(() -> forward(AttentionInputs.of(q, k2, v, decay)))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("k: got shape [2, 3, 6, 4]; expected [2, 3, 5, 4]");
        }
    }

    @Test
    void valueWithOtherTokenCountInBnhd() {
        AttentionOptions bnhd = AttentionOptions.defaults().withLayout(Layout.BNHD);
        try (Tensor qb = la.allocate(DType.FP32, Shape.of(B, N, H, D));
             Tensor kb = la.allocate(DType.FP32, Shape.of(B, N, H, D));
             Tensor vb = la.allocate(DType.FP32, Shape.of(B, N + 2, H, E))) {
            assertThatThrownBy(() -> la.forward(AttentionInputs.of(qb, kb, vb, decay), bnhd))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("v: got shape [2, 7, 3, 6]; expected [2, 5, 3, 6]")
                    .hasMessageContaining("[B, N, H, E]");
        }
    }

    @Test
    void mismatchedDtype() {
        try (Tensor k64 = la.allocate(DType.FP64, Shape.of(B, H, N, D))) {
            assertThatThrownBy(() -> forward(AttentionInputs.of(q, k64, v, decay)))
                    .hasMessage("k: got dtype FP64; expected dtype FP32");
        }
    }

    @Test
    void unsupportedDtypeListsWhatTheBackendOffers() {
        assertThatThrownBy(() -> la.allocate(DType.BF16, Shape.of(1)))
                .isInstanceOf(La2ArgumentException.class)
                .hasMessageContaining("dtype: got BF16; expected one of");
    }

    @Test
    void negativeNanAndInfiniteDecayAreRejected() {
        for (float bad : new float[] {-0.1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            try (Tensor d = la.tensor(new float[] {0f, bad, 1f}, DType.FP32, Shape.of(H))) {
                assertThatThrownBy(() -> forward(AttentionInputs.of(q, k, v, d)))
                        .isInstanceOf(La2ArgumentException.class)
                        .hasMessageStartingWith("decay: got rate " + bad + " for head 1; expected finite rates >= 0");
            }
        }
    }

    @Test
    void finiteCheckNamesTheFirstNonFiniteElementAndLeavesOutputsAlone() {
        AttentionOptions checked = AttentionOptions.defaults().withFiniteCheck(true);
        float[] bad = qData.clone();
        bad[((1 * H + 2) * N + 3) * D + 1] = Float.NaN; // [1, 2, 3, 1]
        bad[((1 * H + 2) * N + 4) * D] = Float.POSITIVE_INFINITY; // later: not the first
        try (Tensor qBad = la.tensor(bad, DType.FP32, Shape.of(B, H, N, D));
             Tensor out = la.allocate(DType.FP32, Shape.of(B, H, N, E))) {
            out.fill(7);
            assertThatThrownBy(() -> la.forward(AttentionInputs.of(qBad, k, v, decay), checked, out, null))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("q: got NaN at [1, 2, 3, 1] (b, h, t, d) of shape [2, 3, 5, 4]; expected finite values, "
                            + "since options.checkFinite() is true");
            assertThat(out.toFloatArray()).containsOnly(7f);
            // Without the check the NaN propagates, as SPEC.md says.
            la.forward(AttentionInputs.of(qBad, k, v, decay), AttentionOptions.defaults(), out, null);
            assertThat(out.toFloatArray()).contains(Float.NaN);
        }
    }

    @Test
    void finiteCheckCoversEveryInputInBothLayoutsAndTheBackward() {
        AttentionOptions checked = AttentionOptions.defaults().withFiniteCheck(true);
        float[] vData = randoms(B * N * H * E);
        vData[((0 * N + 4) * H + 1) * E + 5] = Float.NEGATIVE_INFINITY; // [0, 4, 1, 5] in BNHD
        try (Tensor qb = la.tensor(randoms(B * N * H * D), DType.FP32, Shape.of(B, N, H, D));
             Tensor kb = la.tensor(randoms(B * N * H * D), DType.FP32, Shape.of(B, N, H, D));
             Tensor vb = la.tensor(vData, DType.FP32, Shape.of(B, N, H, E))) {
            assertThatThrownBy(() -> la.forward(AttentionInputs.of(qb, kb, vb, decay), checked.withLayout(Layout.BNHD)))
                    .hasMessageStartingWith("v: got -Infinity at [0, 4, 1, 5] (b, t, h, e) of shape [2, 5, 3, 6]");
        }
        float[] state = randoms(B * H * D * E);
        state[H * D * E - 1] = Float.NaN; // [0, 2, 3, 5]
        float[] dOut = randoms(B * H * N * E);
        dOut[B * H * N * E - 1] = Float.POSITIVE_INFINITY;
        try (Tensor s0 = la.tensor(state, DType.FP32, Shape.of(B, H, D, E));
             Tensor dO = la.tensor(dOut, DType.FP32, Shape.of(B, H, N, E));
             Tensor good = la.tensor(randoms(B * H * N * E), DType.FP32, Shape.of(B, H, N, E))) {
            assertThatThrownBy(() -> la.forward(AttentionInputs.of(q, k, v, decay).withInitialState(s0), checked))
                    .hasMessageStartingWith("initialState: got NaN at [0, 2, 3, 5] (b, h, d, e)");
            assertThatThrownBy(() -> la.backward(AttentionInputs.of(q, k, v, decay), dO, null, checked))
                    .hasMessageStartingWith("dOutput: got Infinity at [1, 2, 4, 5] (b, h, t, e)");
            assertThatThrownBy(() -> la.backward(AttentionInputs.of(q, k, v, decay), good, s0, checked))
                    .hasMessageStartingWith("dFinalState: got NaN at [0, 2, 3, 5] (b, h, d, e)");
            // Finite inputs pass the check and reach the backend (this test backend has no backward).
            assertThatThrownBy(() -> la.backward(AttentionInputs.of(q, k, v, decay), good, null, checked))
                    .isInstanceOf(UnsupportedOperationException.class);
        }
    }

    @Test
    void decayOfWrongLength() {
        try (Tensor d = la.tensor(new float[] {0f, 1f}, DType.FP32, Shape.of(2))) {
            assertThatThrownBy(() -> forward(AttentionInputs.of(q, k, v, d)))
                    .hasMessageStartingWith("decay: got shape [2]; expected [3] ([H] with H=3");
        }
    }

    @Test
    void nullAndClosedTensors() {
        assertThatThrownBy(() -> forward(AttentionInputs.of(q, k, null, decay))).hasMessage("v: got null; expected a value");
        Tensor closed = la.allocate(DType.FP32, Shape.of(B, H, N, D));
        closed.close();
        assertThatThrownBy(() -> forward(AttentionInputs.of(q, closed, v, decay)))
                .hasMessage("k: got a closed tensor (FP32 [2, 3, 5, 4]); expected an open tensor");
        assertThatThrownBy(() -> closed.toFloatArray()).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void tensorOfAnotherInstanceIsRejected() {
        try (LightningAttention other = LightningAttention.open("loop");
             Tensor foreign = other.tensor(qData, DType.FP32, Shape.of(B, H, N, D))) {
            assertThatThrownBy(() -> forward(AttentionInputs.of(foreign, k, v, decay)))
                    .hasMessageStartingWith("q: got a tensor of backend 'loop'; expected a tensor made by this instance");
        }
    }

    @Test
    void outputsMayNotAliasInputs() {
        try (Tensor out = la.allocate(DType.FP32, Shape.of(B, H, N, E))) {
            assertThatThrownBy(() -> la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults(), v, null))
                    .hasMessage("output: got the same tensor as v; expected a tensor of its own (outputs may not alias)");
            try (Tensor wrongState = la.allocate(DType.FP32, Shape.of(B, H, E, D))) {
                assertThatThrownBy(() -> la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults(), out, wrongState))
                        .hasMessageStartingWith("finalState: got shape [2, 3, 6, 4]; expected [2, 3, 4, 6]");
            }
        }
    }

    @Test
    void nonFiniteScaleIsRejectedByTheOptions() {
        assertThatThrownBy(() -> AttentionOptions.defaults().withScale(Double.NaN))
                .hasMessage("scale: got NaN; expected a finite number");
    }

    @Test
    void aScaleFp32CannotHoldIsRejectedWhereTheStorageComputesInFp32() {
        for (double bad : new double[] {1e39, -1e39, 1e-40, -Double.MIN_VALUE}) {
            assertThatThrownBy(() -> la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults().withScale(bad)))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("scale: got " + bad + "; expected 0 or a magnitude from " + Float.MIN_NORMAL)
                    .hasMessageEndingWith("since FP32 storage computes in fp32");
            try (Tensor state = la.allocate(DType.FP32, Shape.of(B, H, D, E));
                 Tensor q1 = la.allocate(DType.FP32, Shape.of(B, H, D));
                 Tensor k1 = la.allocate(DType.FP32, Shape.of(B, H, D));
                 Tensor v1 = la.allocate(DType.FP32, Shape.of(B, H, E))) {
                assertThatThrownBy(() -> la.decode(q1, k1, v1, decay, state, bad))
                        .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("scale: got " + bad + ";");
            }
        }
        try (ForwardResult r = la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults().withScale(0))) {
            assertThat(java.util.Arrays.stream(r.output().toDoubleArray()).allMatch(x -> x == 0)).isTrue();
        }
        // FP64 storage computes in fp64: any finite scale.
        try (Tensor q64 = la.tensor(q.toDoubleArray(), DType.FP64, q.shape());
             Tensor k64 = la.tensor(k.toDoubleArray(), DType.FP64, k.shape());
             Tensor v64 = la.tensor(v.toDoubleArray(), DType.FP64, v.shape());
             Tensor decay64 = la.tensor(decay.toDoubleArray(), DType.FP64, decay.shape());
             ForwardResult r = la.forward(AttentionInputs.of(q64, k64, v64, decay64), AttentionOptions.defaults().withScale(1e39))) {
            assertThat(java.util.Arrays.stream(r.output().toDoubleArray()).allMatch(Double::isFinite)).isTrue();
        }
    }

    @Test
    void afterRejectedCallsTheBackendStillComputesAndInputsAreUnchanged() {
        float[] before = q.toFloatArray();
        try (Tensor bad = la.tensor(new float[] {-1f, 0f, 0f}, DType.FP32, Shape.of(H))) {
            assertThatThrownBy(() -> forward(AttentionInputs.of(q, k, v, bad))).isInstanceOf(La2ArgumentException.class);
        }
        assertThat(q.toFloatArray()).as("seed %d", seed).containsExactly(before);
        try (ForwardResult r = forward(AttentionInputs.of(q, k, v, decay))) {
            float[] o = r.output().toFloatArray();
            // First token of (b=0, h=0): o = q0 . k0 * v0 (no decay, zero state).
            double dot = 0;
            float[] kk = k.toFloatArray(), vv = v.toFloatArray();
            for (int x = 0; x < D; x++) {
                dot += qData[x] * kk[x];
            }
            assertThat((double) o[0]).as("seed %d", seed).isCloseTo(dot * vv[0], org.assertj.core.data.Offset.offset(1e-5));
        }
    }

    @Test
    void closedFacadeFailsClearly() {
        la.close();
        assertThatThrownBy(() -> forward(AttentionInputs.of(q, k, v, decay)))
                .isInstanceOf(IllegalStateException.class).hasMessage("la2 backend 'loop' is closed");
    }

    @Test
    void shapeRejectsZeroAndNegativeExtents() {
        assertThatThrownBy(() -> Shape.of(2, 0, 3)).isInstanceOf(La2ArgumentException.class)
                .hasMessage("shape: got extent 1 of [2, 0, 3], which is 0; expected every extent >= 1");
        assertThatThrownBy(() -> Shape.of(-1)).hasMessageContaining("is -1");
        assertThatThrownBy(() -> Shape.of(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE))
                .hasMessageContaining("more than 2^63 elements");
    }

    @Test
    void dataOfWrongLength() {
        assertThatThrownBy(() -> la.tensor(new float[5], DType.FP32, Shape.of(2, 3)))
                .hasMessage("data: got an array of 5 elements; expected 6 elements for shape [2, 3]");
    }

    @Test
    void pooledFiniteCheckReadsOnlyTheSlotsTheSequencesName() {
        AttentionOptions checked = AttentionOptions.defaults().withFiniteCheck(true);
        float[] states = randoms(4 * H * D * E);
        states[3 * H * D * E + 1] = Float.NaN; // [3, 0, 0, 1]: slot 3
        try (Tensor qp = la.tensor(randoms(N * H * D), DType.FP32, Shape.of(N, H, D));
             Tensor kp = la.tensor(randoms(N * H * D), DType.FP32, Shape.of(N, H, D));
             Tensor vp = la.tensor(randoms(N * H * E), DType.FP32, Shape.of(N, H, E));
             Tensor pool = la.tensor(states, DType.FP32, Shape.of(4, H, D, E));
             Tensor out = la.allocate(DType.FP32, Shape.of(N, H, E))) {
            PackedInputs in = PackedInputs.of(qp, kp, vp, decay, SequenceOffsets.ofLengths(2, 0, 3));
            assertThatThrownBy(() -> la.forwardPacked(in, PoolSlots.of(pool, 0, 3, 1), checked, out))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("pool: got NaN at [3, 0, 0, 1] (slot, h, d, e) of shape [4, 3, 4, 6]; expected finite "
                            + "values, since options.checkFinite() is true");
            // Slot 3 is no input of this call: the check passes and the call reaches the backend (this
            // test backend cannot view the packed tensors).
            assertThatThrownBy(() -> la.forwardPacked(in, PoolSlots.of(pool, 0, -1, 1), checked, out))
                    .isInstanceOf(UnsupportedOperationException.class);
        }
    }

    @Test
    void nullSequenceLengthsAreRefusedByName() {
        assertThatThrownBy(() -> SequenceOffsets.ofLengths((int[]) null))
                .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("lengths"));
    }
}
