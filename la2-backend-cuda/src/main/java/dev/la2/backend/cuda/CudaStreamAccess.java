package dev.la2.backend.cuda;

import dev.la2.api.La2ArgumentException;
import dev.la2.api.Tensor;

/**
 * Lets a foreign library (a collective-communication library such as NCCL) queue work on the stream
 * of the cuda backend that owns a tensor, in order with that backend's kernels and copies: the work
 * runs with the backend's context current on the calling thread and its lock held, and gets the raw
 * stream handle ({@code CUstream}, which is also a {@code cudaStream_t}) and the tensors' device
 * addresses. The work must only queue (not wait for) device operations that read {@code in} and
 * write {@code out}.
 */
public final class CudaStreamAccess {

    /** Queues device work; the addresses are valid for what it queues, in stream order. */
    @FunctionalInterface
    public interface StreamWork {
        void enqueue(long stream, long inAddress, long outAddress);
    }

    private CudaStreamAccess() {
    }

    /** Whether {@code tensor} lives on a cuda backend (and so can be passed to {@link #enqueue}). */
    public static boolean isCudaTensor(Tensor tensor) {
        return tensor instanceof CudaTensor;
    }

    /**
     * Runs {@code work} on the stream of the backend owning {@code in} and {@code out} (both open
     * tensors of one cuda backend instance; they may be the same tensor).
     */
    public static void enqueue(Tensor in, Tensor out, StreamWork work) {
        CudaTensor from = cuda("in", in);
        CudaTensor to = cuda("out", out);
        if (from.owner() != to.owner()) {
            throw new La2ArgumentException("out", "a tensor of " + to.backend(), "a tensor of " + from.backend() + ", as in");
        }
        from.owner().enqueueForeign(from, to, work);
    }

    private static CudaTensor cuda(String name, Tensor t) {
        if (t instanceof CudaTensor c && !c.isClosed()) {
            return c;
        }
        throw new La2ArgumentException(name, t == null ? "null" : t.isClosed() ? "a closed tensor" : "a tensor of " + t.backend(),
                "an open tensor of a cuda backend");
    }
}
