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

    @Override
    void close();
}
