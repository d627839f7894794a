package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The serving calls' refusals (SPEC.md section 8) name what a server's caller can act on. */
class ServingValidationTest {
    private final Random random = new Random(System.nanoTime());
    private final LightningAttention la = LightningAttention.open("loop");

    @AfterEach
    void release() {
        la.close();
    }

    private double[] randoms(int n) {
        return random.doubles(n, -1, 1).toArray();
    }

    @Test
    void aCommitWhosePoolIsItsKeysNamesKNotQ() {
        // k [S, K, H, D] and the pool [P, H, D, E] have one shape when S = P and K = H = D = E.
        int n = 2;
        Shape shape = Shape.of(n, n, n, n);
        try (Tensor k = la.tensor(randoms(16), DType.FP32, shape);
             Tensor v = la.tensor(randoms(16), DType.FP32, shape);
             Tensor decay = la.tensor(new double[] {0.1, 0.2}, DType.FP32, Shape.of(n))) {
            double[] before = k.toDoubleArray();
            assertThatThrownBy(() -> la.commit(k, v, decay, PoolSlots.of(k, 0, 1), new int[] {1, 1}))
                    .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("pool"))
                    .hasMessage("pool: got the same tensor as k; expected a tensor of its own");
            assertThat(k.toDoubleArray()).isEqualTo(before);
        }
    }

    @Test
    void thePackedFiniteCheckNamesTheSequenceAndItsToken() {
        int h = 2, d = 3, e = 4;
        SequenceOffsets offsets = SequenceOffsets.ofLengths(4, 0, 6, 3);
        int t = offsets.tokens();
        double[] vData = randoms(t * h * e);
        vData[(4 + 5) * h * e + e + 2] = Double.POSITIVE_INFINITY; // token 5 of sequence 2, head 1
        AttentionOptions checked = AttentionOptions.defaults().withFiniteCheck(true);
        try (Tensor q = la.tensor(randoms(t * h * d), DType.FP32, Shape.of(t, h, d));
             Tensor k = la.tensor(randoms(t * h * d), DType.FP32, Shape.of(t, h, d));
             Tensor v = la.tensor(vData, DType.FP32, Shape.of(t, h, e));
             Tensor decay = la.tensor(new double[] {0.1, 0.2}, DType.FP32, Shape.of(h))) {
            double[] before = v.toDoubleArray();
            assertThatThrownBy(() -> la.forwardPacked(PackedInputs.of(q, k, v, decay, offsets), checked))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("v: got Infinity at [9, 1, 2] (t, h, e) of shape [13, 2, 4], token 5 of sequence 2; "
                            + "expected finite values, since options.checkFinite() is true");
            assertThat(v.toDoubleArray()).isEqualTo(before);
        }
    }

    /**
     * Fresh marks: one per sequence, and a draft (which leaves the pool as it was) refuses them;
     * neither call changes the pool. (What fresh sequences compute: the conformance kit's SlotChecks.)
     */
    @Test
    void freshMarksAreCheckedBeforeAnyWork() {
        int s = 2, h = 1, d = 2, e = 2;
        try (Tensor q = la.tensor(randoms(s * h * d), DType.FP32, Shape.of(s, h, d));
             Tensor k = la.tensor(randoms(s * h * d), DType.FP32, Shape.of(s, h, d));
             Tensor v = la.tensor(randoms(s * h * e), DType.FP32, Shape.of(s, h, e));
             Tensor decay = la.tensor(new double[] {0.3}, DType.FP32, Shape.of(h));
             Tensor pool = la.tensor(randoms(3 * h * d * e), DType.FP32, Shape.of(3, h, d, e));
             Tensor out = la.allocate(DType.FP32, Shape.of(s, h, e));
             Tensor q4 = la.tensor(randoms(s * h * d), DType.FP32, Shape.of(s, 1, h, d));
             Tensor k4 = la.tensor(randoms(s * h * d), DType.FP32, Shape.of(s, 1, h, d));
             Tensor v4 = la.tensor(randoms(s * h * e), DType.FP32, Shape.of(s, 1, h, e));
             Tensor out4 = la.allocate(DType.FP32, Shape.of(s, 1, h, e))) {
            double[] before = pool.toDoubleArray();
            assertThatThrownBy(() -> la.decodeSlots(q, k, v, decay, PoolSlots.of(pool, 2, 0).withFresh(true), 1.0, out))
                    .isInstanceOfSatisfying(La2ArgumentException.class, x -> assertThat(x.argument()).isEqualTo("fresh"))
                    .hasMessageContaining("1 marks").hasMessageContaining("2 (one per sequence)");
            assertThatThrownBy(() -> la.draft(q4, k4, v4, decay, PoolSlots.of(pool, 2, 0).withFresh(true, false), 1.0, out4))
                    .isInstanceOfSatisfying(La2ArgumentException.class, x -> assertThat(x.argument()).isEqualTo("states"));
            assertThat(pool.toDoubleArray()).isEqualTo(before);
        }
    }
}
