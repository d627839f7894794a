package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * A backward takes what its forward kept when its options compute the same function (SPEC.md
 * section 7): a scale of -0.0 is the forward's 0.0.
 */
class KeptForwardScaleTest {

    @Test
    void aZeroScaleOfEitherSignMatchesWhatTheForwardKept() {
        try (LightningAttention la = LightningAttention.open("reference");
             Tensor q = la.tensor(new double[] {1, 2, 3, 4}, DType.FP64, Shape.of(1, 1, 2, 2));
             Tensor v = la.tensor(new double[] {5, 6, 7, 8}, DType.FP64, Shape.of(1, 1, 2, 2));
             Tensor decay = la.tensor(new double[] {0.5}, DType.FP64, Shape.of(1));
             ForwardResult r = la.forward(AttentionInputs.of(q, q, v, decay),
                     AttentionOptions.defaults().withScale(0.0).withSaveForBackward(true));
             Gradients g = la.backward(AttentionInputs.of(q, q, v, decay), v, null,
                     AttentionOptions.defaults().withScale(-0.0), r.saved())) {
            assertThat(Arrays.stream(g.dq().toDoubleArray()).allMatch(x -> x == 0)).isTrue();
        }
    }
}
