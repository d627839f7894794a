package dev.la2.spi;

import dev.la2.api.Tensor;

/**
 * A validated multi-token decode (SPEC.md section 8): q, k [S, K, H, D], v and output
 * [S, K, H, E]; sequence i's K tokens are computed as a forward starting from
 * {@code pool[slots[i]]}, which is left unchanged; slot -1 is padding with zero outputs.
 */
public record DraftCall(SlotShape shape, Tensor q, Tensor k, Tensor v, Tensor decay,
                        Tensor pool, int[] slots, double scale, Tensor output) {
}
