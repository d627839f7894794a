package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.MemoryStats;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.Set;

/**
 * One instance of a backend, created by its {@link BackendProvider}. Users reach it through
 * {@link dev.la2.api.LightningAttention}, which validates every call before it gets here, so
 * implementations compute and need not re-check arguments. Must be safe for concurrent calls.
 */
public interface AttentionBackend extends AutoCloseable {

    /** Name of this instance, as its tensors report it (for example "cuda:0"). */
    String name();

    Set<DType> dtypes();

    /** Precisions that change how this backend computes FP32; always contains STRICT. */
    Set<Precision> precisions();

    /** A new tensor with unspecified contents. */
    Tensor allocate(DType dtype, Shape shape);

    /**
     * A tensor viewing caller-owned host memory without a copy, where the backend computes on host
     * memory; empty otherwise. The caller keeps {@code memory} alive while the tensor is used.
     */
    default Optional<Tensor> wrap(MemorySegment memory, DType dtype, Shape shape) {
        return Optional.empty();
    }

    /** Whether {@code tensor} was made by this instance (and so lives where it computes). */
    boolean owns(Tensor tensor);

    void forward(ForwardCall call);

    /**
     * As {@link #forward(ForwardCall)}, also keeping what {@link #backward(BackwardCall)} can use
     * instead of recomputing it. Returns null where the backend keeps nothing (the default): its
     * backward then recomputes, as it always may. {@code forDecayGradient} says whether that
     * backward will want the decay gradient, which may need more of the forward, or more precisely.
     */
    default Residuals forwardKeeping(ForwardCall call, boolean forDecayGradient) {
        forward(call);
        return null;
    }

    void backward(BackwardCall call);

    void decode(DecodeCall call);

    /**
     * A tensor of {@code shape} over {@code shape.elementCount()} elements of {@code t} starting at
     * element {@code elementOffset}, sharing its memory, in its dtype: writes through either show in
     * both. The range lies within {@code t}. The view needs no closing and is valid while {@code t}
     * is open. The packed and slot calls' defaults are built on it; a backend that cannot view its
     * tensors overrides every one of them instead.
     */
    default Tensor view(Tensor t, long elementOffset, Shape shape) {
        throw new UnsupportedOperationException("backend '" + name() + "' cannot view part of a tensor");
    }

    /** Copies {@code src} into {@code dst}, of the same dtype and element count. */
    default void copy(Tensor src, Tensor dst) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(src.byteSize());
            src.copyTo(bytes);
            dst.copyFrom(bytes);
        }
    }

    /** The packed forward (SPEC.md section 8). The default runs each sequence as a {@link #forward} on views. */
    default void forwardPacked(PackedForwardCall call) {
        PerSequence.forward(this, call, false, false);
    }

    /**
     * As {@link #forwardPacked}, also keeping what {@link #backwardPacked} can use, as
     * {@link #forwardKeeping} does for the dense call; null where nothing is kept. Called only with
     * dense states (no pool).
     */
    default Residuals forwardPackedKeeping(PackedForwardCall call, boolean forDecayGradient) {
        return PerSequence.forward(this, call, true, forDecayGradient);
    }

    /** The packed backward. The default runs each sequence as a {@link #backward} on views. */
    default void backwardPacked(PackedBackwardCall call) {
        PerSequence.backward(this, call);
    }

    /** One decode step by pool slot. The default runs each sequence as a {@link #decode} on views. */
    default void decodeSlots(SlotDecodeCall call) {
        PerSequence.decode(this, call);
    }

    /** Draft tokens from pool slots, which stay unchanged. The default runs a {@link #forward} per sequence. */
    default void draft(DraftCall call) {
        PerSequence.draft(this, call);
    }

    /** Advances pool slots by accepted draft tokens. The default runs one {@link #decode} per accepted token. */
    default void commit(CommitCall call) {
        PerSequence.commit(this, call);
    }

    /**
     * Runs {@code work} and returns how long it took on this backend's own clock, in milliseconds.
     * Host backends time the wall clock (their calls are synchronous); device backends record
     * events on their stream around the work and wait for them, so queued device work is counted
     * and host-side overheads between launches are not hidden.
     */
    default double timeMillis(Runnable work) {
        long start = System.nanoTime();
        work.run();
        return (System.nanoTime() - start) / 1e6;
    }

    /**
     * Runs {@code work} {@code times} times back to back and returns each run's duration in
     * milliseconds. Device backends queue every run (after one untimed run that fills the queue)
     * with an event between consecutive runs and wait once at the end, so while the host keeps
     * ahead of the device each duration is device time alone, the steady state of a pipeline and
     * what triton.testing.do_bench measures. Host backends time each run on the wall clock.
     */
    default double[] timeMillis(Runnable work, int times) {
        double[] ms = new double[times];
        for (int i = 0; i < times; i++) {
            ms[i] = timeMillis(work);
        }
        return ms;
    }

    /** Memory this instance holds now and at its peak since the last reset; empty if not tracked. */
    default Optional<MemoryStats> memoryStats() {
        return Optional.empty();
    }

    default void resetPeakMemory() {
    }

    /** Releases threads and memory pools. Tensors made by this instance stay closable. */
    @Override
    void close();
}
