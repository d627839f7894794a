package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.Layout;

/**
 * The geometry of one validated call: B sequences of H heads and N tokens, D query/key
 * features and E value features, in one layout and storage type.
 */
public record AttentionShape(int batch, int heads, int tokens, int keyDim, int valueDim,
                             Layout layout, DType dtype) {

    /** Element offset of the first q/k feature of token t in sequence (b, h). */
    public long keyRow(int b, int h, int t) {
        return layout.rowOffset(b, h, t, heads, tokens, keyDim);
    }

    /** Element offset of the first v/o feature of token t in sequence (b, h). */
    public long valueRow(int b, int h, int t) {
        return layout.rowOffset(b, h, t, heads, tokens, valueDim);
    }

    /** Elements between consecutive tokens of one sequence in q and k. */
    public long keyTokenStride() {
        return layout.tokenStride(heads, keyDim);
    }

    /** Elements between consecutive tokens of one sequence in v and o. */
    public long valueTokenStride() {
        return layout.tokenStride(heads, valueDim);
    }

    /** Element offset of state (b, h) in a [B, H, D, E] tensor. */
    public long stateOffset(int b, int h) {
        return ((long) b * heads + h) * keyDim * valueDim;
    }

    public long sequences() {
        return (long) batch * heads;
    }
}
