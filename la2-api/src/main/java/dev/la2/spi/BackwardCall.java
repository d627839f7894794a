package dev.la2.spi;

import dev.la2.api.Precision;
import dev.la2.api.Tensor;

/**
 * A validated backward call (see {@link ForwardCall} for what validation guarantees).
 * {@code initialState} and {@code dFinalState} may be null (zero). {@code dDecay} is null unless
 * the decay gradient is wanted. {@code residuals} is null or what this backend's
 * {@link AttentionBackend#forwardKeeping(ForwardCall, boolean)} returned for the same inputs and options; a
 * backend may use it or recompute. The backend writes every element of every non-null gradient.
 */
public record BackwardCall(AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor decay,
                           Tensor initialState, Tensor dOutput, Tensor dFinalState,
                           double scale, Precision precision,
                           Tensor dq, Tensor dk, Tensor dv, Tensor dInitialState, Tensor dDecay,
                           Residuals residuals) {
}
