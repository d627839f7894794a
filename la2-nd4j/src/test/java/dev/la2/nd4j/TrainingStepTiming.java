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
 * Markdown table for docs/BENCHMARKS.md section 5.
 *
 * <p>Load on a shared machine comes and goes over seconds, so the two modes are timed in
 * interleaved pairs, NONE then DEVICE and DEVICE then NONE by turns, on two networks with the same
 * parameters: slow stretches fall on both modes alike, and neither always runs second. Each mode's
 * cell is the median and interquartile range of its repetitions; the ratio is of the medians, with
 * a 95% bootstrap interval over the pairs ({@link PairedTimes}).
 *
 * <p>Properties: {@code la2.timing.lengths} (sequence lengths, default 256,...,8192),
 * {@code la2.timing.reps} (pairs per length, default 31), {@code la2.timing.warmup} (untimed steps
 * of each network first, default 5).
 */
@EnabledIfSystemProperty(named = "la2.timing", matches = "true")
class TrainingStepTiming {
    private static final int D_MODEL = 256;
    private static final int HEADS = 4;

    @Test
    void trainingStepPerToken() {
        int[] lengths = Arrays.stream(System.getProperty("la2.timing.lengths", "256,512,1024,2048,4096,8192").split(","))
                .map(String::strip).mapToInt(Integer::parseInt).toArray();
        int reps = Integer.getInteger("la2.timing.reps", 31);
        int warmup = Integer.getInteger("la2.timing.warmup", 5);
        if (reps < 1 || warmup < 0) {
            throw new IllegalArgumentException("la2.timing.reps, la2.timing.warmup: got " + reps + ", " + warmup
                    + "; expected >= 1 and >= 0");
        }
        System.out.printf("d_model %d, %d heads, head norm, batch 1; %d interleaved pairs per N after %d warm-up steps;"
                + " cells: median [q1, q3] in us per token; ratio: DEVICE / NONE medians [95%% bootstrap]%n%n",
                D_MODEL, HEADS, reps, warmup);
        System.out.println("| N | NONE, us/token | DEVICE, us/token | DEVICE / NONE |");
        System.out.println("| --- | --- | --- | --- |");
        for (int n : lengths) {
            PairedTimes t = measure(n, reps, warmup);
            double[] interval = t.ratioInterval(0.95);
            assertThat(PairedTimes.median(t.a())).as("NONE, us per token at N=" + n).isPositive().isFinite();
            assertThat(PairedTimes.median(t.b())).as("DEVICE, us per token at N=" + n).isPositive().isFinite();
            System.out.printf("| %d | %s | %s | %.2f [%.2f, %.2f] |%n", n, PairedTimes.medianAndQuartiles(t.a(), 1),
                    PairedTimes.medianAndQuartiles(t.b(), 1), t.ratio(), interval[0], interval[1]);
        }
    }

    /** Microseconds per token of NONE (a) and DEVICE (b), in interleaved pairs of alternating order. */
    private static PairedTimes measure(int n, int reps, int warmup) {
        Random r = TestData.random("timing" + n);
        INDArray x = TestData.normal(r, DataType.FLOAT, 1.0, 1, D_MODEL, n);
        INDArray labels = Nets.labels(r, DataType.FLOAT, RNNFormat.NCW, 1, n);
        MultiLayerNetwork none = network(CacheMode.NONE, x, labels);
        MultiLayerNetwork device = network(CacheMode.DEVICE, x, labels);
        device.setParams(none.params());
        for (int i = 0; i < warmup; i++) {
            none.computeGradientAndScore();
            device.computeGradientAndScore();
        }
        double[] a = new double[reps];
        double[] b = new double[reps];
        for (int i = 0; i < reps; i++) {
            if (i % 2 == 0) {
                a[i] = microsPerToken(none, n);
                b[i] = microsPerToken(device, n);
            } else {
                b[i] = microsPerToken(device, n);
                a[i] = microsPerToken(none, n);
            }
        }
        return new PairedTimes(a, b);
    }

    private static MultiLayerNetwork network(CacheMode mode, INDArray x, INDArray labels) {
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
        return net;
    }

    /** One gradient computation, in microseconds per token. */
    private static double microsPerToken(MultiLayerNetwork net, int n) {
        long start = System.nanoTime();
        net.computeGradientAndScore();
        return (System.nanoTime() - start) / 1e3 / n;
    }
}
