package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.Shape;

/**
 * The geometry of one validated call on pool slots (SPEC.md section 8): S sequences of K tokens
 * each (K = 1 for decode) and H heads, q and k [S, K, H, D] (or [S, H, D] when K = 1), v and the
 * output [S, K, H, E], states in a pool [P, H, D, E].
 */
public record SlotShape(int sequences, int drafts, int heads, int keyDim, int valueDim, DType dtype) {

    /** Element offset of token j of sequence i in q and k. */
    public long keyRow(int i, int j) {
        return ((long) i * drafts + j) * heads * keyDim;
    }

    /** Element offset of token j of sequence i in v and the output. */
    public long valueRow(int i, int j) {
        return ((long) i * drafts + j) * heads * valueDim;
    }

    /** Element offset of slot {@code slot} in the pool. */
    public long stateStart(int slot) {
        return (long) slot * heads * keyDim * valueDim;
    }

    /** The K tokens of one sequence as a dense call's q or k, [1, K, H, D]. */
    public Shape keyTokens() {
        return Shape.of(1, drafts, heads, keyDim);
    }

    /** The K tokens of one sequence as a dense call's v or output, [1, K, H, E]. */
    public Shape valueTokens() {
        return Shape.of(1, drafts, heads, valueDim);
    }

    /** One state as a dense call's, [1, H, D, E]. */
    public Shape stateSlice() {
        return Shape.of(1, heads, keyDim, valueDim);
    }
}
