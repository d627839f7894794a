package dev.la2.api;

/**
 * The tensors a packed forward or backward reads (SPEC.md section 8): S sequences of different
 * lengths laid end to end, token-major.
 *
 * @param q            [T, H, D]
 * @param k            [T, H, D]
 * @param v            [T, H, E]
 * @param decay        [H] decay rates, as in {@link AttentionInputs}
 * @param offsets      where each sequence lies; its last offset is T
 * @param initialState [S, H, D, E] in {@link DType#stateType()}, or null for zero states; null
 *                     when the states come from a {@link PoolSlots}
 */
public record PackedInputs(Tensor q, Tensor k, Tensor v, Tensor decay, SequenceOffsets offsets, Tensor initialState) {

    public static PackedInputs of(Tensor q, Tensor k, Tensor v, Tensor decay, SequenceOffsets offsets) {
        return new PackedInputs(q, k, v, decay, offsets, null);
    }

    public PackedInputs withInitialState(Tensor state) {
        return new PackedInputs(q, k, v, decay, offsets, state);
    }
}
