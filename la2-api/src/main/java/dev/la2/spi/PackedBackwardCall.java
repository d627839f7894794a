package dev.la2.spi;

import dev.la2.api.Precision;
import dev.la2.api.Tensor;

/**
 * A validated packed backward (SPEC.md section 8): states are dense, {@code initialState} and
 * {@code dFinalState} [S, H, D, E] or null (zero); dq, dk [T, H, D], dv [T, H, E],
 * dInitialState [S, H, D, E] and, when non-null, dDecay [H] summed over the sequences.
 * {@code residuals} is null or what {@link AttentionBackend#forwardPackedKeeping} returned for the
 * same inputs. The backend writes every element of every non-null gradient.
 */
public record PackedBackwardCall(PackedShape shape, Tensor q, Tensor k, Tensor v, Tensor decay,
                                 Tensor initialState, Tensor dOutput, Tensor dFinalState,
                                 double scale, Precision precision,
                                 Tensor dq, Tensor dk, Tensor dv, Tensor dInitialState, Tensor dDecay,
                                 Residuals residuals) {
}
