package dev.la2.api;

import java.util.Arrays;

/**
 * Where each sequence of a packed call lies (SPEC.md section 8): sequence i is tokens
 * {@code offsets[i]} to {@code offsets[i+1]} of the packed [T, H, F] tensors, for S sequences given
 * by S+1 offsets from 0 to T (flash-linear-attention's {@code cu_seqlens}). A sequence may be
 * empty: its state passes through unchanged. The array is copied in and out. The constructor
 * throws {@link La2ArgumentException} naming {@code offsets} unless it holds at least one offset,
 * starts at 0 and never decreases.
 */
public record SequenceOffsets(int[] offsets) {

    public SequenceOffsets {
        if (offsets == null) {
            throw new La2ArgumentException("offsets", "null", "S+1 sequence offsets");
        }
        offsets = offsets.clone();
        if (offsets.length == 0 || offsets[0] != 0) {
            throw new La2ArgumentException("offsets", offsets.length == 0 ? "an empty array" : "offsets[0] = " + offsets[0],
                    "S+1 offsets starting at 0");
        }
        for (int i = 1; i < offsets.length; i++) {
            if (offsets[i] < offsets[i - 1]) {
                throw new La2ArgumentException("offsets", "offsets[" + i + "] = " + offsets[i] + " after offsets["
                        + (i - 1) + "] = " + offsets[i - 1], "non-decreasing offsets (sequence lengths >= 0)");
            }
        }
    }

    public static SequenceOffsets of(int... offsets) {
        return new SequenceOffsets(offsets);
    }

    /** The offsets of sequences of these lengths, laid end to end. */
    public static SequenceOffsets ofLengths(int... lengths) {
        if (lengths == null) {
            throw new La2ArgumentException("lengths", "null", "one length per sequence");
        }
        int[] offsets = new int[lengths.length + 1];
        long end = 0;
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0) {
                throw new La2ArgumentException("lengths", "lengths[" + i + "] = " + lengths[i], "lengths >= 0");
            }
            end += lengths[i];
            if (end > Integer.MAX_VALUE) {
                throw new La2ArgumentException("lengths", "a total of more than " + Integer.MAX_VALUE + " tokens",
                        "at most " + Integer.MAX_VALUE + " tokens");
            }
            offsets[i + 1] = (int) end;
        }
        return new SequenceOffsets(offsets);
    }

    @Override
    public int[] offsets() {
        return offsets.clone();
    }

    /** S, the number of sequences. */
    public int sequences() {
        return offsets.length - 1;
    }

    /** T, the tokens of all sequences together. */
    public int tokens() {
        return offsets[offsets.length - 1];
    }

    /** The first token of sequence {@code i}; {@code start(S)} is T. */
    public int start(int i) {
        return offsets[i];
    }

    public int length(int sequence) {
        return offsets[sequence + 1] - offsets[sequence];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SequenceOffsets other && Arrays.equals(offsets, other.offsets);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(offsets);
    }

    @Override
    public String toString() {
        return "SequenceOffsets[S=" + sequences() + ", T=" + tokens() + "]";
    }
}
