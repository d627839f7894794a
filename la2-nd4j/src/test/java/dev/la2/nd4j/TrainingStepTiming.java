package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Random;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Measures one training step (forward, backward, gradients; no update) of a network of one
 * attention layer and an output layer, per token, with CacheMode NONE (backprop recomputes the
 * forward) and DEVICE (it reuses it). Not a test: runs only with -Dla2.timing=true, and prints a
 * Markdown table for docs/BENCHMARKS.md. -Dla2.timing.sizes=256,1024 picks the sequence lengths.
 */
@EnabledIfSystemProperty(named = "la2.timing", matches = "true")
class TrainingStepTiming {
    private static final int D_MODEL = 256;
    private static final int HEADS = 4;
    private static final int REPEATS = 9;

    @Test
    void trainingStepPerToken() {
        int[] sizes = Arrays.stream(System.getProperty("la2.timing.sizes", "256,512,1024,2048,4096,8192").split(","))
                .map(String::strip).mapToInt(Integer::parseInt).toArray();
        System.out.println("| N | NONE (us/token) | DEVICE (us/token) | DEVICE / NONE |");
        System.out.println("|---:|---:|---:|---:|");
        for (int n : sizes) {
            Random r = TestData.random("timing" + n);
            INDArray x = TestData.normal(r, DataType.FLOAT, 1.0, 1, D_MODEL, n);
            INDArray labels = Nets.labels(r, DataType.FLOAT, RNNFormat.NCW, 1, n);
            double none = perToken(CacheMode.NONE, x, labels, n);
            double cached = perToken(CacheMode.DEVICE, x, labels, n);
            assertThat(none).as("NONE, us per token at N=" + n).isPositive().isFinite();
            assertThat(cached).as("DEVICE, us per token at N=" + n).isPositive().isFinite();
            System.out.printf("| %d | %.3f | %.3f | %.2f |%n", n, none, cached, cached / none);
        }
    }

    /** Median microseconds per token of one gradient computation, after warm-up. */
    private static double perToken(CacheMode mode, INDArray x, INDArray labels, int n) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT)
                .updater(new Sgd(1e-3)).weightInit(WeightInit.XAVIER).cacheMode(mode).list()
                .layer(new LightningAttentionLayer.Builder().nOut(D_MODEL).nHeads(HEADS).headNorm(true).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(D_MODEL))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        net.setInput(x);
        net.setLabels(labels);
        for (int i = 0; i < 3; i++) {
            net.computeGradientAndScore();
        }
        double[] us = new double[REPEATS];
        for (int i = 0; i < REPEATS; i++) {
            long start = System.nanoTime();
            net.computeGradientAndScore();
            us[i] = (System.nanoTime() - start) / 1e3 / n;
        }
        Arrays.sort(us);
        return us[REPEATS / 2];
    }
}
