/**
 * la2's stable API: causal linear attention with per-head decay, as Lightning Attention-2
 * computes it (the function, its gradient and tolerances are SPEC.md).
 *
 * <p>{@link dev.la2.api.LightningAttention#open()} opens the highest-priority available backend on
 * the class path, unless {@code -Dla2.backend} or {@code LA2_BACKEND} names one
 * ({@link dev.la2.api.Backends} says how one is chosen). Its tensors
 * ({@link dev.la2.api.Tensor}) live where that backend computes and are {@link AutoCloseable}.
 * A call takes {@link dev.la2.api.AttentionInputs} and {@link dev.la2.api.AttentionOptions}:
 * {@code forward}, {@code backward} (with what a forward kept, {@link dev.la2.api.SavedForward}),
 * the one-token {@code decode} step, and for serving the packed calls on
 * {@link dev.la2.api.PackedInputs} with {@link dev.la2.api.SequenceOffsets}, state pools by slot
 * ({@link dev.la2.api.PoolSlots}), {@code decodeSlots}, {@code draft} and {@code commit}.
 * {@link dev.la2.api.AttentionStream} runs an unbounded sequence chunk by chunk in constant memory;
 * {@link dev.la2.api.Diagnostics} times calls and reports memory.
 *
 * <p>Every call is checked before any work: a bad argument throws
 * {@link dev.la2.api.La2ArgumentException} naming it, with what it got and what was expected, and
 * changes nothing. Instances of {@link dev.la2.api.LightningAttention} are safe for concurrent use.
 */
package dev.la2.api;
