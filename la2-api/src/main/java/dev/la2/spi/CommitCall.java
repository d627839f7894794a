package dev.la2.spi;

import dev.la2.api.Tensor;

/**
 * A validated commit of drafted tokens (SPEC.md section 8): k [S, K, H, D], v [S, K, H, E] as
 * handed to the {@link DraftCall}; {@code pool[slots[i]]} advances in place by the first
 * {@code accepted[i]} (0 to K) tokens of sequence i. Slot -1 is skipped.
 */
public record CommitCall(SlotShape shape, Tensor k, Tensor v, Tensor decay, Tensor pool, int[] slots, int[] accepted) {
}
