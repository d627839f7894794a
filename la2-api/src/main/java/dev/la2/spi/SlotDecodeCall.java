package dev.la2.spi;

import dev.la2.api.Tensor;

/**
 * A validated decode step by slot (SPEC.md section 8), {@code shape.drafts() == 1}: q, k [S, H, D],
 * v [S, H, E]; sequence i advances {@code pool[slots[i]]} in place and writes output row i [H, E];
 * slot -1 is padding: its state is untouched and its output row is zero. No two sequences share a slot.
 */
public record SlotDecodeCall(SlotShape shape, Tensor q, Tensor k, Tensor v, Tensor decay,
                             Tensor pool, int[] slots, double scale, Tensor output) {
}
