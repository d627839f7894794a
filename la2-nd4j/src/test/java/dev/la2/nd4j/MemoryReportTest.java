package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DecaySlopes;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import java.util.Random;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryType;
import org.deeplearning4j.nn.conf.memory.MemoryUseMode;
import org.deeplearning4j.nn.conf.memory.NetworkMemoryReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The layer's DL4J memory report counts what a training forward keeps for backprop under a cache
 * mode (projections, attention output, norm and gate arrays, pre-activations, and the la2 block
 * states), per example, so that it grows with the sequence length as those arrays do.
 */
class MemoryReportTest {
    private static final int N_IN = 6;
    private static final int N_OUT = 8;
    private static final int H = 2;
    private static final int D = 3;
    private static final int E = 4;
    private static final int MINIBATCH = 3;
    /** The cpu backend's default block: one kept [D, E] state per head and 64 tokens. */
    private static final int BLOCK = 64;

    private static LightningAttentionLayer layer(RNNFormat format, boolean headNorm, boolean outputGate) {
        return new LightningAttentionLayer.Builder().nIn(N_IN).nOut(N_OUT).nHeads(H).headSize(D).valueSize(E)
                .headNorm(headNorm).outputGate(outputGate).rnnDataFormat(format).build();
    }

    /**
     * The arrays a keeping forward holds for one example of {@code steps} steps, in network elements
     * (the block states in fp32: {@code stateElements} network elements per value).
     */
    private static long keptElements(long steps, RNNFormat format, boolean headNorm, boolean outputGate,
                                     long stateElements) {
        long perStep = (format == RNNFormat.NCW ? N_IN : 0) // token-major copy of NCW input
                + 1                                           // mask column
                + H * D + H * D + H * E                       // q, k, v
                + H * E                                       // attention output
                + (headNorm ? H + H * E : 0)                  // rms per head, normed output
                + (outputGate ? 3 * H * E : 0)                // x Wg, the gate, the gated output
                + N_OUT;                                      // pre-activations
        long blocks = (steps + BLOCK - 1) / BLOCK;
        return steps * perStep + blocks * H * D * E * stateElements;
    }

    private static long cachedBytes(LayerMemoryReport r, CacheMode mode, DataType type) {
        return r.getMemoryBytes(MemoryType.CACHED_MEMORY_VARIABLE, MINIBATCH, MemoryUseMode.TRAINING, mode, type);
    }

    @ParameterizedTest(name = "{0}, headNorm={1}, outputGate={2}")
    @CsvSource({"NCW, true, true", "NWC, false, false", "NWC, true, false", "NCW, false, true"})
    void cacheModeMemoryIsWhatTheForwardKeepsAndGrowsWithTheLength(RNNFormat format, boolean headNorm,
                                                                  boolean outputGate) {
        LightningAttentionLayer layer = layer(format, headNorm, outputGate);
        long previous = 0;
        for (long steps : new long[] {1, 64, 65, 200, 1000, 4096}) {
            LayerMemoryReport r = layer.getMemoryReport(InputType.recurrent(N_IN, steps, format));
            long expected = MINIBATCH * keptElements(steps, format, headNorm, outputGate, 1) * Float.BYTES;
            for (CacheMode mode : new CacheMode[] {CacheMode.DEVICE, CacheMode.HOST}) {
                assertThat(cachedBytes(r, mode, DataType.FLOAT)).as("%s, T=%d", mode, steps).isEqualTo(expected);
            }
            assertThat(cachedBytes(r, CacheMode.NONE, DataType.FLOAT)).as("NONE keeps nothing").isZero();
            assertThat(r.getMemoryBytes(MemoryType.CACHED_MEMORY_VARIABLE, MINIBATCH, MemoryUseMode.INFERENCE,
                    CacheMode.DEVICE, DataType.FLOAT)).as("inference keeps nothing").isZero();
            // NONE's backprop makes the kept arrays again in its working memory.
            long working = r.getMemoryBytes(MemoryType.WORKING_MEMORY_VARIABLE, MINIBATCH, MemoryUseMode.TRAINING,
                    CacheMode.NONE, DataType.FLOAT);
            assertThat(working).as("NONE's training working memory, T=%d", steps).isGreaterThan(expected);
            assertThat(expected).as("growth from the previous length").isGreaterThan(previous);
            previous = expected;
        }
    }

