package dev.la2.spi;

import dev.la2.api.Precision;
import dev.la2.api.Tensor;

/**
 * A validated forward call: every tensor is open, owned by the receiving backend, of the shape and
 * type {@code shape} implies, decay rates are finite and non-negative, and no output aliases an
 * input. The backend writes every element of {@code output} and, when non-null, {@code finalState}.
 */
public record ForwardCall(AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor decay,
                          Tensor initialState, double scale, Precision precision,
                          Tensor output, Tensor finalState) {
}
