package dev.la2.nd4j;

import dev.la2.api.DType;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * What one example of T steps costs {@link LightningAttentionImpl} in memory, in elements of the
 * network's data type, array by array as its forward and backward allocate them; the layer's
 * DL4J memory report ({@link LightningAttentionLayer#getMemoryReport}) is made of these.
 *
 * <p>A forward that keeps its arrays for backprop (a training forward under a CacheMode other
 * than NONE, and backprop's own forward under NONE) also has the la2 backend keep the state
 * entering every block of {@link #STATE_BLOCK} tokens, one [D, E] state per head in the state type
 * (fp32, or fp64 in a DOUBLE network; SPEC.md section 7). That is the cpu backend at its default
 * block size; the other backends keep no states and recompute them, so for them this is an upper
 * bound.
 *
 * @param networkType the network's data type (FLOAT where not known)
 */
record LightningAttentionMemory(long nIn, long nOut, long heads, long headSize, long valueSize, boolean headNorm,
                                boolean outputGate, RNNFormat format, DataType networkType) {
    /** Tokens per kept block state: the cpu backend's default block size. */
    static final int STATE_BLOCK = 64;

    static LightningAttentionMemory of(LightningAttentionLayer c, DataType networkType) {
        return new LightningAttentionMemory(c.getNIn(), c.getNOut(), c.getNHeads(), c.getHeadSize(), c.getValueSize(),
                c.isHeadNorm(), c.isOutputGate(), c.getRnnDataFormat(),
                networkType == null ? DataType.FLOAT : networkType);
    }

    /**
     * Per step, the forward's token-major arrays before the output projection: the input rows (a
     * copy for NCW input, a view for NWC), the mask column, q, k, v, the attention output, the
     * head norm's rms and normed output, and the output gate's x Wg, its value and the gated output.
     */
    long forwardPerStep() {
        long hd = heads * headSize;
        long he = heads * valueSize;
        return (format == RNNFormat.NCW ? nIn : 0) + 1 + 2 * hd + 2 * he
                + (headNorm ? heads + he : 0) + (outputGate ? 3 * he : 0);
    }

    /** Per step, what a keeping forward holds for backprop: the forward's arrays and the pre-activations. */
    long keptPerStep() {
        return forwardPerStep() + nOut;
    }

    /** The block states la2 keeps for one example of {@code steps} steps, in network elements. */
    long keptStates(long steps) {
        return stateElements((steps + STATE_BLOCK - 1) / STATE_BLOCK * heads * headSize * valueSize);
    }

    /**
     * Per step, backprop's arrays: dL/d(pre-activation), d(attention), the gate's and the norm's
     * terms, dq, dk, dv, and for NCW the token-major dL/dinput before its transpose.
     */
    long backwardPerStep() {
        long hd = heads * headSize;
        long he = heads * valueSize;
        return nOut + he + (outputGate ? he : 0) + (headNorm ? heads + he : 0) + 2 * hd + he
                + (format == RNNFormat.NCW ? nIn : 0);
    }

    /** Backprop's gradient of the initial state, one [H, D, E] state per example. */
    long backwardPerExample() {
        return stateElements(heads * headSize * valueSize);
    }

    /** Inference: the forward's arrays, and for NCW the output before its transpose. */
    long inference(long steps) {
        return steps * (forwardPerStep() + (format == RNNFormat.NCW ? nOut : 0));
    }

    /** What a training forward under a cache mode keeps until backprop: arrays and block states. */
    long cached(long steps) {
        return steps * keptPerStep() + keptStates(steps);
    }

    /** Training working memory under a cache mode: backprop's arrays (the kept ones are {@link #cached}). */
    long trainingCached(long steps) {
        return steps * (backwardPerStep() + (format == RNNFormat.NCW ? nOut : 0)) + backwardPerExample();
    }

    /** Training working memory with CacheMode NONE: backprop reruns the keeping forward, then its own arrays. */
    long trainingUncached(long steps) {
        return cached(steps) + steps * (nOut + backwardPerStep()) + backwardPerExample();
    }

    /** State values (the state type) in elements of the network type. */
    private long stateElements(long values) {
        DType storage = Nd4jTensors.dtype(networkType, "network data type");
        return values * storage.stateType().byteSize() / storage.byteSize();
    }
}
