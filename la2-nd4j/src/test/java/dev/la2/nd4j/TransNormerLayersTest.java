package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationSigmoid;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * The TransNormerLLM pieces one by one: SRMSNorm and SGLU, and the attention's output gate, against
 * DL4J's finite differences in float64, their configurations through JSON, and SRMSNorm's formula.
 */
@ExtendWith(DoublePrecision.class)
class TransNormerLayersTest {
    private static final int BATCH = 2;
    private static final int STEPS = 5;

    /** norm -> SGLU -> norm -> SGLU -> softmax: every layer's dL/dinput reaches a parameter before it. */
    private static MultiLayerConfiguration normAndGlu(RNNFormat format) {
        return new NeuralNetConfiguration.Builder().seed(TestData.SEED).dataType(DataType.DOUBLE).updater(new NoOp())
                .weightInit(WeightInit.XAVIER).list()
                .layer(new SRMSNorm.Builder().eps(1e-5).rnnDataFormat(format).build())
                .layer(new SGLU.Builder().nOut(Nets.N_IN).hiddenSize(6).rnnDataFormat(format).build())
                .layer(new SRMSNorm.Builder().rnnDataFormat(format).build())
                .layer(new SGLU.Builder().nOut(Nets.N_IN).hiddenSize(3).rnnDataFormat(format).build())
                .layer(new RnnOutputLayer.Builder(Nets.crossEntropy(DataType.DOUBLE)).activation(Activation.SOFTMAX)
                        .dataFormat(format).nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(Nets.N_IN, format))
                .build();
    }

    private static boolean gradientsMatch(MultiLayerNetwork net, INDArray in, INDArray labels, INDArray mask) {
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(in).labels(labels)
                .inputMask(mask).labelMask(mask).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    }

    @ParameterizedTest(name = "{0}, masked={1}")
    @CsvSource({"NCW, false", "NWC, false", "NCW, true", "NWC, true"})
    void srmsNormAndSgluGradients(RNNFormat format, boolean masked) {
        Random r = TestData.random("normGlu" + format + masked);
        MultiLayerNetwork net = new MultiLayerNetwork(normAndGlu(format));
        net.init();
        // A gain away from 1 so that its gradient path is exercised.
        net.getLayer(0).getParam(SRMSNorm.GAIN).assign(TestData.normal(r, DataType.DOUBLE, 1.0, 1, Nets.N_IN));
        INDArray in = Nets.features(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray mask = masked ? Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2) : null;
        assertThat(gradientsMatch(net, in, labels, mask)).as("gradient check").isTrue();
    }

