package dev.la2.nd4j;

import dev.la2.api.SavedForward;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What one forward pass of {@link LightningAttentionImpl} made. Besides the activations and the final
 * state it holds what the backward reads (token-major [minibatch*T, features] blocks), in the
 * workspace the pass was asked to keep them in, and what the la2 backend kept in its own memory.
 */
final class ForwardPass implements AutoCloseable {
    INDArray activations;
    INDArray finalState;
    /** The input the pass ran on, so that a cached pass is only reused for the same input. */
    INDArray input;
    /** The initial state the pass started from, or null for zero. */
    INDArray initialState;
    INDArray x2;
    INDArray q;
    INDArray k;
    INDArray v;
    INDArray decay;
    INDArray attention;
    INDArray rms;
    INDArray normed;
    /** The output gate's input x Wg, its value, and the gated attention output (with an output gate). */
    INDArray gatePre;
    INDArray gate;
    INDArray gated;
    INDArray preOut;
    INDArray mask;
    /** How the mask splits the examples into packed sequences, or null for one dense call. */
    MaskSegments segments;
    /** What the backend kept for the backward call, or null. */
    SavedForward saved;
    long batch;
    long steps;

    /** Frees what the backend kept; the arrays belong to their workspaces. */
    @Override
    public void close() {
        if (saved != null) {
            saved.close();
            saved = null;
        }
    }
}
