package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** The layer where DL4J users put recurrent layers: inside Bidirectional, inside LastTimeStep, under truncated BPTT. */
@ExtendWith(DoublePrecision.class)
class ContainersTest {
    private static final int BATCH = 3;
    private static final int STEPS = 6;

    private static MultiLayerNetwork net(IUpdater updater, Layer wrapped, Layer out) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(TestData.SEED).dataType(DataType.DOUBLE)
                .updater(updater).weightInit(WeightInit.XAVIER).list()
                .layer(wrapped)
                .layer(out)
                .setInputType(InputType.recurrent(Nets.N_IN))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static MultiLayerNetwork bidirectional(IUpdater updater) {
        return net(updater, new Bidirectional(Bidirectional.Mode.CONCAT, Nets.attention(false, true).build()),
                new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build());
    }

    private static MultiLayerNetwork lastTimeStep(IUpdater updater) {
        return net(updater, new LastTimeStep(Nets.attention(true, false).build()),
                new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build());
    }

    /** One class per example, from the sign of its last steps' first feature. */
    private static INDArray lastLabels(INDArray x) {
        INDArray l = Nd4j.zeros(DataType.DOUBLE, x.size(0), Nets.CLASSES);
        for (int b = 0; b < x.size(0); b++) {
            double s = x.getDouble(b, 0, x.size(2) - 1) + x.getDouble(b, 0, x.size(2) - 2);
            l.putScalar(b, s > 0.5 ? 0 : s < -0.5 ? 1 : 2, 1.0);
        }
        return l;
    }

    @Test
    void bidirectionalPassesTheGradientCheckWithAMask() {
        Random r = TestData.random("bidiGc");
        MultiLayerNetwork net = bidirectional(new NoOp());
        INDArray mask = Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2);
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net)
                .input(Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS))
                .labels(Nets.labels(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS)).inputMask(mask).labelMask(mask)
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-9).print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
        assertThat(ok).as("gradient check").isTrue();
    }

    @Test
    void bidirectionalTrains() {
        Random r = TestData.random("bidiFit");
        MultiLayerNetwork net = bidirectional(new Adam(2e-2));
        DataSet ds = new DataSet(Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS),
                Nets.labels(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS));
        double before = net.score(ds);
        for (int i = 0; i < 40; i++) {
            net.fit(ds);
        }
        assertThat(net.score(ds)).isLessThan(0.8 * before);
    }

    @Test
    void lastTimeStepPassesTheGradientCheckWithAMask() {
        Random r = TestData.random("lastGc");
        MultiLayerNetwork net = lastTimeStep(new NoOp());
        INDArray x = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, STEPS);
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(x)
                .labels(lastLabels(x)).inputMask(Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2))
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-9).print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
        assertThat(ok).as("gradient check").isTrue();
    }

    @Test
    void lastTimeStepTrains() {
        Random r = TestData.random("lastFit");
        MultiLayerNetwork net = lastTimeStep(new Adam(2e-2));
        INDArray x = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, 8, STEPS);
        DataSet ds = new DataSet(x, lastLabels(x));
        double before = net.score(ds);
        for (int i = 0; i < 60; i++) {
            net.fit(ds);
        }
        assertThat(net.score(ds)).isLessThan(0.8 * before);
    }

    /** Truncated BPTT under a cache mode: each chunk's backprop reuses its forward, and the network trains. */
    @Test
    void truncatedBpttWithCachingTrains() {
        Random r = TestData.random("tbpttCache");
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(TestData.SEED).dataType(DataType.DOUBLE)
                .updater(new Adam(2e-2)).cacheMode(CacheMode.DEVICE).list()
                .layer(Nets.attention(true, true).backend(CountingProvider.NAME).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(Nets.N_IN))
                .backpropType(BackpropType.TruncatedBPTT).tBPTTLength(5)
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        INDArray x = Nets.features(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, 15);
        DataSet ds = new DataSet(x, Nets.labels(r, DataType.DOUBLE, RNNFormat.NCW, BATCH, 15));
        double before = net.score(ds);
        long forwards = CountingProvider.FORWARDS.get();
        long backwards = CountingProvider.BACKWARDS.get();
        net.fit(ds);
        assertThat(CountingProvider.BACKWARDS.get() - backwards).as("one backward per chunk").isEqualTo(3);
        assertThat(CountingProvider.FORWARDS.get() - forwards).as("one forward per chunk").isEqualTo(3);
        for (int i = 0; i < 40; i++) {
            net.fit(ds);
        }
        assertThat(net.score(ds)).isLessThan(0.8 * before);
    }
}
