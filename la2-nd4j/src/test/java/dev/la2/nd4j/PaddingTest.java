package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Random;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * Padding before or after an example's valid steps neither ages nor changes its state: the final
 * state, and the outputs of a later rnnTimeStep continuation from it, equal the unpadded sequence's.
 */
class PaddingTest {
    private static final int STEPS = 9;

    @Test
    void paddedSequencesEndInTheUnpaddedStateAndContinueAlike() {
        // Example 0 ends early, example 1 starts late, example 2 is padded on both sides.
        assertEachExampleRunsAlone("padding", new int[][] {{0, 5}, {3, STEPS}, {2, 7}}, new int[] {-1, -1, -1});
    }

    /**
     * One example's hole (a masked step between valid ones, which ages its own state) leaves the
     * padding of the other examples in the minibatch as padding: were the minibatch run as one dense
     * call, the padded examples' trailing padding would age their final states.
     */
    @Test
    void anotherExamplesHoleLeavesThisExamplesPaddingAlone() {
        assertEachExampleRunsAlone("hole", new int[][] {{0, 5}, {3, STEPS}, {1, 8}}, new int[] {-1, -1, 4});
    }

    /**
     * Runs the minibatch with its mask (example b valid on steps valid[b], except step hole[b] if not
     * -1) from a random initial state, then checks each example's final state and continuation
     * against the example run alone on its valid steps, with its hole masked.
     */
    private static void assertEachExampleRunsAlone(String salt, int[][] valid, int[] hole) {
        int batch = valid.length;
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new NoOp(), RNNFormat.NCW, false, true));
        net.init();
        LightningAttentionImpl layer = (LightningAttentionImpl) net.getLayer(0);
        Random r = TestData.random(salt);
        INDArray x = Nets.features(r, DataType.FLOAT, RNNFormat.NCW, batch, STEPS);
        INDArray next = Nets.features(r, DataType.FLOAT, RNNFormat.NCW, batch, 4);
        INDArray mask = Nd4j.zeros(DataType.FLOAT, batch, STEPS);
        for (int b = 0; b < batch; b++) {
            mask.get(NDArrayIndex.point(b), NDArrayIndex.interval(valid[b][0], valid[b][1])).assign(1);
            if (hole[b] >= 0) {
                mask.putScalar(b, hole[b], 0.0);
            }
        }
        INDArray initial = TestData.normal(r, DataType.FLOAT, 0.5, batch, Nets.HEADS, Nets.HEAD_SIZE, Nets.VALUE_SIZE);

        layer.rnnSetPreviousState(Map.of(LightningAttentionImpl.STATE_KEY, initial));
        layer.setMaskArray(mask);
        layer.rnnTimeStep(x, LayerWorkspaceMgr.noWorkspaces());
        layer.setMaskArray(null);
        INDArray padded = layer.rnnGetPreviousState().get(LightningAttentionImpl.STATE_KEY).dup();
        INDArray continued = layer.rnnTimeStep(next, LayerWorkspaceMgr.noWorkspaces()).dup();

        for (int b = 0; b < batch; b++) {
            layer.rnnSetPreviousState(Map.of(LightningAttentionImpl.STATE_KEY, example(initial, b).dup()));
            INDArray alone = x.get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(),
                    NDArrayIndex.interval(valid[b][0], valid[b][1])).dup();
            if (hole[b] >= 0) {
                INDArray own = Nd4j.ones(DataType.FLOAT, 1, valid[b][1] - valid[b][0]);
                own.putScalar(0, hole[b] - valid[b][0], 0.0);
                layer.setMaskArray(own);
            }
            layer.rnnTimeStep(alone, LayerWorkspaceMgr.noWorkspaces());
            layer.setMaskArray(null);
            INDArray state = layer.rnnGetPreviousState().get(LightningAttentionImpl.STATE_KEY);
            INDArray out = layer.rnnTimeStep(example(next, b).dup(), LayerWorkspaceMgr.noWorkspaces());
            assertThat(TestData.relativeError(TestData.doubles(example(padded, b)), TestData.doubles(state)))
                    .as("final state of example %d", b).isLessThan(1e-5);
            assertThat(TestData.relativeError(TestData.doubles(example(continued, b)), TestData.doubles(out)))
                    .as("continuation of example %d", b).isLessThan(1e-5);
        }
    }

    private static INDArray example(INDArray a, int b) {
        return a.rank() == 4
                ? a.get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all())
                : a.get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(), NDArrayIndex.all());
    }
}
