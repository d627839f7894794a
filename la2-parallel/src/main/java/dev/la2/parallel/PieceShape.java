package dev.la2.parallel;

import dev.la2.api.AttentionInputs;
import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;

/**
 * Extents of one rank's piece: B sequences of H heads, {@code tokens} of them on this rank, key
 * width D and value width E, in {@code dtype}.
 */
record PieceShape(int batch, int heads, int tokens, int keyDim, int valueDim, DType dtype) {

    static PieceShape of(AttentionInputs piece, Layout layout) {
        Shape q = piece.q().shape();
        return new PieceShape(layout.batch(q), layout.heads(q), layout.tokens(q), layout.features(q),
                layout.features(piece.v().shape()), piece.q().dtype());
    }

    /** States (S_in, the final state and their gradients): [B, H, D, E]. */
    Shape stateShape() {
        return Shape.of(batch, heads, keyDim, valueDim);
    }

    /** One state of every rank, rank after rank: [P, B, H, D, E]. */
    Shape gatheredShape(int ranks) {
        return Shape.of(ranks, batch, heads, keyDim, valueDim);
    }

    DType stateType() {
        return dtype.stateType();
    }

    int stateElements() {
        return keyDim * valueDim;
    }

    static String describe(Tensor t) {
        return t == null ? "null" : t.dtype() + " " + t.shape();
    }
}
