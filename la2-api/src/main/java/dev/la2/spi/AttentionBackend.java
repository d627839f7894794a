package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.MemoryStats;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
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