    /**
     * rnnTimeStep takes one step as a [minibatch, nIn] matrix, and MultiLayerNetwork hands it as such
     * to a first layer that is not recurrent itself (reshaping it to [minibatch, nIn, 1] only for a
     * recurrent layer): the norm maps it as that one step.
     */
    @Test
    void oneStepAsAMatrixMapsAsThatStepOfTheSequence() {
        Random r = TestData.random("oneStep");
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(TestData.SEED)
                .dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER).list()
                .layer(new SRMSNorm.Builder().build())
                .layer(Nets.attention(false, true).nOut(Nets.N_IN).build())
                .layer(new SGLU.Builder().nOut(Nets.N_IN).hiddenSize(6).build())
                .layer(new RnnOutputLayer.Builder(Nets.crossEntropy(DataType.DOUBLE)).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(Nets.N_IN))
                .build());
        net.init();
        INDArray in = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, 3);
        INDArray whole = net.output(in);
        for (int t = 0; t < 3; t++) {
            INDArray step = net.rnnTimeStep(in.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t)));
            assertThat(step.shape()).containsExactly(BATCH, Nets.CLASSES);
            assertThat(TestData.relativeError(TestData.doubles(step),
                    TestData.doubles(whole.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t)))))
                    .as("step " + t).isLessThan(1e-10);
        }
    }

    @ParameterizedTest(name = "headNorm={0}, sigmoid={1}, masked={2}")
    @CsvSource({"false, false, false", "true, false, true", "true, true, false", "false, true, true"})
    void outputGateGradients(boolean headNorm, boolean sigmoid, boolean masked) {
        Random r = TestData.random("gate" + headNorm + sigmoid + masked);
        LightningAttentionLayer.Builder attention = Nets.attention(false, headNorm).outputGate(true);
        if (sigmoid) {
            attention.gateActivation(new ActivationSigmoid());
        }
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(TestData.SEED)
                .dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER).list()
                .layer(attention.build())
                .layer(new RnnOutputLayer.Builder(Nets.crossEntropy(DataType.DOUBLE)).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(Nets.N_IN))
                .build());
        net.init();
        assertThat(net.getLayer(0).paramTable()).containsKey(LightningAttentionParamInitializer.GATE_WEIGHTS);
        INDArray in = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        INDArray mask = masked ? Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2) : null;
        assertThat(gradientsMatch(net, in, labels, mask)).as("gradient check").isTrue();
    }

    /** y = g * x / (||x|| / sqrt(d) + eps) per step, computed by hand; a zero step stays zero. */
    @Test
    void srmsNormFollowsItsFormula() {
        Random r = TestData.random("srmsFormula");
        MultiLayerNetwork net = new MultiLayerNetwork(normAndGlu(RNNFormat.NWC));
        net.init();
        INDArray gain = TestData.normal(r, DataType.DOUBLE, 1.0, 1, Nets.N_IN);
        net.getLayer(0).getParam(SRMSNorm.GAIN).assign(gain);
        INDArray in = Nets.features(r, DataType.DOUBLE, RNNFormat.NWC, BATCH, STEPS);
        in.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1), org.nd4j.linalg.indexing.NDArrayIndex.point(2),
                org.nd4j.linalg.indexing.NDArrayIndex.all()).assign(0.0);
        INDArray y = net.feedForwardToLayer(0, in, false).get(1);
        for (int b = 0; b < BATCH; b++) {
            for (int t = 0; t < STEPS; t++) {
                double sumSquares = 0;
                for (int i = 0; i < Nets.N_IN; i++) {
                    sumSquares += in.getDouble(b, t, i) * in.getDouble(b, t, i);
                }
                double denominator = Math.sqrt(sumSquares) / Math.sqrt(Nets.N_IN) + 1e-5;
                for (int i = 0; i < Nets.N_IN; i++) {
                    double expected = gain.getDouble(0, i) * in.getDouble(b, t, i) / denominator;
                    assertThat(y.getDouble(b, t, i)).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-12));
                }
            }
        }
    }

    @Test
    void configurationsSurviveJsonWithEveryField() {
        MultiLayerConfiguration conf = normAndGlu(RNNFormat.NWC);
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertThat(back).isEqualTo(conf);
        assertThat(((SRMSNorm) back.getConf(0).getLayer()).getEps()).isEqualTo(1e-5);
        assertThat(((SGLU) back.getConf(1).getLayer()).getHiddenSize()).isEqualTo(6);
        assertThat(((SRMSNorm) back.getConf(2).getLayer()).getRnnDataFormat()).isEqualTo(RNNFormat.NWC);
        assertThat(MultiLayerConfiguration.fromYaml(conf.toYaml())).isEqualTo(conf);

        LightningAttentionLayer gated = Nets.attention(false, true).outputGate(true)
                .gateActivation(new ActivationSigmoid()).build();
        MultiLayerConfiguration withGate = new NeuralNetConfiguration.Builder().list().layer(gated)
                .layer(new RnnOutputLayer.Builder().nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(Nets.N_IN)).build();
        LightningAttentionLayer gatedBack = (LightningAttentionLayer) MultiLayerConfiguration
                .fromJson(withGate.toJson()).getConf(0).getLayer();
        assertThat(gatedBack).isEqualTo(withGate.getConf(0).getLayer());
        assertThat(gatedBack.isOutputGate()).isTrue();
        assertThat(gatedBack.getGateActivation()).isInstanceOf(ActivationSigmoid.class);
        assertThat(gatedBack).isNotEqualTo(Nets.attention(false, true).outputGate(true).build());
    }

    @Test
    void buildersRejectBadSettingsByName() {
        assertThatThrownBy(() -> new SRMSNorm.Builder().eps(0).build()).hasMessageStartingWith("eps");
        assertThatThrownBy(() -> new SRMSNorm.Builder().nIn(3).nOut(4).build()).hasMessageStartingWith("nIn, nOut");
        assertThatThrownBy(() -> new SGLU.Builder().nIn(3).nOut(3).build()).hasMessageStartingWith("hiddenSize");
        assertThatThrownBy(() -> new SGLU.Builder().hiddenSize(3).build()).hasMessageStartingWith("nOut: got 0");
        assertThatThrownBy(() -> new SGLU.Builder().nIn(-2).nOut(3).hiddenSize(3).build())
                .hasMessageStartingWith("nIn: got -2");
        assertThatThrownBy(() -> new SRMSNorm.Builder().size(-1).build()).hasMessageStartingWith("nIn: got -1");
        assertThatThrownBy(() -> Nets.attention(false, false).gateActivation(null).build())
                .hasMessageStartingWith("gateActivation");
    }
}
