package dev.la2.nd4j;

import static dev.la2.nd4j.BadInputSupport.SEED;
import static dev.la2.nd4j.BadInputSupport.assertExactlyEqual;
import static dev.la2.nd4j.BadInputSupport.chain;
import static dev.la2.nd4j.BadInputSupport.other;
import static dev.la2.nd4j.BadInputSupport.pick;
import static dev.la2.nd4j.BadInputSupport.shape;
import static dev.la2.nd4j.BadInputSupport.small;
import static dev.la2.nd4j.BadInputSupport.thrownBy;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Random malformed inputs to a network of random size with a {@link LightningAttentionLayer}: wrong
 * feature sizes, ranks and mask shapes (in output, fit and rnnTimeStep) must fail with a message chain
 * that shows what was given and what was expected, leaving the caller's arrays, the parameters and the
 * stored recurrent state unchanged, so the network afterwards computes exactly what it computed before;
 * NaN/Inf in the input must reach the layer's output for that example only.
 *
 * <p>Seeded from {@code -Dla2.seed} (default: the clock); the seed is in every assertion message.
 * Trial count: {@code -Dla2.badInput.layerTrials}.
 */
class LayerBadInputTest {
    private static final int LAYER_TRIALS = Integer.getInteger("la2.badInput.layerTrials", 60);

    @BeforeAll
    static void printSeed() {
        System.out.println("LayerBadInputTest: seed " + SEED + " (replay with -Dla2.seed=" + SEED + "), backend "
                + TestData.backend());
    }

    /** The network's shape: input format and type, the attention layer's sizes, the number of classes. */
    private record NetSpec(RNNFormat format, DataType type, int nIn, int heads, int headSize, int valueSize,
                           int nOut, boolean headNorm, int classes) {
        long[] input(int batch, int steps, int features) {
            return format == RNNFormat.NCW ? new long[] {batch, features, steps} : new long[] {batch, steps, features};
        }
    }

    private static NetSpec randomNet(Random r) {
        return new NetSpec(r.nextBoolean() ? RNNFormat.NCW : RNNFormat.NWC,
                r.nextBoolean() ? DataType.FLOAT : DataType.DOUBLE,
                small(r, 6), small(r, 3), small(r, 4), small(r, 4), small(r, 5),
                r.nextBoolean(), 2 + r.nextInt(3));
    }

