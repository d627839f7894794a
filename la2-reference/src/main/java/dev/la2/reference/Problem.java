package dev.la2.reference;

/**
 * Extents of a reference computation. Arrays are dense in canonical order: sequences [B, H, N, D]
 * or [B, H, N, E], states [B, H, D, E], decay [H].
 */
public record Problem(int batch, int heads, int tokens, int keyDim, int valueDim) {

    public Problem {
        if (batch < 1 || heads < 1 || tokens < 1 || keyDim < 1 || valueDim < 1) {
            throw new IllegalArgumentException("every extent must be >= 1: " + this);
        }
    }

    int keys() {
        return batch * heads * tokens * keyDim;
    }

    int values() {
        return batch * heads * tokens * valueDim;
    }

    int states() {
        return batch * heads * keyDim * valueDim;
    }
}
