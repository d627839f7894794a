package dev.la2.bench;

import dev.la2.api.DType;

/**
 * Extents of one benchmark call, with SPEC.md section 6's work and memory figures.
 *
 * @param batch    B
 * @param heads    H
 * @param tokens   N
 * @param keyDim   D
 * @param valueDim E
 */
public record BenchProblem(int batch, int heads, int tokens, int keyDim, int valueDim) {

    /** The block size SPEC.md's notional count assumes, whatever a backend uses internally. */
    public static final int NOTIONAL_BLOCK = 64;

    public BenchProblem {
        if (batch < 1 || heads < 1 || tokens < 1 || keyDim < 1 || valueDim < 1) {
            throw new IllegalArgumentException("every extent must be >= 1: B=" + batch + ", H=" + heads
                    + ", N=" + tokens + ", D=" + keyDim + ", E=" + valueDim);
        }
    }

    /** B*H*N, the work unit of SPEC.md section 6. */
    public long tokenHeads() {
        return (long) batch * heads * tokens;
    }

    /** B*N: what "ms per million tokens" counts (every head of a token is one token). */
    public long batchTokens() {
        return (long) batch * tokens;
    }

    public long keyElements() {
        return tokenHeads() * keyDim;
    }

    public long valueElements() {
        return tokenHeads() * valueDim;
    }

    public long stateElements() {
        return (long) batch * heads * keyDim * valueDim;
    }

    /** F = B*H*N*(2*64*(D+E) + 4*D*E) for a forward call; forward+backward counts 3F. */
    public double notionalFlops(boolean withBackward) {
        double f = (double) tokenHeads() * (2.0 * NOTIONAL_BLOCK * (keyDim + valueDim) + 4.0 * keyDim * valueDim);
        return withBackward ? 3 * f : f;
    }

    /**
     * Bytes that must cross memory once: forward |Q|+|K|+|V|+|O|; forward+backward additionally
     * |Q|+|K|+|V|+|dO|+|dQ|+|dK|+|dV| (SPEC.md section 6).
     */
    public long floorBytes(DType dtype, boolean withBackward) {
        long perRow = 2L * keyDim + 2L * valueDim;
        if (withBackward) {
            perRow += 4L * keyDim + 3L * valueDim;
        }
        return tokenHeads() * perRow * dtype.byteSize();
    }
}
