package dev.la2.parallel;

import dev.la2.api.Tensor;

/**
 * One rank's forward result; closing it closes the three tensors (those present).
 *
 * @param output        this rank's piece of the output, in the inputs' layout and dtype
 * @param finalState    [B, H, D, E], the whole sequence's final state: on the last rank when the
 *                      options ask for it, null elsewhere
 * @param incomingState [B, H, D, E], the state entering this rank's piece (S_in, SPEC.md section 9),
 *                      which {@link SequenceParallel#backward} needs; null on rank 0, whose incoming
 *                      state is the sequence's initial state
 */
public record PieceForward(Tensor output, Tensor finalState, Tensor incomingState) implements AutoCloseable {
    @Override
    public void close() {
        output.close();
        if (finalState != null) {
            finalState.close();
        }
        if (incomingState != null) {
            incomingState.close();
        }
    }
}