    private static MultiLayerNetwork network(NetSpec s, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(s.type())
                .updater(new Adam(1e-2)).weightInit(WeightInit.XAVIER)
                .list()
                .layer(new LightningAttentionLayer.Builder().nIn(s.nIn()).nOut(s.nOut()).nHeads(s.heads())
                        .headSize(s.headSize()).valueSize(s.valueSize()).decayScale(1.5).headNorm(s.headNorm())
                        .backend(TestData.backend()).rnnDataFormat(s.format()).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .dataFormat(s.format()).nOut(s.classes()).build())
                .setInputType(InputType.recurrent(s.nIn(), s.format()))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @Test
    void layerRefusesMalformedInputsClearlyAndKeepsWorking() {
        Random r = new Random(SEED ^ 0x1a7e4L);
        Map<String, Integer> seen = new TreeMap<>();
        for (int trial = 0; trial < LAYER_TRIALS; trial++) {
            NetSpec s = randomNet(r);
            MultiLayerNetwork net = network(s, SEED + trial);
            int batch = small(r, 3);
            int steps = small(r, 7);
            INDArray x = TestData.normal(r, s.type(), 1.0, s.input(batch, steps, s.nIn()));
            INDArray goodMask = Nets.mask(s.type(), batch, steps, Math.min(1, steps - 1));
            String ctx = "seed " + SEED + ", layer trial " + trial + ", " + s + ", batch " + batch + ", steps " + steps;

            INDArray before = net.output(x).dup();
            INDArray beforeMasked = net.output(x, false, goodMask, null).dup();
            INDArray params = net.params().dup();
            String what;
            switch (r.nextInt(7)) {
                case 0 -> { // wrong feature size
                    int nIn = other(r, s.nIn(), 1);
                    INDArray bad = TestData.normal(r, s.type(), 1.0, s.input(batch, steps, nIn));
                    what = "features " + nIn + " for nIn " + s.nIn();
                    expectClearFailure(() -> net.output(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                }
                case 1 -> { // rank 2 where rank 3 is expected
                    INDArray bad = TestData.normal(r, s.type(), 1.0, batch, s.nIn() * (long) steps);
                    what = "rank 2 input";
                    expectClearFailure(() -> net.output(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                }
                case 2 -> { // rank 4
                    long[] sh = s.input(batch, steps, s.nIn());
                    INDArray bad = TestData.normal(r, s.type(), 1.0, sh[0], sh[1], sh[2], 1);
                    what = "rank 4 input";
                    expectClearFailure(() -> net.output(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                }
                case 3 -> { // a mask of the wrong shape
                    List<long[]> shapes = new ArrayList<>(List.of(new long[] {batch, steps + 1},
                            new long[] {batch + 1, steps}, new long[] {batch, steps, 1}));
                    if (batch != steps) {
                        shapes.add(new long[] {steps, batch});
                    }
                    long[] ms = pick(r, shapes);
                    INDArray mask = Nd4j.ones(s.type(), ms);
                    what = "mask " + shape(ms);
                    expectClearFailure(() -> net.output(x, false, mask, null), x, mask, shape(ms),
                            "expected[^\\n]*(" + Pattern.quote(shape(new long[] {batch, steps})) + "|\\[minibatch, T\\])", ctx + ", " + what);
                }
                case 4 -> { // NaN or Inf in the input propagates through the layer
                    double badValue = r.nextBoolean() ? Double.NaN : Double.POSITIVE_INFINITY;
                    int b = r.nextInt(batch), t = r.nextInt(steps), f = r.nextInt(s.nIn());
                    INDArray bad = x.dup();
                    bad.putScalar(s.format() == RNNFormat.NCW ? new long[] {b, f, t} : new long[] {b, t, f}, badValue);
                    what = badValue + " input";
                    INDArray snap = bad.dup();
                    // The attention layer's own activations: DL4J's softmax after it may turn an all-NaN row
                    // into a uniform distribution (seen with nOut=1), which is not this layer's doing.
                    INDArray out = net.feedForward(bad, false).get(1);
                    net.output(bad); // the whole network must not crash either
                    assertExactlyEqual(bad, snap, ctx + ", " + what + ": the caller's input");
                    for (int c = 0; c < s.nOut(); c++) {
                        double o = s.format() == RNNFormat.NCW ? out.getDouble(b, c, t) : out.getDouble(b, t, c);
                        assertThat(Double.isFinite(o)).as("%s, %s at [b=%d, t=%d, f=%d]: layer output %d = %s should be non-finite",
                                ctx, what, b, t, f, c, o).isFalse();
                    }
                    for (int ob = 0; ob < batch; ob++) {
                        if (ob != b) {
                            INDArray other = out.get(NDArrayIndex.point(ob), NDArrayIndex.all(), NDArrayIndex.all());
                            assertThat(other.isInfinite().any() || other.isNaN().any())
                                    .as("%s, %s: example %d has no bad input but non-finite layer output", ctx, what, ob).isFalse();
                        }
                    }
                }
                case 5 -> { // fit on features of the wrong size: refused, parameters untouched
                    int nIn = other(r, s.nIn(), 1);
                    INDArray bad = TestData.normal(r, s.type(), 1.0, s.input(batch, steps, nIn));
                    INDArray y = Nets.labels(r, s.type(), s.format(), s.classes(), batch, steps);
                    what = "fit with features " + nIn + " for nIn " + s.nIn();
                    expectClearFailure(() -> {
                        net.fit(new DataSet(bad, y));
                        return null;
                    }, bad, null, shape(bad), "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                    assertExactlyEqual(net.params(), params, ctx + ", " + what + ": parameters after the refused fit");
                }
                default -> { // rnnTimeStep with a bad step keeps the stored state
                    INDArray x2 = TestData.normal(r, s.type(), 1.0, s.input(batch, 1 + r.nextInt(3), s.nIn()));
                    net.rnnClearPreviousState();
                    net.rnnTimeStep(x);
                    INDArray expected = net.rnnTimeStep(x2).dup();
                    net.rnnClearPreviousState();
                    net.rnnTimeStep(x);
                    int nIn = other(r, s.nIn(), 1);
                    INDArray bad = TestData.normal(r, s.type(), 1.0, s.input(batch, 1, nIn));
                    what = "rnnTimeStep with features " + nIn + " for nIn " + s.nIn();
                    expectClearFailure(() -> net.rnnTimeStep(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                    assertExactlyEqual(net.rnnTimeStep(x2), expected,
                            ctx + ", " + what + ": the next step after the refused one");
                    net.rnnClearPreviousState();
                }
            }
            seen.merge(what.replaceAll("(?<![A-Z0-9.])-?\\d+", "#"), 1, Integer::sum);
            assertExactlyEqual(net.params(), params, ctx + ", " + what + ": parameters");
            assertExactlyEqual(net.output(x), before, ctx + ", " + what + ": output on the valid input afterwards");
            assertExactlyEqual(net.output(x, false, goodMask, null), beforeMasked,
                    ctx + ", " + what + ": masked output on the valid input afterwards");
        }
        System.out.println("LayerBadInputTest (seed " + SEED + "): " + seen);
    }

    /**
     * The call must fail without touching the caller's arrays, and the message chain must show the actual
     * shape ({@code gotText}) and what was expected ({@code expectedRegex}).
     */
    private static void expectClearFailure(Supplier<?> call, INDArray input, INDArray mask, String gotText,
                                           String expectedRegex, String ctx) {
        INDArray inSnap = input.dup();
        INDArray maskSnap = mask == null ? null : mask.dup();
        Throwable t = thrownBy(call, ctx);
        String messages = chain(t);
        assertThat(messages).as("%s: exception chain%n%s", ctx, messages).contains(gotText);
        assertThat(Pattern.compile(expectedRegex).matcher(messages).find())
                .as("%s: exception chain should say what was expected (/%s/):%n%s", ctx, expectedRegex, messages)
                .isTrue();
        assertExactlyEqual(input, inSnap, ctx + ": the caller's input");
        if (mask != null) {
            assertExactlyEqual(mask, maskSnap, ctx + ": the caller's mask");
        }
    }
}
