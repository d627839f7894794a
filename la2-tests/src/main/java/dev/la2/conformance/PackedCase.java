package dev.la2.conformance;

import dev.la2.api.SequenceOffsets;
import java.util.Arrays;
import java.util.Locale;

/**
 * One packed or slot case (SPEC.md section 8): sequences of {@code lengths} tokens and H heads,
 * with or without initial states, a final-state gradient and a learnable decay.
 */
record PackedCase(int heads, int keyDim, int valueDim, int[] lengths, double scale, boolean initialState,
                  boolean finalGradient, boolean learnableDecay) {

    static PackedCase of(int h, int d, int e, double scale, boolean s0, int... lengths) {
        return new PackedCase(h, d, e, lengths, scale, s0, false, false);
    }

    PackedCase withGradients(boolean dFinal, boolean learnable) {
        return new PackedCase(heads, keyDim, valueDim, lengths, scale, initialState, dFinal, learnable);
    }

    SequenceOffsets offsets() {
        return SequenceOffsets.ofLengths(lengths);
    }

    int sequences() {
        return lengths.length;
    }

    int tokens() {
        return Arrays.stream(lengths).sum();
    }

    int longest() {
        return Arrays.stream(lengths).max().orElse(0);
    }

    @Override
    public String toString() {
        String shown = lengths.length <= 12 ? Arrays.toString(lengths)
                : lengths.length + " sequences, T=" + tokens() + ", longest " + longest();
        return "H=" + heads + " D=" + keyDim + " E=" + valueDim + " lengths " + shown
                + String.format(Locale.ROOT, " scale=%.4g", scale) + (initialState ? " S0" : " noS0")
                + (finalGradient ? " dSfinal" : "") + (learnableDecay ? " learnable" : "");
    }
}
