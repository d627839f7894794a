package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.ForwardResult;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class LightningAttentionLayerTest {

    private static MultiLayerConfiguration everyFieldSet() {
        return new NeuralNetConfiguration.Builder().seed(7).updater(new Adam(3e-3)).list()
                .layer(new LightningAttentionLayer.Builder().nIn(6).nOut(8).nHeads(3).headSize(5).valueSize(7)
                        .decayScale(0.5).learnableDecay(true).scale(0.25).backend("reference")
                        .rnnDataFormat(RNNFormat.NWC).headNorm(true).hasBias(false).activation(Activation.TANH)
                        .l2(1e-4).name("la").build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .dataFormat(RNNFormat.NWC).nOut(3).build())
                .setInputType(InputType.recurrent(6, RNNFormat.NWC))
                .build();
    }

    @Test
    void jsonAndYamlRoundTripsKeepEveryField() {
        MultiLayerConfiguration conf = everyFieldSet();
        LightningAttentionLayer layer = (LightningAttentionLayer) conf.getConf(0).getLayer();
        assertThat(layer.getNHeads()).isEqualTo(3);
        assertThat(layer.getValueSize()).isEqualTo(7);
        assertThat(layer.getScale()).isEqualTo(0.25);
        assertThat(layer.getRnnDataFormat()).isEqualTo(RNNFormat.NWC);

        MultiLayerConfiguration fromJson = MultiLayerConfiguration.fromJson(conf.toJson());
        MultiLayerConfiguration fromYaml = MultiLayerConfiguration.fromYaml(conf.toYaml());
        assertThat(fromJson).isEqualTo(conf);
        assertThat(fromYaml).isEqualTo(conf);
        assertThat(fromJson.getConf(0).getLayer()).isEqualTo(layer).hasSameHashCodeAs(layer);
        assertThat(fromYaml.getConf(0).getLayer()).isEqualTo(layer).hasSameHashCodeAs(layer);

        ComputationGraphConfiguration graph = Nets.graph(DataType.FLOAT, new Adam(1e-3), true);
        assertThat(ComputationGraphConfiguration.fromJson(graph.toJson())).isEqualTo(graph);
        assertThat(ComputationGraphConfiguration.fromYaml(graph.toYaml())).isEqualTo(graph);
    }

    /** equals must see every field, or a lost field would pass the round-trip test above. */
    @Test
    void equalsSeesEveryField() {
        LightningAttentionLayer base = Nets.attention(false, false).build();
        List<LightningAttentionLayer> variants = List.of(
                Nets.attention(true, false).build(),
                Nets.attention(false, true).build(),
                Nets.attention(false, false).nHeads(4).build(),
                Nets.attention(false, false).headSize(4).build(),
                Nets.attention(false, false).valueSize(3).build(),
                Nets.attention(false, false).decayScale(1.0).build(),
                Nets.attention(false, false).scale(0.3).build(),
                Nets.attention(false, false).backend("another-backend").build(),
                Nets.attention(false, false).rnnDataFormat(RNNFormat.NWC).build(),
                Nets.attention(false, false).hasBias(false).build());
        assertThat(Nets.attention(false, false).build()).isEqualTo(base).hasSameHashCodeAs(base);
        for (LightningAttentionLayer v : variants) {
            assertThat(v).isNotEqualTo(base);
        }
    }

    @Test
    void builderRejectsBadSettingsByName() {
        assertThatThrownBy(() -> Nets.attention(false, false).nHeads(0).build()).hasMessageStartingWith("nHeads");
        assertThatThrownBy(() -> new LightningAttentionLayer.Builder().nIn(4).nOut(5).nHeads(2).build())
                .hasMessageStartingWith("headSize");
        assertThatThrownBy(() -> new LightningAttentionLayer.Builder().nIn(4).nHeads(2).headSize(3).build())
                .hasMessage("nOut: got 0; expected >= 1");
        assertThatThrownBy(() -> Nets.attention(false, false).decayScale(-1).build()).hasMessageStartingWith("decayScale");
        assertThatThrownBy(() -> Nets.attention(true, false).decayScale(0).build()).hasMessageStartingWith("decayScale");
        assertThatThrownBy(() -> Nets.attention(false, false).scale(Double.NaN).build()).hasMessageStartingWith("scale");
    }

    @Test
    void buildLeavesTheBuilderAsSet() {
        LightningAttentionLayer.Builder b = new LightningAttentionLayer.Builder().nIn(4).nOut(8).nHeads(2);
        LightningAttentionLayer first = b.build();
        LightningAttentionLayer second = b.nOut(16).build();
        assertThat(first.getHeadSize()).isEqualTo(4);
        assertThat(first.getValueSize()).isEqualTo(4);
        assertThat(second.getHeadSize()).as("headSize from the later nOut").isEqualTo(8);
        assertThat(second.getValueSize()).isEqualTo(8);
        assertThat(second.getScale()).isEqualTo(1.0 / Math.sqrt(8));
    }

    @Test
    void modelSerializerRestoresIdenticalOutputs(@TempDir Path dir) throws Exception {
        Random r = TestData.random("serializer");
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(1e-2), RNNFormat.NCW, true, true));
        net.init();
        INDArray x = Nets.features(r, DataType.FLOAT, RNNFormat.NCW, 3, 9);
        net.fit(new DataSet(x, Nets.labels(r, DataType.FLOAT, RNNFormat.NCW, 3, 9)));
        File file = dir.resolve("net.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertThat(restored.getLayerWiseConfigurations()).isEqualTo(net.getLayerWiseConfigurations());
        assertThat(restored.params()).isEqualTo(net.params());
        assertThat(restored.getUpdater().getStateViewArray()).isEqualTo(net.getUpdater().getStateViewArray());
        assertThat(restored.output(x)).isEqualTo(net.output(x));
    }

    /**
     * The layer's output recomputed by hand from its parameters: projections with ND4J, attention
     * once through the adapter and once through la2's own API on copies of the same numbers.
     */
    @ParameterizedTest
    @EnumSource(value = RNNFormat.class)
    void outputEqualsTheAdapterAndTheDirectApi(RNNFormat format) {
        Random r = TestData.random("manual" + format);
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(1e-3), format, false, false));
        net.init();
        int batch = 2;
        int steps = 11;
        INDArray x = Nets.features(r, DataType.FLOAT, format, batch, steps);
        Layer layer = net.getLayer(0);
        INDArray actual = layer.activate(x, false, LayerWorkspaceMgr.noWorkspaces());

        INDArray x2 = (format == RNNFormat.NCW ? x.permute(0, 2, 1) : x).dup('c').reshape(batch * steps, Nets.N_IN);
        INDArray q = x2.mmul(layer.getParam("Wq")).reshape(batch, steps, Nets.HEADS * Nets.HEAD_SIZE);
        INDArray k = x2.mmul(layer.getParam("Wk")).reshape(batch, steps, Nets.HEADS * Nets.HEAD_SIZE);
        INDArray v = x2.mmul(layer.getParam("Wv")).reshape(batch, steps, Nets.HEADS * Nets.VALUE_SIZE);
        double scale = 1 / Math.sqrt(Nets.HEAD_SIZE);
        double[] rates = DecaySlopes.alibi(Nets.HEADS, 2.0);
        LightningAttention la = LightningAttention.open(TestData.backend());
        try (la) {
            INDArray o = new Nd4jAttention(la).forward(SequenceFormat.NWC, Nets.HEADS, q, k, v,
                    Nd4j.createFromArray(rates).castTo(DataType.FLOAT), null,
                    AttentionOptions.defaults().withScale(scale).withFinalState(false)).output();
            Shape qs = Shape.of(batch, steps, Nets.HEADS, Nets.HEAD_SIZE);
            Shape vs = Shape.of(batch, steps, Nets.HEADS, Nets.VALUE_SIZE);
            try (Tensor tq = la.tensor(q.dup('c').data().asFloat(), DType.FP32, qs);
                 Tensor tk = la.tensor(k.dup('c').data().asFloat(), DType.FP32, qs);
                 Tensor tv = la.tensor(v.dup('c').data().asFloat(), DType.FP32, vs);
                 Tensor td = la.tensor(rates, DType.FP32, Shape.of(Nets.HEADS));
                 ForwardResult direct = la.forward(AttentionInputs.of(tq, tk, tv, td),
                         AttentionOptions.defaults().withScale(scale).withLayout(Layout.BNHD).withFinalState(false))) {
                assertThat(o.dup('c').data().asFloat()).containsExactly(direct.output().toFloatArray());
            }
            INDArray z = o.reshape(batch * steps, Nets.HEADS * Nets.VALUE_SIZE).mmul(layer.getParam("Wo"))
                    .addiRowVector(layer.getParam("b")).reshape(batch, steps, Nets.N_OUT);
            INDArray expected = format == RNNFormat.NCW ? z.permute(0, 2, 1) : z;
            assertThat(TestData.relativeError(TestData.doubles(actual), TestData.doubles(expected))).isLessThan(1e-6);
        }
    }

    @ParameterizedTest
    @EnumSource(value = RNNFormat.class)
    void rnnTimeStepInChunksEqualsTheWholeSequence(RNNFormat format) {
        Random r = TestData.random("timestep" + format);
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(1e-3), format, true, true));
        net.init();
        int steps = 13;
        INDArray x = Nets.features(r, DataType.FLOAT, format, 2, steps);
        INDArray whole = net.output(x);
        int timeAxis = format == RNNFormat.NCW ? 2 : 1;
        int[][] chunks = {{0, 5}, {5, 6}, {6, 13}};
        for (int[] c : chunks) {
            INDArray part = net.rnnTimeStep(slice(x, timeAxis, c[0], c[1]));
            assertThat(TestData.relativeError(TestData.doubles(part), TestData.doubles(slice(whole, timeAxis, c[0], c[1]))))
                    .as("chunk %d..%d", c[0], c[1]).isLessThan(1e-5);
        }
        // A single step continues from the stored state too; for NCW also as a 2-d [minibatch, nIn] array
        // (MultiLayerNetwork's 2-d handling assumes NCW for the output it hands back).
        net.rnnClearPreviousState();
        net.rnnTimeStep(slice(x, timeAxis, 0, steps - 1));
        INDArray lastStep = slice(x, timeAxis, steps - 1, steps);
        INDArray last = net.rnnTimeStep(format == RNNFormat.NCW ? lastStep.reshape(2, Nets.N_IN) : lastStep);
        assertThat(TestData.relativeError(TestData.doubles(last),
                TestData.doubles(slice(whole, timeAxis, steps - 1, steps)))).isLessThan(1e-5);
        // And clearing the state starts over.
        net.rnnClearPreviousState();
        INDArray again = net.rnnTimeStep(slice(x, timeAxis, 0, 5));
        assertThat(TestData.relativeError(TestData.doubles(again), TestData.doubles(slice(whole, timeAxis, 0, 5)))).isLessThan(1e-5);
    }

    /**
     * rnnTimeStep with another minibatch size than the stored state's is refused by the layer, naming
     * the stored state and the way out (not the backend's "initialState", an argument the caller
     * never passed), and the stored state still serves the right minibatch.
     */
    @Test
    void rnnTimeStepWithAnotherMinibatchNamesTheStoredState() {
        MultiLayerNetwork net = plainNcwNet();
        INDArray x = Nets.features(TestData.random("timestepMinibatch"), DataType.FLOAT, RNNFormat.NCW, 3, 4);
        INDArray whole = net.output(x);
        net.rnnTimeStep(slice(x, 2, 0, 2));
        INDArray two = x.get(NDArrayIndex.interval(0, 2)).dup();
        assertThatThrownBy(() -> net.rnnTimeStep(slice(two, 2, 2, 4)))
                .isInstanceOf(org.deeplearning4j.exception.DL4JInvalidInputException.class)
                .hasMessageContaining("minibatch 2").hasMessageContaining("is for minibatch 3")
                .hasMessageContaining("rnnClearPreviousState()");
        INDArray rest = net.rnnTimeStep(slice(x, 2, 2, 4));
        assertThat(TestData.relativeError(TestData.doubles(rest), TestData.doubles(slice(whole, 2, 2, 4)))).isLessThan(1e-5);
    }

    /** A state set by rnnSetPreviousState that does not fit the layer (another layer's, say) is named as the stored state. */
    @Test
    void aStoredStateOfAnotherShapeIsNamedAsTheStoredState() {
        MultiLayerNetwork net = plainNcwNet();
        INDArray x = Nets.features(TestData.random("timestepShape"), DataType.FLOAT, RNNFormat.NCW, 2, 3);
        net.rnnSetPreviousState(0, java.util.Map.of(LightningAttentionImpl.STATE_KEY,
                Nd4j.zeros(DataType.FLOAT, 2, Nets.HEADS + 1, Nets.HEAD_SIZE, Nets.VALUE_SIZE)));
        assertThatThrownBy(() -> net.rnnTimeStep(x))
                .isInstanceOf(org.deeplearning4j.exception.DL4JInvalidInputException.class)
                .hasMessageContaining("stored recurrent state is [2, 3, 3, 2]")
                .hasMessageContaining("expected [2, 2, 3, 2]").hasMessageContaining("rnnClearPreviousState()");
        net.rnnClearPreviousState();
        assertThat(net.rnnTimeStep(x)).isEqualTo(net.output(x));
    }

    /**
     * The layer reads its input in place where it is dense row-major (an offset view included) and
     * copies it otherwise ('f' order, a strided minibatch): outputs and gradients are those of a dense copy.
     */
    @ParameterizedTest
    @EnumSource(value = RNNFormat.class)
    void inputViewsAndOrdersGiveTheDenseCopysResults(RNNFormat format) {
        Random r = TestData.random("views" + format);
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(1e-3), format, true, true));
        net.init();
        INDArray big = Nets.features(r, DataType.FLOAT, format, 5, 6);
        INDArray labels = Nets.labels(r, DataType.FLOAT, format, 2, 6);
        INDArray offset = big.get(NDArrayIndex.interval(3, 5), NDArrayIndex.all(), NDArrayIndex.all());
        INDArray strided = big.get(NDArrayIndex.interval(0, 2, 4), NDArrayIndex.all(), NDArrayIndex.all());
        for (INDArray x : new INDArray[] {offset, strided, offset.dup('f')}) {
            INDArray dense = x.dup('c');
            assertThat(net.output(x)).isEqualTo(net.output(dense));
            assertThat(gradient(net, x, labels)).isEqualTo(gradient(net, dense, labels));
        }
    }

    private static INDArray gradient(MultiLayerNetwork net, INDArray x, INDArray labels) {
        net.setInput(x);
        net.setLabels(labels);
        net.computeGradientAndScore();
        return net.gradient().gradient().dup();
    }

    /** ComputationGraph passes an empty sequence or minibatch on (MultiLayerNetwork refuses it itself): the layer names it. */
    @Test
    void anEmptyInputIsRefusedByTheLayer() {
        ComputationGraph net = new ComputationGraph(Nets.graph(DataType.FLOAT, new Adam(1e-3), false));
        net.init();
        for (long[] shape : new long[][] {{2, Nets.N_IN, 0}, {0, Nets.N_IN, 3}}) {
            assertThatThrownBy(() -> net.outputSingle(Nd4j.zeros(DataType.FLOAT, shape)))
                    .isInstanceOf(org.deeplearning4j.exception.DL4JInvalidInputException.class)
                    .hasMessageContaining("'attn'").hasMessageContaining("got input of shape " + java.util.Arrays.toString(shape))
                    .hasMessageContaining("minibatch and T >= 1");
        }
    }

    /** A FLOAT NCW network of the layer without learnable decay or head norm, initialised. */
    private static MultiLayerNetwork plainNcwNet() {
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(1e-3), RNNFormat.NCW, false, false));
        net.init();
        return net;
    }

    private static INDArray slice(INDArray a, int timeAxis, int from, int to) {
        return timeAxis == 2
                ? a.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to)).dup('c')
                : a.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup('c');
    }

    @ParameterizedTest
    @EnumSource(value = RNNFormat.class)
    void maskedStepsGiveZeroOutputZeroGradientAndDoNotChangeLaterOutputs(RNNFormat format) {
        Random r = TestData.random("mask" + format);
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(1e-3), format, true, true));
        net.init();
        int steps = 10;
        int pad = 3;
        int timeAxis = format == RNNFormat.NCW ? 2 : 1;
        INDArray x = Nets.features(r, DataType.FLOAT, format, 2, steps).muli(5);
        INDArray mask = Nets.mask(DataType.FLOAT, 2, steps, pad);
        INDArray layerOut = net.feedForward(x, mask, mask).get(1);

        // Example 0 is padded at the start: its valid steps equal the unpadded sequence's outputs.
        INDArray ex0 = layerOut.get(NDArrayIndex.point(0));
        INDArray alone = net.feedForward(slice(x, timeAxis, pad, steps).get(NDArrayIndex.interval(0, 1)), null, null).get(1);
        net.clearLayerMaskArrays();
        INDArray paddedPart = slice(layerOut, timeAxis, pad, steps).get(NDArrayIndex.interval(0, 1));
        assertThat(TestData.relativeError(TestData.doubles(paddedPart), TestData.doubles(alone))).isLessThan(1e-5);
        // Example 1 is padded at the end: its valid steps equal the truncated sequence's outputs.
        INDArray truncated = net.feedForward(slice(x, timeAxis, 0, steps - pad).get(NDArrayIndex.interval(1, 2)), null, null).get(1);
        assertThat(TestData.relativeError(
                TestData.doubles(slice(layerOut, timeAxis, 0, steps - pad).get(NDArrayIndex.interval(1, 2))),
                TestData.doubles(truncated))).isLessThan(1e-5);

        // Masked steps: exactly zero output and zero gradient with respect to the input.
        INDArray labels = Nets.labels(r, DataType.FLOAT, format, 2, steps);
        INDArray dx = net.calculateGradients(x, labels, mask, mask).getSecond();
        for (int t = 0; t < pad; t++) {
            assertThat(step(ex0, timeAxis - 1, t).amaxNumber().doubleValue()).isZero();
            assertThat(step(layerOut.get(NDArrayIndex.point(1)), timeAxis - 1, steps - 1 - t).amaxNumber().doubleValue()).isZero();
            assertThat(step(dx.get(NDArrayIndex.point(0)), timeAxis - 1, t).amaxNumber().doubleValue()).isZero();
            assertThat(step(dx.get(NDArrayIndex.point(1)), timeAxis - 1, steps - 1 - t).amaxNumber().doubleValue()).isZero();
        }
        assertThat(step(dx.get(NDArrayIndex.point(0)), timeAxis - 1, pad).amaxNumber().doubleValue()).isPositive();
    }

    private static INDArray step(INDArray example, int timeAxis, int t) {
        return timeAxis == 1 ? example.get(NDArrayIndex.all(), NDArrayIndex.point(t))
                : example.get(NDArrayIndex.point(t), NDArrayIndex.all());
    }

    /**
     * A whole network in each type DL4J builds networks of (its configuration refuses BFLOAT16): a
     * HALF network runs the attention on fp16 tensors (fp32 states and decay) and still learns.
     * Adam's epsilon is the usual fp16 one: its default 1e-8 is zero in fp16, and DL4J's own update
     * then divides by zero once a squared gradient underflows (seen in the first step here).
     */
    @ParameterizedTest
    @EnumSource(names = {"FLOAT", "DOUBLE", "HALF"})
    void trainsInAComputationGraphAndTheScoreFalls(DataType type) {
        Random r = TestData.random("graphFit");
        ComputationGraph net = new ComputationGraph(Nets.graph(type, Adam.builder().learningRate(2e-2).epsilon(1e-4).build(), true));
        net.init();
        DataSet ds = Nets.runningSumTask(r, type, 4, 12);
        double before = net.score(ds);
        for (int i = 0; i < 60; i++) {
            net.fit(ds);
        }
        assertThat(net.getLayer("attn").getParam("theta").dataType()).isEqualTo(type);
        assertThat(net.score(ds)).isLessThan(0.7 * before);
        double[] theta = TestData.doubles(net.getLayer("attn").getParam("theta"));
        double[] initial = DecaySlopes.alibi(Nets.HEADS, 2.0);
        assertThat(Math.exp(theta[0])).as("learned decay moved").isNotEqualTo(initial[0]);
    }

    /** Truncated BPTT: chunks carry the state forward (same outputs as one pass) and training works. */
    @Test
    void truncatedBpttChunksCarryTheStateAndTrain() {
        Random r = TestData.random("tbptt");
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(TestData.SEED).dataType(DataType.FLOAT)
                .updater(new Adam(2e-2)).list()
                .layer(Nets.attention(true, true).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(Nets.N_IN))
                .backpropType(org.deeplearning4j.nn.conf.BackpropType.TruncatedBPTT).tBPTTLength(5)
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        INDArray x = Nets.features(r, DataType.FLOAT, RNNFormat.NCW, 3, 15);
        INDArray whole = net.output(x);
        net.rnnClearPreviousState();
        for (int from = 0; from < 15; from += 5) {
            INDArray chunk = slice(x, 2, from, from + 5);
            INDArray out = net.rnnActivateUsingStoredState(chunk, false, true).get(2);
            assertThat(TestData.relativeError(TestData.doubles(out), TestData.doubles(slice(whole, 2, from, from + 5))))
                    .as("chunk from %d", from).isLessThan(1e-5);
        }
        net.rnnClearPreviousState();
        DataSet ds = new DataSet(x, Nets.labels(r, DataType.FLOAT, RNNFormat.NCW, 3, 15));
        double before = net.score(ds);
        for (int i = 0; i < 40; i++) {
            net.fit(ds);
        }
        assertThat(net.score(ds)).isLessThan(0.8 * before);
    }
}
