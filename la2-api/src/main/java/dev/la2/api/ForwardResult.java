package dev.la2.api;

/**
 * @param output     [B, H, N, E] or [B, N, H, E], in the inputs' layout and dtype
 * @param finalState [B, H, D, E] state after the last token, or null when not requested
 */
public record ForwardResult(Tensor output, Tensor finalState) implements AutoCloseable {
    @Override
    public void close() {
        output.close();
        if (finalState != null) {
            finalState.close();
        }
    }
}
