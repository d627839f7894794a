package dev.la2.api;

import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.Set;

/**
 * Causal linear attention with per-head decay (Lightning Attention-2, SPEC.md) on one backend.
 *
 * <pre>{@code
 * try (LightningAttention la = LightningAttention.open()) {        // best backend on the class path
 *     Tensor q = la.tensor(qData, DType.FP32, Shape.of(b, h, n, d));
 *     ...
 *     try (ForwardResult r = la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults())) {
 *         float[] o = r.output().toFloatArray();
 *     }
 * }
 * }</pre>
 *
 * Every call is validated before any work: a bad argument throws {@link La2ArgumentException}
 * naming it, and leaves the backend and the caller's tensors as they were. Instances are safe
 * for concurrent use. Backends are plugged in through {@link dev.la2.spi.BackendProvider}; timing and
 * memory figures are in {@link Diagnostics}.
 */
public sealed interface LightningAttention extends AutoCloseable permits ValidatingAttention {

    /** The highest-priority available backend, unless {@code la2.backend} / {@code LA2_BACKEND} names one. */
    static LightningAttention open() {
        return Backends.open(null, BackendOptions.defaults());
    }

    /** The named backend; fails with every provider's status if it is missing or unavailable. */
    static LightningAttention open(String backend) {
        return Backends.open(backend, BackendOptions.defaults());
    }

    static LightningAttention open(String backend, BackendOptions options) {
        return Backends.open(backend, options);
    }

    /** Name of the backend instance, for example "cpu" or "cuda:0". */
    String backendName();

    Set<DType> dtypes();

    Set<Precision> precisions();

    /** A new tensor with unspecified contents. */
    Tensor allocate(DType dtype, Shape shape);

    Tensor tensor(float[] data, DType dtype, Shape shape);

    Tensor tensor(double[] data, DType dtype, Shape shape);

    /** A tensor holding a copy of {@code data}: raw elements of {@code dtype}, native byte order. */
    Tensor tensor(MemorySegment data, DType dtype, Shape shape);

    /**
     * A tensor viewing {@code memory} without copying, where the backend computes on host memory;
     * empty for device backends. The caller keeps {@code memory} alive while the tensor is used.
     */
    Optional<Tensor> wrap(MemorySegment memory, DType dtype, Shape shape);

    /** Allocates the output (and the final state when {@link AttentionOptions#returnFinalState()}). */
    ForwardResult forward(AttentionInputs inputs, AttentionOptions options);

    /**
     * Writes the output into {@code output} and, when non-null, the final state into {@code finalState}.
     * Returns what was kept for the backward when {@link AttentionOptions#saveForBackward()} asks for
     * it (see {@link SavedForward}), else null; the caller closes it.
     */
    SavedForward forward(AttentionInputs inputs, AttentionOptions options, Tensor output, Tensor finalState);

    /**
     * Gradients of a loss given {@code dOutput} (and optionally {@code dFinalState}, may be null)
     * for the forward call on the same inputs and options.
     */
    default Gradients backward(AttentionInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options) {
        return backward(inputs, dOutput, dFinalState, options, (SavedForward) null);
    }

    /**
     * As {@link #backward(AttentionInputs, Tensor, Tensor, AttentionOptions)}, using what the forward
     * call kept ({@code saved}, may be null) instead of recomputing it.
     */
    Gradients backward(AttentionInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                       SavedForward saved);

    /** As {@link #backward(AttentionInputs, Tensor, Tensor, AttentionOptions)}, into caller tensors. */
    default void backward(AttentionInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                          Gradients into) {
        backward(inputs, dOutput, dFinalState, options, null, into);
    }

    /** As {@link #backward(AttentionInputs, Tensor, Tensor, AttentionOptions, SavedForward)}, into caller tensors. */
    void backward(AttentionInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                  SavedForward saved, Gradients into);

    /**
     * One token for each of B sequences: q, k [B, H, D], v [B, H, E], state [B, H, D, E] advanced in
     * place ({@code S <- lambda S + k^T v}), returns o [B, H, E] = scale * q S.
     */
    Tensor decode(Tensor q, Tensor k, Tensor v, Tensor decay, Tensor state, double scale);

    void decode(Tensor q, Tensor k, Tensor v, Tensor decay, Tensor state, double scale, Tensor output);

    // ------------------------------------------------------------ serving (SPEC.md section 8)

    /**
     * A packed forward: S sequences of different lengths laid end to end (q, k [T, H, D], v [T, H, E]).
     * Allocates the output [T, H, E] and, when {@link AttentionOptions#returnFinalState()}, the final
     * states [S, H, D, E]. {@link AttentionOptions#layout()} does not apply: packed tensors are token-major.
     */
    ForwardResult forwardPacked(PackedInputs inputs, AttentionOptions options);

    /** As {@link #forwardPacked(PackedInputs, AttentionOptions)}, into {@code output} and {@code finalState} (may be null). */
    SavedForward forwardPacked(PackedInputs inputs, AttentionOptions options, Tensor output, Tensor finalState);

    /**
     * A packed forward whose states come from pool slots and go back there in place: sequence i
     * starts from {@code pool[slots[i]]} and leaves its final state there (slot -1: starts from zero,
     * written nowhere). {@code inputs.initialState()} must be null. With
     * {@link AttentionOptions#saveForBackward()} the returned {@link SavedForward} keeps a copy of the
     * initial states read from the pool, for the backward.
     */
    SavedForward forwardPacked(PackedInputs inputs, PoolSlots states, AttentionOptions options, Tensor output);

    /**
     * Gradients of a packed forward: dq, dk [T, H, D], dv [T, H, E], dInitialState [S, H, D, E], and
     * dDecay [H] summed over all sequences when the decay is learnable. {@code dFinalState}
     * [S, H, D, E] may be null. States are those of {@code inputs}, or, when {@code saved} comes from a
     * pooled forward, the ones it kept ({@code inputs.initialState()} must then be null).
     */
    Gradients backwardPacked(PackedInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                       SavedForward saved);

    /** As {@link #backwardPacked(PackedInputs, Tensor, Tensor, AttentionOptions, SavedForward)}, into caller tensors. */
    void backwardPacked(PackedInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                  SavedForward saved, Gradients into);

    /**
     * One token for each of S sequences against their pool slots: q, k [S, H, D], v [S, H, E]; slot
     * {@code slots[i]} advances in place, output [S, H, E] gets {@code scale * q S}. Slot -1 is padding:
     * no state changes and its output row is zero.
     */
    void decodeSlots(Tensor q, Tensor k, Tensor v, Tensor decay, PoolSlots states, double scale, Tensor output);

    /**
     * K draft tokens for each of S sequences (q, k [S, K, H, D], v [S, K, H, E]): output [S, K, H, E]
     * is the forward of those tokens from each slot's state, which stays unchanged. Slot -1 is padding
     * with zero outputs. Follow with {@link #commit} on the same k and v.
     */
    void draft(Tensor q, Tensor k, Tensor v, Tensor decay, PoolSlots states, double scale, Tensor output);

    /**
     * Advances each slot by the first {@code accepted[i]} (0 to K) of the draft tokens k [S, K, H, D],
     * v [S, K, H, E], without computing outputs. Slot -1 is skipped.
     */
    void commit(Tensor k, Tensor v, Tensor decay, PoolSlots states, int[] accepted);

    @Override
    void close();
}
