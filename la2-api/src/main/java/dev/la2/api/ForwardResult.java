package dev.la2.api;

/**
 * @param output     [B, H, N, E] or [B, N, H, E], in the inputs' layout and dtype
 * @param finalState [B, H, D, E] state after the last token, or null when not requested
 * @param saved      what the backend kept for the backward; null unless requested
 *                   ({@link AttentionOptions#saveForBackward()})
 */
public record ForwardResult(Tensor output, Tensor finalState, SavedForward saved) implements AutoCloseable {
    /** Closes the output, the final state and what was saved. */
    @Override
    public void close() {
        output.close();
        if (finalState != null) {
            finalState.close();
        }
        if (saved != null) {
            saved.close();
        }
    }
}
