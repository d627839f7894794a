package dev.la2.spi;

import dev.la2.api.Precision;
import dev.la2.api.Tensor;

/**
 * A validated packed forward (SPEC.md section 8): q, k [T, H, D], v [T, H, E], output [T, H, E].
 * States come either dense, {@code initialState} [S, H, D, E] (null: zero) and {@code finalState}
 * [S, H, D, E] (null: not wanted), or, when {@code pool} is non-null, from a pool [P, H, D, E]:
 * sequence i starts from {@code pool[slots[i]]} and its final state replaces it in place; slot -1
 * starts from zero and writes nothing back; no two sequences share a slot. With a pool,
 * {@code initialState} and {@code finalState} are null. A zero-length sequence's final state is
 * its initial state (in a pool: the slot is left as it is). The backend writes every element of
 * {@code output} and of a non-null {@code finalState}.
 */
public record PackedForwardCall(PackedShape shape, Tensor q, Tensor k, Tensor v, Tensor decay,
                                Tensor initialState, Tensor pool, int[] slots,
                                double scale, Precision precision, Tensor output, Tensor finalState) {
}
