package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import java.io.File;
import java.nio.file.Path;
import java.util.Random;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;

/** Two TransNormerLLM blocks in a ComputationGraph: gradients, training, serialisation. */
@ExtendWith(DoublePrecision.class)
class TransNormerBlockTest {
    private static final int BATCH = 2;
    private static final int STEPS = 6;

    /** in -> block -> block -> softmax; the blocks' width is the input's. */
    private static ComputationGraphConfiguration twoBlocks(DataType type, IUpdater updater, boolean learnableDecay) {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().seed(TestData.SEED)
                .dataType(type).updater(updater).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in");
        String x = "in";
        for (int i = 0; i < 2; i++) {
            x = TransNormerBlock.of(Nets.N_IN, 2).withFfHidden(6).withDecay(1.0 - 0.5 * i, learnableDecay)
                    .withBackend(TestData.backend()).addTo(g, "block" + i, x);
        }
        return g.addLayer("out", new RnnOutputLayer.Builder(Nets.crossEntropy(type)).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build(), x)
                .setOutputs("out")
                .setInputTypes(InputType.recurrent(Nets.N_IN))
                .build();
    }

    @Test
    void gradientsMatchFiniteDifferencesWithAMask() {
        Random r = TestData.random("blockGc");
        ComputationGraph net = new ComputationGraph(twoBlocks(DataType.DOUBLE, new NoOp(), true));
        net.init();
        INDArray in = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray mask = Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2);
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(net)
                .inputs(new INDArray[] {in}).labels(new INDArray[] {labels})
                .inputMask(new INDArray[] {mask}).labelMask(new INDArray[] {mask})
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
        assertThat(ok).as("gradient check").isTrue();
    }

    @Test
    void trainsAndSurvivesModelSerializer(@TempDir Path dir) throws Exception {
        Random r = TestData.random("blockTrain");
        ComputationGraphConfiguration conf = twoBlocks(DataType.FLOAT, new Adam(2e-2), true);
        assertThat(ComputationGraphConfiguration.fromJson(conf.toJson())).isEqualTo(conf);
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        INDArray x = Nets.features(r, DataType.FLOAT, RNNFormat.NCW, 4, 12);
        DataSet data = new DataSet(x, Nets.labels(r, DataType.FLOAT, RNNFormat.NCW, 4, 12));
        double first = net.score(data);
        // Adam at 2e-2 on random targets sometimes spikes for a few steps: the lowest score says it learns.
        double lowest = first;
        for (int i = 0; i < 40; i++) {
            net.fit(data);
            lowest = Math.min(lowest, net.score(data));
        }
        assertThat(lowest).as("lowest score in 40 steps, from " + first).isLessThan(0.7 * first);

        File file = dir.resolve("blocks.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
        assertThat(restored.getConfiguration()).isEqualTo(net.getConfiguration());
        assertThat(restored.params()).isEqualTo(net.params());
        assertThat(restored.getUpdater().getStateViewArray()).isEqualTo(net.getUpdater().getStateViewArray());
        assertThat(restored.outputSingle(x)).isEqualTo(net.outputSingle(x));
    }

    /** Every part of the block is causal: stepping through rnnTimeStep gives the full sequence's outputs. */
    @Test
    void rnnTimeStepMatchesTheWholeSequence() {
        Random r = TestData.random("blockStep");
        ComputationGraph net = new ComputationGraph(twoBlocks(DataType.DOUBLE, new NoOp(), false));
        net.init();
        INDArray x = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray whole = net.outputSingle(x);
        net.rnnClearPreviousState();
        for (int t = 0; t < STEPS; t++) {
            INDArray step = net.rnnTimeStep(x.get(all(), all(), interval(t, t + 1)))[0];
            INDArray expected = whole.get(all(), all(), interval(t, t + 1));
            assertThat(TestData.relativeError(TestData.doubles(step), TestData.doubles(expected)))
                    .as("step " + t).isLessThan(1e-10);
        }
    }

    /** A bad argument or configuration is reported before the block adds any vertex. */
    @Test
    void addToChecksEverythingBeforeAddingAVertex() {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("in")
                .addLayer("b_sglu", new SRMSNorm.Builder().build(), "in");
        TransNormerBlock block = TransNormerBlock.of(4, 2);
        assertThatThrownBy(() -> block.addTo(g, "b", "in")).hasMessageStartingWith("name: got \"b\"")
                .hasMessageContaining("b_sglu");
        assertThatThrownBy(() -> block.addTo(g, null, "in")).hasMessageStartingWith("name: got null");
        assertThatThrownBy(() -> block.addTo(g, "c", null)).hasMessageStartingWith("input: got null");
        assertThatThrownBy(() -> block.withDecay(-1, false).addTo(g, "c", "in")).hasMessageStartingWith("decayScale");
        assertThat(g.getVertices().keySet()).containsExactly("b_sglu");
    }

    /** Blocks of different widths in a row fail when the graph is built, naming the layer that sees the wrong width. */
    @Test
    void aWidthMismatchBetweenBlocksFailsAtBuild() {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("in").setInputTypes(InputType.recurrent(6));
        String x = TransNormerBlock.of(6, 2).addTo(g, "wide", "in");
        x = TransNormerBlock.of(4, 2).addTo(g, "narrow", x);
        g.addLayer("out", new RnnOutputLayer.Builder().nOut(Nets.CLASSES).build(), x).setOutputs("out");
        assertThatThrownBy(g::build).hasMessage("SRMSNorm 'narrow_attnNorm': got input width 6; expected its size 4");
    }

    /** ComputationGraph passes an empty sequence on (MultiLayerNetwork refuses it itself): the block's first layer names it. */
    @Test
    void anEmptySequenceIsRefusedByName() {
        ComputationGraph net = new ComputationGraph(twoBlocks(DataType.DOUBLE, new NoOp(), false));
        net.init();
        assertThatThrownBy(() -> net.outputSingle(org.nd4j.linalg.factory.Nd4j.zeros(DataType.DOUBLE, BATCH, Nets.N_IN, 0)))
                .hasMessageContaining("'block0_attnNorm'").hasMessageContaining("got input of shape [2, 4, 0]");
    }
}
