package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.NoOp;

/** The layer's hand-written backprop against DL4J's finite differences in float64, and float32 against float64. */
@ExtendWith(DoublePrecision.class)
class GradientCheckTest {
    private static final int BATCH = 2;
    private static final int STEPS = 6;
    /**
     * Below this an entry passes whatever its relative error: a central difference with step 1e-6
     * carries rounding of about 1e-16 x |loss| / 1e-6, near 1e-9 for these losses, so gradient
     * entries of 1e-6 can miss 1e-5 relative by rounding alone (seen once: 1.5e-9 on an entry of
     * 1.9e-6, and 1.2e-9 on one of 5.2e-5).
     */
    static final double MIN_ABS_ERROR = 1e-8;

    @ParameterizedTest(name = "{0}, masked={1}, learnableDecay={2}, headNorm={3}")
    @CsvSource({
        "NCW, false, false, false",
        "NWC, false, false, false",
        "NCW, true, true, false",
        "NWC, true, false, true",
        "NCW, false, true, true",
    })
    void multiLayerNetwork(RNNFormat format, boolean masked, boolean learnableDecay, boolean headNorm) {
        Random r = TestData.random("gc" + format + masked + learnableDecay + headNorm);
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.DOUBLE, new NoOp(), format, learnableDecay, headNorm));
        net.init();
        INDArray in = Nets.features(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray mask = masked ? Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2) : null;
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(in)
                .labels(labels).inputMask(mask).labelMask(mask).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(MIN_ABS_ERROR)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
        assertThat(ok).as("gradient check").isTrue();
    }

    @Test
    void computationGraphWithResidualAndMask() {
        Random r = TestData.random("gcGraph");
        ComputationGraph net = new ComputationGraph(Nets.graph(DataType.DOUBLE, new NoOp(), true));
        net.init();
        INDArray in = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray mask = Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2);
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(net)
                .inputs(new INDArray[] {in}).labels(new INDArray[] {labels})
                .inputMask(new INDArray[] {mask}).labelMask(new INDArray[] {mask})
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(MIN_ABS_ERROR)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
        assertThat(ok).as("gradient check").isTrue();
    }

    /**
     * The float32 backprop (the one training runs, where the cpu backend's backward reads the block
     * states its forward kept) against the float64 backprop checked above, with the same parameters
     * and over several blocks of 64 steps, so that kept states are read.
     */
    @ParameterizedTest(name = "masked={0}, learnableDecay={1}")
    @CsvSource({"false, false", "true, false", "false, true"})
    void float32GradientsMatchFloat64(boolean masked, boolean learnableDecay) {
        int steps = 150;
        Random r = TestData.random("f32" + masked + learnableDecay);
        MultiLayerNetwork wide = new MultiLayerNetwork(Nets.mln(DataType.DOUBLE, new NoOp(), RNNFormat.NWC, learnableDecay, false));
        wide.init();
        MultiLayerNetwork narrow = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new NoOp(), RNNFormat.NWC, learnableDecay, false));
        narrow.init(wide.params().castTo(DataType.FLOAT), true);
        INDArray in = Nets.features(r, DataType.DOUBLE, RNNFormat.NWC, BATCH, steps);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, RNNFormat.NWC, BATCH, steps);
        INDArray mask = masked ? Nets.mask(DataType.DOUBLE, BATCH, steps, 2) : null;
        INDArray expected = gradient(wide, in, labels, mask);
        INDArray got = gradient(narrow, in.castTo(DataType.FLOAT), labels.castTo(DataType.FLOAT),
                mask == null ? null : mask.castTo(DataType.FLOAT)).castTo(DataType.DOUBLE);
        double error = got.sub(expected).norm2Number().doubleValue() / expected.norm2Number().doubleValue();
        assertThat(error).as("relative error of the float32 gradient").isLessThan(1e-4);
    }

    private static INDArray gradient(MultiLayerNetwork net, INDArray in, INDArray labels, INDArray mask) {
        net.setInput(in);
        net.setLabels(labels);
        net.setLayerMaskArrays(mask, mask);
        net.computeGradientAndScore();
        return net.getFlattenedGradients().dup();
    }

    /** The check must be able to fail: the same layer with its Wq gradient 0.1% off is caught. */
    @Test
    void aGradientOffByOnePerMilleFails() {
        Random r = TestData.random("gcWrong");
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(TestData.SEED)
                .dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER).list()
                .layer(new SkewedLayer(Nets.attention(false, false)))
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(Nets.N_IN))
                .build());
        net.init();
        INDArray in = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(in)
                .labels(labels).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(MIN_ABS_ERROR).exitOnFirstError(true)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
        assertThat(ok).as("gradient check of a skewed gradient").isFalse();
    }

    private static final class SkewedLayer extends LightningAttentionLayer {
        SkewedLayer(LightningAttentionLayer.Builder b) {
            super(b);
        }

        @Override
        protected LightningAttentionImpl newLayer(NeuralNetConfiguration conf, DataType dataType) {
            return new LightningAttentionImpl(conf, dataType) {
                @Override
                public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
                    Pair<Gradient, INDArray> g = super.backpropGradient(epsilon, mgr);
                    g.getFirst().getGradientFor(LightningAttentionParamInitializer.QUERY_WEIGHTS).muli(1.001);
                    return g;
                }
            };
        }
    }
}