    @Test
    void theCachedBytesGrowByTheKeptTensorsOfTheAddedSteps() {
        LightningAttentionLayer layer = layer(RNNFormat.NCW, true, true);
        long shortBytes = cachedBytes(layer.getMemoryReport(InputType.recurrent(N_IN, 512, RNNFormat.NCW)),
                CacheMode.DEVICE, DataType.FLOAT);
        long longBytes = cachedBytes(layer.getMemoryReport(InputType.recurrent(N_IN, 2048, RNNFormat.NCW)),
                CacheMode.DEVICE, DataType.FLOAT);
        // 1536 more steps of 77 kept floats each, and 24 more blocks of H [D, E] states.
        long perStep = N_IN + 1 + 2 * H * D + H * E + H * E + H + H * E + 3 * H * E + N_OUT;
        assertThat(perStep).isEqualTo(77);
        assertThat(longBytes - shortBytes).isEqualTo(MINIBATCH * (1536L * perStep + 24L * H * D * E) * Float.BYTES);
    }

    /** In a HALF network the fp32 block states take two network elements per value. */
    @Test
    void blockStatesAreCountedInTheirOwnType() {
        LightningAttentionLayer layer = layer(RNNFormat.NWC, false, false);
        layer.setDataType(DataType.HALF);
        LayerMemoryReport r = layer.getMemoryReport(InputType.recurrent(N_IN, 300, RNNFormat.NWC));
        long halfs = keptElements(300, RNNFormat.NWC, false, false, 2);
        assertThat(cachedBytes(r, CacheMode.DEVICE, DataType.HALF)).isEqualTo(MINIBATCH * halfs * 2);
    }

    /** The counted block states are what the cpu backend keeps for a forward of these shapes. */
    @Test
    void countedBlockStatesMatchWhatTheBackendKeeps() {
        int steps = 300;
        Random r = TestData.random("memoryReportStates");
        INDArray q = TestData.normal(r, DataType.FLOAT, 1.0, MINIBATCH, steps, H * D);
        INDArray k = TestData.normal(r, DataType.FLOAT, 1.0, MINIBATCH, steps, H * D);
        INDArray v = TestData.normal(r, DataType.FLOAT, 1.0, MINIBATCH, steps, H * E);
        INDArray out = Nd4j.create(DataType.FLOAT, MINIBATCH, steps, H * E);
        INDArray decay = Nd4j.createFromArray(DecaySlopes.alibi(H, 1.0)).castTo(DataType.FLOAT);
        long counted = MINIBATCH * LightningAttentionMemory.of(layer(RNNFormat.NWC, false, false), DataType.FLOAT)
                .keptStates(steps) * Float.BYTES;
        assertThat(counted).isEqualTo(MINIBATCH * 5L * H * D * E * Float.BYTES);
        try (LightningAttention la = LightningAttention.open("cpu");
             SavedForward saved = new Nd4jAttention(la).forward(SequenceFormat.NWC, H, q, k, v, decay, null,
                     AttentionOptions.defaults().withFinalState(false).withSaveForBackward(true), out, null)) {
            assertThat(saved.holdsStates()).isTrue();
            // The cpu backend also keeps one state per extra segment where a sequence is split over threads.
            long segmentStates = (long) MINIBATCH * H * D * E * Float.BYTES * Runtime.getRuntime().availableProcessors();
            assertThat(saved.byteSize()).isBetween(counted, counted + segmentStates);
        }
    }

    @Test
    void aNetworkReportIncludesTheLayersCache() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).list()
                .layer(layer(RNNFormat.NCW, true, true))
                .layer(new RnnOutputLayer.Builder(Nets.crossEntropy(DataType.FLOAT)).activation(Activation.SOFTMAX)
                        .nOut(Nets.CLASSES).build())
                .setInputType(InputType.recurrent(N_IN, 1000))
                .build();
        NetworkMemoryReport report = conf.getMemoryReport(InputType.recurrent(N_IN, 1000));
        long layerBytes = MINIBATCH * keptElements(1000, RNNFormat.NCW, true, true, 1) * Float.BYTES;
        assertThat(report.getMemoryBytes(MemoryType.CACHED_MEMORY_VARIABLE, MINIBATCH, MemoryUseMode.TRAINING,
                CacheMode.DEVICE, DataType.FLOAT)).isGreaterThanOrEqualTo(layerBytes);
    }
}
