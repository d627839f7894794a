package dev.la2.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code la2 demo}: trains a small character-level language model built on LightningAttentionLayer
 * on a public-domain text that ships with la2, samples from it through the layer's recurrent
 * state, then times one attention layer against DL4J's softmax self-attention over growing
 * sequence lengths and draws the result.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Train a character-level language model with LightningAttentionLayer (DL4J) on Moby-Dick "
                + "(chapters 1-54, public domain, shipped with la2), print its loss against the text's unigram entropy "
                + "and a generated sample, then time Lightning against DL4J's softmax SelfAttentionLayer per token "
                + "for growing sequence lengths (table and PNG chart).",
                "Default run: about 3 minutes (--minutes of training, then at most --bench-seconds of timing)."})
public final class DemoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--minutes", paramLabel = "MIN", defaultValue = "1.75",
            description = "Training time limit in minutes (default: ${DEFAULT-VALUE}).")
    double minutes;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "0",
            description = "Training steps; 0 = as many as --minutes allows (default).")
    int steps;

    @Option(names = "--seq-len", paramLabel = "N", defaultValue = "128",
            description = "Characters per training sequence (default: ${DEFAULT-VALUE}).")
    int sequenceLength;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "16",
            description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--d-model", paramLabel = "N", defaultValue = "64",
            description = "Model width (default: ${DEFAULT-VALUE}).")
    int model;

    @Option(names = "--heads", paramLabel = "N", defaultValue = "4",
            description = "Attention heads (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--layers", paramLabel = "N", defaultValue = "2",
            description = "TransNormerLLM blocks (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--lr", paramLabel = "RATE", defaultValue = "0.004",
            description = "Adam learning rate (default: ${DEFAULT-VALUE}).")
    double learningRate;

    @Option(names = "--backend", paramLabel = "NAME",
            description = "The layers' preferred la2 backend (cpu, cuda, reference), as a model "
                    + "configures it: -Dla2.backend overrides it, and one not available here gives way to the best "
                    + "available (with a warning); default: the best available.")
    String backend;

    @Option(names = "--sample-length", paramLabel = "N", defaultValue = "400",
            description = "Characters to generate (default: ${DEFAULT-VALUE}).")
    int sampleLength;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.7",
            description = "Sampling temperature (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--prompt", paramLabel = "TEXT", defaultValue = "The whale ",
            description = "Text the sample starts from (default: '${DEFAULT-VALUE}').")
    String prompt;

    @Option(names = "--seed", paramLabel = "SEED", description = "Random seed (default: from the clock).")
    Long seed;

    @Option(names = "--bench-lengths", paramLabel = "N", split = ",", defaultValue = "256,512,1024,2048,4096,8192",
            description = "Sequence lengths of the timing table (default: ${DEFAULT-VALUE}).")
    int[] benchLengths;

    @Option(names = "--bench-seconds", paramLabel = "SECONDS", defaultValue = "45",
            description = "Time limit of the timing table in seconds (default: ${DEFAULT-VALUE}).")
    double benchSeconds;

    @Option(names = "--bench-d-model", paramLabel = "N", defaultValue = "64",
            description = "Width of the timed layers (default: ${DEFAULT-VALUE}).")
    int benchModel;

    @Option(names = "--chart", paramLabel = "FILE", defaultValue = "la2-demo.png",
            description = "Where to write the timing chart (default: ${DEFAULT-VALUE}).")
    Path chart;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "ND4J (OpenMP and BLAS) threads; 0 = automatic: ND4J's default, or 1 when the machine is already "
                    + "busy (load average >= cores), since OpenMP threads then spin against the other jobs.")
    int threads;

    @Option(names = "--no-progress", description = "Do not draw the progress bar.")
    boolean noProgress;

    /** Loss at one point of training, in nats per character. */
    public record Checkpoint(int step, double seconds, double trainLoss, double heldOutLoss) {
    }

    /** What a run measured; {@link #lastReport()} after {@link #call()}. */
    public record Report(String backend, double unigramEntropy, List<Checkpoint> checkpoints, String sample,
                         List<LayerTimingTable.Row> timings, Path chart) {
    }

    private Report report;

    public Report lastReport() {
        return report;
    }

    @Override
    public Integer call() throws IOException {
        validate();
        PrintWriter out = spec.commandLine().getOut();
        String threadNote = configureThreads();
        long runSeed = seed != null ? seed : System.nanoTime();
        Random random = new Random(runSeed);

        Corpus corpus = Corpus.shipped();
        for (char ch : prompt.toCharArray()) {
            if (!corpus.contains(ch)) {
                throw bad("--prompt: got a '" + ch + "', which the corpus never uses; expected characters of the text");
            }
        }
        double entropy = corpus.unigramEntropy();
        ComputationGraph net = CharLanguageModel.build(
                new CharLanguageModel.Size(corpus.vocabulary(), model, heads, layers), learningRate, backend, runSeed);
        String backendName = CharLanguageModel.backendName(net);
        out.printf("la2 demo: character-level language model with LightningAttentionLayer (la2 backend '%s', seed %d)%n",
                backendName, runSeed);
        out.printf("corpus: %s, %,d characters (%,d for training, %,d held out), %d distinct%n",
                Corpus.RESOURCE, corpus.length(), corpus.trainLength(), corpus.length() - corpus.trainLength(),
                corpus.vocabulary());
        out.printf("model: embedding %d -> %d x TransNormerLLM block [SRMSNorm, gated Lightning attention (%d heads) "
                        + "+ residual, SRMSNorm, SGLU %d-%d-%d + residual] -> SRMSNorm -> softmax %d; %,d parameters%n",
                model, layers, heads, model, 2 * model, model, corpus.vocabulary(), net.numParams());
        out.println("ND4J threads: " + threadNote);
        out.printf("training: %d sequences x %d characters per step, Adam %.4g, %s%n%n", batch, sequenceLength,
                learningRate, steps > 0 ? steps + " steps (at most " + minutes + " min)" : "for " + minutes + " min");
        out.flush();

        List<Checkpoint> checkpoints = train(net, corpus, random, out);
        Checkpoint first = checkpoints.get(0);
        Checkpoint last = checkpoints.get(checkpoints.size() - 1);
        out.println();
        out.println("loss (nats per character; bits = nats / ln 2):");
        out.println("    step    time   train loss   held-out loss");
        for (Checkpoint c : checkpoints) {
            out.printf("  %6d  %5.0f s   %10.3f   %13.3f%n", c.step(), c.seconds(), c.trainLoss(), c.heldOutLoss());
        }
        out.printf("%nfinal held-out loss %.3f nats/char (%.2f bits) vs unigram entropy of the text %.3f nats/char "
                        + "(%.2f bits): %.0f%% of it%s%n",
                last.heldOutLoss(), last.heldOutLoss() / Math.log(2), entropy, entropy / Math.log(2),
                100 * last.heldOutLoss() / entropy,
                last.heldOutLoss() < first.heldOutLoss() ? "" : "  (no improvement: train longer with --minutes)");

        String sample = CharLanguageModel.sample(net, corpus, prompt, sampleLength, temperature, random);
        out.printf("%nsample (temperature %.2f, one rnnTimeStep per character through the layers' recurrent state):%n",
                temperature);
        out.println("  " + sample.replace("\n", "\n  "));
        out.println();
        out.flush();

        List<LayerTimingTable.Row> rows = timingTable(out);
        Path written = TimingChart.write(rows, backendName, benchModel, heads, chart);
        LayerTimingTable.print(out, rows, backendName, written);
        report = new Report(backendName, entropy, List.copyOf(checkpoints), sample, rows, written);
        out.flush();
        return 0;
    }

    private String configureThreads() {
        int cores = Runtime.getRuntime().availableProcessors();
        double load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        int chosen = threads;
        String why = "--threads";
        if (chosen == 0 && load >= cores) {
            chosen = 1;
            why = String.format("automatic: load average %.1f on %d cores", load, cores);
        }
        if (chosen == 0) {
            return "ND4J's default (" + Nd4j.getEnvironment().maxThreads() + ")";
        }
        Nd4j.getEnvironment().setMaxThreads(chosen);
        Nd4j.getEnvironment().setMaxMasterThreads(chosen);
        Nd4j.factory().blas().setMaxThreads(chosen);
        return chosen + " (" + why + ")";
    }

    private void validate() {
        positive(sequenceLength, "--seq-len");
        positive(batch, "--batch");
        positive(model, "--d-model");
        positive(heads, "--heads");
        positive(layers, "--layers");
        positive(benchModel, "--bench-d-model");
        if (threads < 0) {
            throw bad("--threads: got " + threads + "; expected >= 0 (0: ND4J's default)");
        }
        if (steps < 0) {
            throw bad("--steps: got " + steps + "; expected >= 0 (0: limited by --minutes only)");
        }
        if (!(minutes > 0)) {
            throw bad("--minutes: got " + minutes + "; expected > 0");
        }
        if (!(temperature > 0)) {
            throw bad("--temperature: got " + temperature + "; expected > 0");
        }
        if (prompt.isEmpty()) {
            throw bad("--prompt: got an empty string; expected at least one character");
        }
        if (model % heads != 0) {
            throw bad("--d-model: got " + model + "; expected a multiple of --heads=" + heads);
        }
        if (benchModel % heads != 0) {
            throw bad("--bench-d-model: got " + benchModel + "; expected a multiple of --heads=" + heads);
        }
        for (int n : benchLengths) {
            positive(n, "--bench-lengths");
        }
        try {
            TimingChart.requireWritable(chart);
        } catch (IOException e) {
            throw bad("--chart " + chart + ": cannot write the chart there (" + describe(e) + ")");
        }
    }

    /** What went wrong with a file, in words rather than the exception's class name. */
    private static String describe(IOException e) {
        if (e instanceof NoSuchFileException f) {
            return f.getFile() + ": no such file or directory";
        }
        if (e instanceof AccessDeniedException f) {
            return f.getFile() + ": permission denied";
        }
        return String.valueOf(e.getMessage());
    }

    private void positive(int value, String option) {
        if (value < 1) {
            throw bad(option + ": got " + value + "; expected >= 1");
        }
    }

    private ParameterException bad(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private List<Checkpoint> train(ComputationGraph net, Corpus corpus, Random random, PrintWriter out) {
        // Held-out batches are fixed for the whole run so the checkpoints compare like with like.
        List<DataSet> heldOut = new ArrayList<>();
        Random fixed = new Random(random.nextLong());
        for (int i = 0; i < 4; i++) {
            heldOut.add(corpus.batch(fixed, batch, sequenceLength, true));
        }
        List<Checkpoint> checkpoints = new ArrayList<>();
        long start = System.nanoTime();
        long limit = (long) (minutes * 60e9);
        double initial = evaluate(net, heldOut, sequenceLength);
        checkpoints.add(new Checkpoint(0, 0, initial, initial));
        int nextCheckpoint = 1;
        double smoothed = initial;
        int step = 0;
        long tokens = 0;
        ProgressBarBuilder builder = new ProgressBarBuilder().setTaskName("train").setStyle(ProgressBarStyle.ASCII)
                .setInitialMax(steps > 0 ? steps : 100).setUpdateIntervalMillis(500).setUnit(" steps", 1)
                .setConsumer(new ConsoleProgressBarConsumer(System.err));
        try (ProgressBar bar = noProgress ? null : builder.build()) {
            while (steps == 0 || step < steps) {
                long elapsed = System.nanoTime() - start;
                if (elapsed >= limit) {
                    break;
                }
                net.fit(corpus.batch(random, batch, sequenceLength, false));
                step++;
                tokens += (long) batch * sequenceLength;
                // DL4J's sequence loss is summed over time steps: divide for nats per character.
                double loss = net.score() / sequenceLength;
                smoothed = step == 1 ? loss : 0.9 * smoothed + 0.1 * loss;
                double seconds = (System.nanoTime() - start) / 1e9;
                if (bar != null) {
                    if (steps == 0) {
                        // Time-limited: the number of steps that fit is estimated from the pace so far.
                        bar.maxHint(Math.max(step + 1, (long) (step * (limit / 1e9) / seconds)));
                    }
                    bar.stepTo(step);
                    bar.setExtraMessage(String.format(" loss %.3f, %,.0f tok/s", smoothed, tokens / seconds));
                }
                double fraction = steps > 0 ? (double) step / steps : seconds * 1e9 / limit;
                if (fraction >= nextCheckpoint / 5.0 && nextCheckpoint < 5) {
                    checkpoints.add(new Checkpoint(step, seconds, smoothed, evaluate(net, heldOut, sequenceLength)));
                    nextCheckpoint = (int) Math.floor(fraction * 5) + 1;
                }
            }
            if (bar != null) {
                bar.maxHint(step);
                bar.stepTo(step);
            }
        }
        checkpoints.add(new Checkpoint(step, (System.nanoTime() - start) / 1e9, smoothed, evaluate(net, heldOut, sequenceLength)));
        return checkpoints;
    }

    /** Mean cross-entropy per character on the held-out batches. */
    private static double evaluate(ComputationGraph net, List<DataSet> batches, int steps) {
        double sum = 0;
        for (DataSet d : batches) {
            sum += net.score(d, false);
        }
        return sum / batches.size() / steps;
    }

    private List<LayerTimingTable.Row> timingTable(PrintWriter out) {
        out.printf("timing one attention layer, forward + backward, batch 1, d_model %d, %d heads ...%n", benchModel, heads);
        out.flush();
        ProgressBarBuilder builder = new ProgressBarBuilder().setTaskName("timing").setStyle(ProgressBarStyle.ASCII)
                .setInitialMax(benchLengths.length).setUpdateIntervalMillis(500).setUnit(" lengths", 1)
                .setConsumer(new ConsoleProgressBarConsumer(System.err));
        try (ProgressBar bar = noProgress ? null : builder.build()) {
            return LayerTimingTable.measure(benchModel, heads, benchLengths, backend, benchSeconds,
                    () -> {
                        if (bar != null) {
                            bar.step();
                        }
                    });
        }
    }
}
