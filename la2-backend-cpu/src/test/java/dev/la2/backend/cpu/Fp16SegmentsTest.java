package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import org.junit.jupiter.api.Test;

/**
 * FP16 results that fit FP16 while a partial sum of them does not: a sequence cut into segments
 * would store the later segment's partial rows (70000 here) as infinity before correcting them.
 */
class Fp16SegmentsTest {
    @Test
    void resultsWithinRangeStayFiniteWhateverTheSegmentSettings() {
        // B = H = D = E = 1, no decay, N = 2: o_1 = q_1 (k_0 v_0 + k_1 v_1) = -30000 + 70000.
        double[] q = {1, 1}, k = {1, 2}, v = {-30000, 35000}, dO = {0.5, 1};
        // (v_1 is 35008 in FP16, and 40016 rounds to 40000)
        double[] expectedO = {-30000, 40000};
        // dq_1 = dO_1 (v_0 k_0 + v_1 k_1), its partial in the second segment 70016
        double[] expectedDq = {0.5 * -30000, 40000};
        BackendOptions cut = BackendOptions.defaults().withThreads(2).withProperty("cpu.blockSize", "1")
                .withProperty("cpu.segmentTokens", "1");
        try (LightningAttention la = LightningAttention.open("cpu", cut);
             Tensor tq = la.tensor(q, DType.FP16, Shape.of(1, 1, 2, 1));
             Tensor tk = la.tensor(k, DType.FP16, Shape.of(1, 1, 2, 1));
             Tensor tv = la.tensor(v, DType.FP16, Shape.of(1, 1, 2, 1));
             Tensor td = la.tensor(new double[] {0}, DType.FP32, Shape.of(1));
             Tensor tdo = la.tensor(dO, DType.FP16, Shape.of(1, 1, 2, 1))) {
            AttentionInputs in = AttentionInputs.of(tq, tk, tv, td);
            try (ForwardResult r = la.forward(in, AttentionOptions.defaults())) {
                assertThat(r.output().toDoubleArray()).containsExactly(expectedO);
            }
            try (Gradients g = la.backward(in, tdo, null, AttentionOptions.defaults())) {
                assertThat(g.dq().toDoubleArray()).containsExactly(expectedDq);
                // v_1 is 35008 in FP16; dk_0 = -45000 rounds to -44992
                assertThat(g.dk().toDoubleArray()).containsExactly(-44992, 35008);
                assertThat(g.dv().toDoubleArray()).containsExactly(1.5, 2);
            }
        }
    }
}
