package dev.la2.nd4j;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** How {@link LightningAttentionImpl}'s token-major blocks are handed to la2, shared by its forward and backward. */
final class LayerArrays {
    private LayerArrays() {
    }

    /** A [rows, H*F] token-major block seen as NWC [minibatch, T, H*F], without copying. */
    static INDArray seq(INDArray rows, ForwardPass p) {
        return rows.reshape('c', p.batch, p.steps, rows.size(1));
    }

    /** A [rows, H*F] token-major block seen as packed [rows, H, F], without copying. */
    static INDArray heads(INDArray rows, int heads) {
        return rows.reshape('c', rows.size(0), heads, rows.size(1) / heads);
    }

    static AttentionOptions options(LightningAttentionLayer c, boolean wantFinal) {
        return AttentionOptions.defaults().withScale(c.getScale()).withFinalState(wantFinal)
                .withLearnableDecay(c.isLearnableDecay());
    }

    /** The state in the state type of {@code dtype}; null stays null. */
    static INDArray castState(INDArray state, DType dtype) {
        if (state == null) {
            return null;
        }
        DataType st = Nd4jTensors.dataType(dtype.stateType());
        return state.dataType() == st ? state : state.castTo(st);
    }
}
