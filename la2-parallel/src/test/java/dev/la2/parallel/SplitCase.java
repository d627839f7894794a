package dev.la2.parallel;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import java.util.Arrays;

/** One sequence of {@code sum(lengths)} tokens split into pieces of these lengths, one per rank. */
record SplitCase(DType dtype, Layout layout, int[] lengths, boolean initialState, boolean learnableDecay,
                 boolean finalGradient) {
    static final int BATCH = 2, HEADS = 3, KEY_DIM = 8, VALUE_DIM = 6;

    int tokens() {
        return Arrays.stream(lengths).sum();
    }

    int start(int rank) {
        return Arrays.stream(lengths, 0, rank).sum();
    }

    @Override
    public String toString() {
        return dtype + " " + layout + " pieces " + Arrays.toString(lengths) + (initialState ? " S0" : "")
                + (learnableDecay ? " learnable" : "") + (finalGradient ? " dFinal" : "");
    }
}
