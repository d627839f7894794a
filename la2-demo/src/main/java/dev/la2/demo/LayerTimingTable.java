package dev.la2.demo;

import dev.la2.nd4j.LightningAttentionLayer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.conf.layers.SelfAttentionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The demo's timing table: time per token of ONE attention layer's forward plus backward pass,
 * LightningAttentionLayer against DL4J's softmax SelfAttentionLayer, over growing sequence lengths
 * (flat for Lightning, growing linearly per token for softmax).
 *
 * <p>Each layer sits in a network with only a parameter-free MSE loss after it, and is timed
 * through {@code computeGradientAndScore} (forward, loss, backward; no update), after warm-up
 * calls, as the median of repeated calls.
 */
final class LayerTimingTable {
    /** Softmax keeps H attention matrices of N x N floats, several times over for backprop. */
    private static final long SOFTMAX_MEMORY_LIMIT = 1536L << 20;

    private LayerTimingTable() {
    }

    /**
     * @param softmaxMicros µs per token, or null where softmax did not run
     * @param softmaxNote   why softmax did not run, else empty
     */
    record Row(int length, double lightningMicros, Double softmaxMicros, String softmaxNote) {
    }

    /** One row per length; softmax stops at the first length it cannot afford in memory or time. */
    static List<Row> measure(int model, int heads, int[] lengths, String backend, double budgetSeconds, Runnable tick) {
        Random random = new Random(1);
        MultiLayerNetwork lightning = network(new LightningAttentionLayer.Builder().nIn(model).nOut(model).nHeads(heads)
                .headSize(model / heads).backend(backend).build(), model);
        MultiLayerNetwork softmax = network(new SelfAttentionLayer.Builder().nIn(model).nOut(model).nHeads(heads)
                .headSize(model / heads).projectInput(true).build(), model);
        long deadline = System.nanoTime() + (long) (budgetSeconds * 1e9);
        List<Row> rows = new ArrayList<>();
        String stopped = null;
        int stoppedAt = 0;
        double lastSoftmaxSeconds = 0;
        for (int n : lengths) {
            INDArray x = Nd4j.randn(random.nextLong(), new long[] {1, model, n}).castTo(DataType.FLOAT);
            INDArray y = Nd4j.randn(random.nextLong(), new long[] {1, model, n}).castTo(DataType.FLOAT);
            double lightningSeconds = time(lightning, x, y, deadline);
            Double softmaxMicros = null;
            String note;
            if (stopped != null) {
                note = "not run (longer than N=" + stoppedAt + ")";
            } else {
                long bytes = 4L * heads * n * (long) n * Float.BYTES;
                double remaining = (deadline - System.nanoTime()) / 1e9;
                // A warm-up plus one timed call, each about 4x the last length's.
                double predicted = 2 * 4 * lastSoftmaxSeconds;
                if (bytes > SOFTMAX_MEMORY_LIMIT) {
                    stopped = String.format("stopped: needs ~%.1f GiB for the N x N attention matrices", bytes / 1073741824.0);
                } else if (predicted > remaining) {
                    stopped = String.format("stopped: ~%.0f s predicted, %.0f s of time budget left", predicted,
                            Math.max(remaining, 0));
                } else {
                    try {
                        double seconds = time(softmax, x, y, deadline);
                        lastSoftmaxSeconds = seconds;
                        softmaxMicros = seconds * 1e6 / n;
                    } catch (OutOfMemoryError | RuntimeException e) {
                        stopped = "stopped: " + e.getClass().getSimpleName() + " (out of memory?)";
                    }
                }
                if (stopped != null) {
                    stoppedAt = n;
                }
                note = stopped == null ? "" : stopped;
            }
            rows.add(new Row(n, lightningSeconds * 1e6 / n, softmaxMicros, note));
            tick.run();
        }
        return rows;
    }

    /** Prints the table, one line per length, then the chart's path. */
    static void print(PrintWriter out, List<Row> rows, String backendName, Path chart) {
        out.println();
        out.printf("per-token time of one layer, forward + backward (µs per token; softmax = DL4J SelfAttentionLayer, "
                + "non-causal; Lightning = LightningAttentionLayer on la2 '%s'):%n", backendName);
        out.println("        N    Lightning      softmax   softmax / Lightning");
        for (Row r : rows) {
            if (r.softmaxMicros() != null) {
                out.printf("  %7d  %11.2f  %11.2f   %8.2fx%n", r.length(), r.lightningMicros(), r.softmaxMicros(),
                        r.softmaxMicros() / r.lightningMicros());
            } else {
                out.printf("  %7d  %11.2f  %11s   %s%n", r.length(), r.lightningMicros(), "-", r.softmaxNote());
            }
        }
        out.println("chart: " + chart.toAbsolutePath());
    }

    private static MultiLayerNetwork network(Layer attention, int model) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3)
                .dataType(DataType.FLOAT).updater(new NoOp()).list()
                .layer(attention)
                .layer(new RnnLossLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(model))
                .build());
        net.init();
        return net;
    }

    private static final long WARMUP_NANOS = 500_000_000L;

    /**
     * Median seconds of one forward+backward call: warm-up calls for {@value #WARMUP_NANOS} ns (at
     * least one), so the JIT has compiled the kernels before short sequences are timed (a single
     * warm-up call leaves short sequences several times slower than they run warm), then timed
     * calls until 0.4 s are spent (at least 3, at most 9; a single one when a call takes over 2 s or
     * the budget is gone).
     */
    private static double time(MultiLayerNetwork net, INDArray x, INDArray y, long deadline) {
        net.setInput(x);
        net.setLabels(y);
        long warmUntil = Math.min(deadline, System.nanoTime() + WARMUP_NANOS);
        do {
            net.computeGradientAndScore();
        } while (System.nanoTime() < warmUntil);
        double[] runs = new double[9];
        int count = 0;
        long spent = 0;
        while (count < runs.length && (count == 0
                || count < 3 && spent < 2_000_000_000L && System.nanoTime() < deadline
                || spent < 400_000_000L && System.nanoTime() < deadline)) {
            long t0 = System.nanoTime();
            net.computeGradientAndScore();
            long dt = System.nanoTime() - t0;
            runs[count++] = dt / 1e9;
            spent += dt;
        }
        double[] done = Arrays.copyOf(runs, count);
        Arrays.sort(done);
        return done[count / 2];
    }
}
