package dev.la2.api;

/**
 * The tensors a forward or backward call reads.
 *
 * @param q            [B, H, N, D] or [B, N, H, D] (per {@link AttentionOptions#layout()})
 * @param k            same shape as q
 * @param v            [B, H, N, E] or [B, N, H, E]
 * @param decay        [H] decay rates s_h >= 0 (lambda_h = exp(-s_h)), in {@link DType#stateType()}
 * @param initialState [B, H, D, E] in {@link DType#stateType()}, or null for a zero state
 */
public record AttentionInputs(Tensor q, Tensor k, Tensor v, Tensor decay, Tensor initialState) {

    public static AttentionInputs of(Tensor q, Tensor k, Tensor v, Tensor decay) {
        return new AttentionInputs(q, k, v, decay, null);
    }

    public AttentionInputs withInitialState(Tensor state) {
        return new AttentionInputs(q, k, v, decay, state);
    }
}
