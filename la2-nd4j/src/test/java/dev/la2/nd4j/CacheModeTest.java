package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * CacheMode: a training step under a cache mode runs the attention forward once (backprop uses what
 * the forward kept) and gives NONE's gradients; gradient checks pass both ways.
 */
@ExtendWith(DoublePrecision.class)
class CacheModeTest {
    private static final int BATCH = 2;
    private static final int STEPS = 7;

    private static MultiLayerNetwork net(CacheMode mode, WorkspaceMode workspaces, RNNFormat format, boolean headNorm) {
        MultiLayerConfiguration conf = Nets.mln(DataType.DOUBLE, new NoOp(), format, true, headNorm);
        // What NeuralNetConfiguration.Builder.cacheMode(mode) sets: the network's and every layer's.
        conf.setCacheMode(mode);
        conf.getConfs().forEach(c -> c.setCacheMode(mode));
        conf.setTrainingWorkspaceMode(workspaces);
        conf.getConf(0).getLayer().setLayerName("attn");
        ((LightningAttentionLayer) conf.getConf(0).getLayer()).setBackend(CountingProvider.NAME);
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @ParameterizedTest(name = "{0}, workspaces {1}, {2}, masked={3}, headNorm={4}")
    @CsvSource({
        "DEVICE, ENABLED, NCW, false, false",
        "HOST, ENABLED, NWC, true, true",
        "DEVICE, NONE, NCW, true, true",
        "DEVICE, NONE, NWC, false, false",
    })
    void aCachedStepRunsOneForwardAndGivesTheSameGradients(CacheMode mode, WorkspaceMode workspaces, RNNFormat format,
                                                           boolean masked, boolean headNorm) {
        Random r = TestData.random("cache" + mode + workspaces + format + masked + headNorm);
        INDArray in = Nets.features(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray mask = masked ? Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2) : null;

        MultiLayerNetwork cached = net(mode, workspaces, format, headNorm);
        MultiLayerNetwork plain = net(CacheMode.NONE, workspaces, format, headNorm);
        plain.setParams(cached.params());

        long[] cachedCalls = step(cached, in, labels, mask);
        long[] plainCalls = step(plain, in, labels, mask);
        assertThat(cachedCalls).as("attention forwards and backwards with %s", mode).containsExactly(1, 1);
        assertThat(plainCalls).as("attention forwards and backwards with NONE").containsExactly(2, 1);
        assertThat(cached.score()).isEqualTo(plain.score());
        assertThat(TestData.relativeError(TestData.doubles(cached.gradient().gradient()),
                TestData.doubles(plain.gradient().gradient()))).isLessThan(1e-12);
    }

    /** One gradient computation; returns the attention forward and backward calls it made. */
    private static long[] step(MultiLayerNetwork net, INDArray in, INDArray labels, INDArray mask) {
        net.setInput(in);
        net.setLabels(labels);
        net.setLayerMaskArrays(mask, mask);
        long forwards = CountingProvider.FORWARDS.get();
        long backwards = CountingProvider.BACKWARDS.get();
        net.computeGradientAndScore();
        return new long[] {CountingProvider.FORWARDS.get() - forwards, CountingProvider.BACKWARDS.get() - backwards};
    }

    @ParameterizedTest(name = "{0}, {1}, masked={2}")
    @CsvSource({
        "DEVICE, NCW, true",
        "HOST, NWC, false",
        "NONE, NWC, true",
    })
    void gradientCheckPasses(CacheMode mode, RNNFormat format, boolean masked) {
        Random r = TestData.random("cacheGc" + mode + format + masked);
        MultiLayerNetwork net = net(mode, WorkspaceMode.ENABLED, format, true);
        INDArray in = Nets.features(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray labels = Nets.labels(r, DataType.DOUBLE, format, BATCH, STEPS);
        INDArray mask = masked ? Nets.mask(DataType.DOUBLE, BATCH, STEPS, 2) : null;
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(in)
                .labels(labels).inputMask(mask).labelMask(mask).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(GradientCheckTest.MIN_ABS_ERROR)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
        assertThat(ok).as("gradient check").isTrue();
    }
}
