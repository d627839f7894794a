package dev.la2.api;

/**
 * Gradients of a scalar loss with respect to a forward call's inputs.
 *
 * @param dq            shaped like q
 * @param dk            shaped like k
 * @param dv            shaped like v
 * @param dInitialState [B, H, D, E], the gradient with respect to the initial state (zero or not)
 * @param dDecay        [H], summed over the batch; null unless the decay was declared learnable
 */
public record Gradients(Tensor dq, Tensor dk, Tensor dv, Tensor dInitialState, Tensor dDecay)
        implements AutoCloseable {
    @Override
    public void close() {
        dq.close();
        dk.close();
        dv.close();
        dInitialState.close();
        if (dDecay != null) {
            dDecay.close();
        }
    }
}
