package dev.la2.parallel;

import static java.lang.foreign.ValueLayout.ADDRESS;

import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.backend.cuda.CudaStreamAccess;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;

/**
 * One rank of an NCCL communicator (one GPU per rank, in one process or several, on one host or
 * several), on the tensors and the stream of a cuda backend: the collectives are queued on that
 * backend's stream (through {@link dev.la2.backend.cuda.CudaStreamAccess}), in order with its
 * kernels, and read and write device memory directly; host arrays ({@link #allGather(double[])})
 * travel through device staging tensors. Needs la2-backend-cuda on the class path and
 * {@code libnccl.so.2} (see {@link #unavailableReason()}).
 *
 * <p>NVLink multicast (NVLS) must stay off: set {@code NCCL_NVLS_ENABLE=0} in the environment of
 * every rank's process before it starts. {@link #abort} cannot reach the other ranks: a rank that
 * fails between collectives leaves the others waiting in their next collective, which the caller's
 * process supervision must end.
 */
public final class NcclCommunicator implements Communicator {
    private final LightningAttention la;
    private final NcclLibrary nccl;
    private final int rank;
    private final int size;
    /** A one-element tensor through which work needing the backend's context current is run. */
    private final Tensor anchor;
    private MemorySegment comm;

    private NcclCommunicator(LightningAttention la, NcclLibrary nccl, int rank, int size, byte[] uniqueId) {
        this.la = la;
        this.nccl = nccl;
        this.rank = rank;
        this.size = size;
        this.anchor = la.allocate(DType.FP32, Shape.of(1));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment id = arena.allocate(NcclLibrary.UNIQUE_ID);
            id.copyFrom(MemorySegment.ofArray(uniqueId));
            onDevice(() -> nccl.check(invoke(() -> (int) nccl.commInitRank.invokeExact(out, size, id, rank)), "ncclCommInitRank"));
            comm = out.get(ADDRESS, 0);
        } catch (RuntimeException e) {
            anchor.close();
            throw e;
        }
    }

    /** Empty when NCCL and the cuda backend's classes can be used here, else why not. */
    public static Optional<String> unavailableReason() {
        try {
            Class.forName("dev.la2.backend.cuda.CudaStreamAccess");
        } catch (ClassNotFoundException | LinkageError e) {
            return Optional.of("la2-backend-cuda is not on the class path");
        }
        try {
            NcclLibrary.get();
            return Optional.empty();
        } catch (CommunicationException e) {
            return Optional.of(e.getMessage());
        }
    }

    /** A new ncclUniqueId (rank 0 makes it; every rank passes it to {@link #create}). */
    public static byte[] uniqueId() {
        NcclLibrary nccl = NcclLibrary.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = arena.allocate(NcclLibrary.UNIQUE_ID);
            nccl.check(invoke(() -> (int) nccl.getUniqueId.invokeExact(id)), "ncclGetUniqueId");
            return id.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /**
     * Rank {@code rank} of {@code size} on the device of {@code cuda} (a cuda backend instance), joining
     * the communicator of {@code uniqueId}; returns once every rank has joined.
     */
    public static NcclCommunicator create(LightningAttention cuda, int rank, int size, byte[] uniqueId) {
        if (cuda == null || !cuda.backendName().startsWith("cuda")) {
            throw new La2ArgumentException("cuda", cuda == null ? "null" : "backend " + cuda.backendName(), "a cuda backend instance");
        }
        if (size < 1 || rank < 0 || rank >= size) {
            throw new La2ArgumentException("rank", rank + " of " + size, "a rank from 0 to size-1 of at least one rank");
        }
        if (uniqueId == null || uniqueId.length != NcclLibrary.UNIQUE_ID_BYTES) {
            throw new La2ArgumentException("uniqueId", uniqueId == null ? "null" : uniqueId.length + " bytes",
                    NcclLibrary.UNIQUE_ID_BYTES + " bytes from uniqueId() on rank 0");
        }
        return new NcclCommunicator(cuda, NcclLibrary.get(), rank, size, uniqueId);
    }

    /**
     * As {@link #create}, exchanging the unique id through {@link NcclRendezvous}: rank 0 makes it and
     * serves it at {@code rendezvous} (an address of rank 0's host every rank can reach), the others
     * fetch it from there, waiting up to {@code timeout}.
     */
    public static NcclCommunicator connect(LightningAttention cuda, int rank, int size, InetSocketAddress rendezvous,
                                           Duration timeout) {
        byte[] id = NcclRendezvous.exchange(rank, size, rendezvous, NcclCommunicator::uniqueId, timeout);
        return create(cuda, rank, size, id);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    /** Through device staging tensors; the doubles travel as raw bits (the cuda backend stores no FP64). */
    @Override
    public double[] allGather(double[] local) {
        if (local.length == 0) {
            return new double[0];
        }
        try (Arena arena = Arena.ofConfined();
             Tensor send = la.tensor(MemorySegment.ofArray(local), DType.FP32, Shape.of(2 * local.length));
             Tensor recv = la.allocate(DType.FP32, Shape.of(2 * local.length * size))) {
            enqueueAllGather(send, recv, 2L * local.length, NcclLibrary.NCCL_FLOAT32);
            MemorySegment host = arena.allocate(recv.byteSize(), 8);
            recv.copyTo(host);
            return host.asSlice(0, 8L * local.length * size).toArray(ValueLayout.JAVA_DOUBLE);
        }
    }

    @Override
    public void allGather(Tensor local, Tensor gathered) {
        if (!CudaStreamAccess.isCudaTensor(local) || !CudaStreamAccess.isCudaTensor(gathered)) {
            Communicator.super.allGather(local, gathered);
            return;
        }
        sameType("gathered", local, gathered, local.elementCount() * size);
        enqueueAllGather(local, gathered, local.elementCount(), type(local.dtype()));
    }

    @Override
    public void allReduceSum(Tensor local, Tensor sum) {
        if (!CudaStreamAccess.isCudaTensor(local) || !CudaStreamAccess.isCudaTensor(sum)) {
            Communicator.super.allReduceSum(local, sum);
            return;
        }
        sameType("sum", local, sum, local.elementCount());
        MemorySegment c = handle();
        int type = type(local.dtype());
        CudaStreamAccess.enqueue(local, sum, (stream, in, out) -> nccl.check(invoke(() -> (int) nccl.allReduce.invokeExact(
                MemorySegment.ofAddress(in), MemorySegment.ofAddress(out), local.elementCount(), type, NcclLibrary.NCCL_SUM, c,
                MemorySegment.ofAddress(stream))), "ncclAllReduce"));
    }

    private void enqueueAllGather(Tensor send, Tensor recv, long count, int type) {
        MemorySegment c = handle();
        CudaStreamAccess.enqueue(send, recv, (stream, in, out) -> nccl.check(invoke(() -> (int) nccl.allGather.invokeExact(
                MemorySegment.ofAddress(in), MemorySegment.ofAddress(out), count, type, c, MemorySegment.ofAddress(stream))),
                "ncclAllGather"));
    }

    private static void sameType(String name, Tensor local, Tensor other, long elements) {
        if (other.dtype() != local.dtype() || other.elementCount() != elements) {
            throw new La2ArgumentException(name, other.dtype() + " " + other.shape(), elements + " elements of " + local.dtype());
        }
    }

    private static int type(DType dtype) {
        return switch (dtype) {
            case FP32 -> NcclLibrary.NCCL_FLOAT32;
            case FP64 -> NcclLibrary.NCCL_FLOAT64;
            case BF16 -> NcclLibrary.NCCL_BFLOAT16;
            case FP16 -> NcclLibrary.NCCL_FLOAT16;
        };
    }

    private synchronized MemorySegment handle() {
        if (comm == null) {
            throw new IllegalStateException("NCCL communicator of rank " + rank + " is closed");
        }
        return comm;
    }

    @Override
    public synchronized void close() {
        if (comm != null) {
            MemorySegment c = comm;
            comm = null;
            onDevice(() -> nccl.check(invoke(() -> (int) nccl.commDestroy.invokeExact(c)), "ncclCommDestroy"));
            anchor.close();
        }
    }

    /** Runs {@code work} with the cuda backend's context current on this thread and its lock held. */
    private void onDevice(Runnable work) {
        CudaStreamAccess.enqueue(anchor, anchor, (stream, in, out) -> work.run());
    }

    @FunctionalInterface
    private interface NativeCall {
        int call() throws Throwable;
    }

    /** An ncclResult_t-returning call; the cast at each call site gives invokeExact its exact type. */
    private static int invoke(NativeCall call) {
        try {
            return call.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CommunicationException("NCCL call failed", t);
        }
    }
}
