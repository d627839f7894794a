package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;

/**
 * The geometry of one validated packed call (SPEC.md section 8): S sequences of H heads laid end to
 * end in token-major [T, H, F] tensors, sequence i being tokens {@code offsets.start(i)} to
 * {@code offsets.start(i+1)}; the offsets end at T.
 */
public record PackedShape(SequenceOffsets offsets, int heads, int keyDim, int valueDim, DType dtype) {

    public int sequences() {
        return offsets.sequences();
    }

    /** T, the tokens of all sequences together. */
    public int tokens() {
        return offsets.tokens();
    }

    public int length(int sequence) {
        return offsets.length(sequence);
    }

    /** Sequence {@code i} as a dense call of one sequence in layout BNHD: what its slices of q, k, v hold. */
    public AttentionShape sequence(int i) {
        return new AttentionShape(1, heads, length(i), keyDim, valueDim, Layout.BNHD, dtype);
    }

    /** Element offset of sequence i's first token in q and k. */
    public long keyStart(int i) {
        return (long) offsets.start(i) * heads * keyDim;
    }

    /** Element offset of sequence i's first token in v and the output. */
    public long valueStart(int i) {
        return (long) offsets.start(i) * heads * valueDim;
    }

    /** Elements of one [H, D, E] state. */
    public long stateSize() {
        return (long) heads * keyDim * valueDim;
    }

    /** The shape of sequence i's slice of q and k, [1, len, H, D]. */
    public Shape keySlice(int i) {
        return Shape.of(1, length(i), heads, keyDim);
    }

    /** The shape of sequence i's slice of v and the output, [1, len, H, E]. */
    public Shape valueSlice(int i) {
        return Shape.of(1, length(i), heads, valueDim);
    }

    /** The shape of one state as a dense call's, [1, H, D, E]. */
    public Shape stateSlice() {
        return Shape.of(1, heads, keyDim, valueDim);
    }
}
