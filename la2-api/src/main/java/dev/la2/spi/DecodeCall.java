package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.Tensor;

/**
 * A validated decode step for B sequences of H heads: q, k [B, H, D], v [B, H, E], decay [H],
 * state [B, H, D, E] (read, then overwritten with the advanced state), output [B, H, E].
 */
public record DecodeCall(int batch, int heads, int keyDim, int valueDim, DType dtype,
                         Tensor q, Tensor k, Tensor v, Tensor decay, Tensor state,
                         double scale, Tensor output) {
}
