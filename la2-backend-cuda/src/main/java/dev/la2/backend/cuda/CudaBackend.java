package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.Driver.check;
import static dev.la2.backend.cuda.PassArgs.t;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;

import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.MemoryStats;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.backend.cuda.DeviceContext.Grid;
import dev.la2.backend.cuda.ParamLayouts.DecodeParams;
import dev.la2.backend.cuda.ParamLayouts.RandomParams;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.CommitCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.DraftCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.PackedBackwardCall;
import dev.la2.spi.PackedForwardCall;
import dev.la2.spi.Residuals;
import dev.la2.spi.SlotDecodeCall;
import java.util.EnumSet;
import java.util.IdentityHashMap;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One CUDA device as an {@link AttentionBackend}: its context and stream ({@link DeviceContext}),
 * the kernels ({@link KernelTable}), a caching allocator ({@link DevicePool}) and pinned staging
 * ({@link Transfers}). Every entry point takes the context's lock and makes the context current
 * on the calling thread, so the instance may be shared between threads; work is queued on the
 * stream and nothing waits for it except downloads and {@link #timeMillis}.
 */
final class CudaBackend implements AttentionBackend {
    private final DeviceContext device;
    private final KernelTable kernels;
    private final DevicePool pool;
    private final Transfers transfers;
    private final EventTimer timer;
    private final SweepRunner sweeps;
    private final Backward backward;
    private final Serving serving;
    /** Property "cuda.packedKernels" = "false" runs the packed and slot calls through the SPI's per-sequence defaults (for comparisons). */
    private final boolean packedKernels;
    private final IdentityHashMap<DevicePool.Block, Boolean> live = new IdentityHashMap<>();
    /**
     * Blocks of tensors found unreachable while another thread held the lock: the Cleaner's thread,
     * which every tensor of every backend shares, does not wait behind a long call; the lock's next
     * holder returns them ({@link #returnUnreachable}).
     */
    private final ConcurrentLinkedQueue<DevicePool.Block> unreachable = new ConcurrentLinkedQueue<>();

    CudaBackend(BackendOptions options) {
        device = new DeviceContext(options.device(),
                options.booleanProperty("cuda.syncEachLaunch", false));
        pool = new DevicePool(device.name);
        KernelTable k = null;
        Transfers tr = null;
        try {
            k = new KernelTable(device.smemPerBlock);
            tr = new Transfers(device.stream);
            timer = new EventTimer(device);
        } catch (RuntimeException | Error e) {
            // What was made goes with the failure: a server retrying create() must not keep a
            // context, a module and pinned buffers per attempt.
            if (tr != null) {
                tr.close();
            }
            if (k != null) {
                k.unload();
            }
            device.close();
            throw e;
        }
        kernels = k;
        transfers = tr;
        SweepPlanner planner = new SweepPlanner(device.limits(), new SweepPlanner.Kernels(
                options.booleanProperty("cuda.tensorCores", true),
                options.booleanProperty("cuda.hopper", true),
                options.booleanProperty("cuda.fusedDkDv", true),
                options.booleanProperty("cuda.tf32Chain", true)));
        sweeps = new SweepRunner(device, kernels, pool, planner, options.booleanProperty("cuda.tma", true));
        backward = new Backward(this, device, kernels, pool, sweeps);
        serving = new Serving(this, device, kernels, pool, transfers, sweeps, backward);
        packedKernels = options.booleanProperty("cuda.packedKernels", true);
    }

    @Override
    public String name() {
        return device.name;
    }

    @Override
    public Set<DType> dtypes() {
        return EnumSet.of(DType.FP32, DType.BF16, DType.FP16);
    }

    @Override
    public Set<Precision> precisions() {
        return EnumSet.of(Precision.STRICT, Precision.TF32X3, Precision.TF32);
    }

    @Override
    public Tensor allocate(DType dtype, Shape shape) {
        if (dtype == DType.FP64) {
            throw new La2ArgumentException("dtype", "FP64", "one of " + dtypes() + " (backend '" + name() + "')");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(shape.elementCount(), dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new La2ArgumentException("shape", shape.toString(), "a tensor of fewer than 2^63 bytes");
        }
        return device.locked(() -> {
            returnUnreachable();
            DevicePool.Block block = pool.allocate(bytes);
            live.put(block, Boolean.TRUE);
            return new CudaTensor(this, dtype, shape, block);
        });
    }

    @Override
    public boolean owns(Tensor tensor) {
        return tensor instanceof CudaTensor t && t.owner() == this;
    }

    /** Called by a tensor's close; after the backend closed, the memory is already gone. */
    void release(DevicePool.Block block) {
        device.lock();
        try {
            returnUnreachable();
            returnBlock(block);
        } finally {
            device.unlock();
        }
    }

    /**
     * Called by the Cleaner for a tensor nobody closed: returned at once where the lock is free,
     * else queued for its next holder, so that this never waits.
     */
    void releaseUnreachable(DevicePool.Block block) {
        unreachable.add(block);
        if (device.tryLock()) {
            try {
                returnUnreachable();
            } finally {
                device.unlock();
            }
        }
    }

    /** With the lock held: the blocks the Cleaner queued go back to the pool. */
    private void returnUnreachable() {
        for (DevicePool.Block b; (b = unreachable.poll()) != null; ) {
            returnBlock(b);
        }
    }

    private void returnBlock(DevicePool.Block block) {
        if (!device.isClosed() && live.remove(block) != null) {
            pool.release(block);
        }
    }

    /** A range of {@code tensor}'s device memory; the packed and slot calls run on such views. */
    @Override
    public Tensor view(Tensor tensor, long elementOffset, Shape shape) {
        return t(tensor).view(elementOffset, shape);
    }

    /** Device to device, queued on the stream. */
    @Override
    public void copy(Tensor src, Tensor dst) {
        device.locked(() -> {
            CudaTensor from = t(src), to = t(dst);
            to.written();
            check(cuMemcpyDtoDAsync(to.ptr(), from.ptr(), from.byteSize(), device.stream), "cuMemcpyDtoDAsync");
        });
    }

    /** Queues foreign work on the stream, with the context current and the lock held; {@code out} counts as written. */
    void enqueueForeign(CudaTensor in, CudaTensor out, CudaStreamAccess.StreamWork work) {
        device.locked(() -> {
            out.written();
            work.enqueue(device.stream.address(), in.address(), out.address());
        });
    }

    // ---- transfers -----------------------------------------------------------------------------

    void upload(CudaTensor t, Transfers.Fill fill) {
        device.locked(() -> transfers.upload(t, fill));
    }

    void download(CudaTensor t, Transfers.Fill drain) {
        device.locked(() -> transfers.download(t, drain));
    }

    void fill(CudaTensor t, double value) {
        device.locked(() -> transfers.fill(t, value));
    }

    // ---- attention -----------------------------------------------------------------------------

    @Override
    public void forward(ForwardCall call) {
        device.locked(() -> {
            written(call.output(), call.finalState());
            sweeps.run(call.shape(), null, PassArgs.forward(call));
        });
    }

    @Override
    public void backward(BackwardCall call) {
        device.locked(() -> {
            written(call.dq(), call.dk(), call.dv(), call.dInitialState(), call.dDecay());
            backward.run(call, null);
        });
    }

    @Override
    public void decode(DecodeCall call) {
        device.locked(() -> {
            written(call.output(), call.state());
            launchDecode(call, null);
        });
    }

    /** The decode step's launch; with {@code slotParams} its by-slot entry point, call.state() being the pool. */
    void launchDecode(DecodeCall call, byte[] slotParams) {
        long bh = (long) call.batch() * call.heads();
        long smem = SharedMemory.decode(call.keyDim());
        if (smem > device.smemPerBlock) {
            throw new La2ArgumentException("q", "key dimension " + call.keyDim(),
                    "at most " + (device.smemPerBlock - SharedMemory.decode(0)) / 8 + " for a decode step on " + name());
        }
        Grid grid = DecodeGrid.of(bh, call.valueDim());
        byte[] params = KernelArgs.of(DecodeParams.class)
                .ptr(DecodeParams.Q, t(call.q())).ptr(DecodeParams.K, t(call.k())).ptr(DecodeParams.V, t(call.v()))
                .ptr(DecodeParams.DECAY, t(call.decay())).ptr(DecodeParams.STATE, t(call.state()))
                .ptr(DecodeParams.O, t(call.output())).i64(DecodeParams.H, call.heads())
                .i64(DecodeParams.D, call.keyDim()).i64(DecodeParams.E, call.valueDim())
                .f64(DecodeParams.SCALE, call.scale()).bytes();
        if (slotParams == null) {
            device.launch(kernels, Kernel.decode(call.dtype()), grid, (int) smem, params);
        } else {
            device.launchVariant(kernels, Kernel.decode(call.dtype()), grid, (int) smem, slotParams, params);
        }
    }

    // ---- packed and slot calls (SPEC.md section 8): one launch per pass for all sequences ------

    @Override
    public void forwardPacked(PackedForwardCall call) {
        serve(call.shape().tokens() > 0, () -> AttentionBackend.super.forwardPacked(call), () -> serving.forward(call),
                call.output(), call.finalState(), call.pool());
    }

    /** Keeps nothing: the packed backward recomputes what it needs. */
    @Override
    public Residuals forwardPackedKeeping(PackedForwardCall call, boolean forDecayGradient) {
        if (!packedKernels || call.shape().tokens() == 0) {
            return AttentionBackend.super.forwardPackedKeeping(call, forDecayGradient);
        }
        forwardPacked(call);
        return null;
    }

    @Override
    public void backwardPacked(PackedBackwardCall call) {
        serve(call.shape().tokens() > 0, () -> AttentionBackend.super.backwardPacked(call), () -> serving.backward(call),
                call.dq(), call.dk(), call.dv(), call.dInitialState(), call.dDecay());
    }

    @Override
    public void decodeSlots(SlotDecodeCall call) {
        serve(true, () -> AttentionBackend.super.decodeSlots(call), () -> serving.decode(call), call.output(), call.pool());
    }

    @Override
    public void draft(DraftCall call) {
        serve(true, () -> AttentionBackend.super.draft(call), () -> serving.draft(call), call.output());
    }

    @Override
    public void commit(CommitCall call) {
        serve(true, () -> AttentionBackend.super.commit(call), () -> serving.commit(call), call.pool());
    }

    /**
     * The fused call under the lock, its outputs marked written; or the SPI's default, with
     * cuda.packedKernels=false or where the fused call does not apply (a packed call of no tokens,
     * whose sequences only pass their states through).
     */
    private void serve(boolean applies, Runnable perSequence, Runnable fused, Tensor... outputs) {
        if (!packedKernels || !applies) {
            perSequence.run();
            return;
        }
        device.locked(() -> {
            written(outputs);
            fused.run();
        });
    }

    /** The tensors a kernel is about to write get a new version. */
    private static void written(Tensor... ts) {
        for (Tensor x : ts) {
            if (x != null) {
                t(x).written();
            }
        }
    }

    /**
     * Fills {@code tensor} on the device with pseudo-random values of mean 0 and the given standard
     * deviation (for benchmarks: gigabytes of inputs without host-side generation).
     */
    void randomFill(Tensor tensor, long seed, double stddev) {
        device.locked(() -> {
            CudaTensor x = t(tensor);
            x.written();
            device.launch(kernels, Kernel.random(x.dtype()), Grid.elementwise(x.elementCount(), device.smCount), 0,
                    KernelArgs.of(RandomParams.class).ptr(RandomParams.OUT, x).i64(RandomParams.N, x.elementCount())
                            .i64(RandomParams.SEED, seed).f64(RandomParams.STDDEV, stddev).bytes());
        });
    }

    // ---- timing, memory, lifecycle -------------------------------------------------------------

    @Override
    public double[] timeMillis(Runnable work, int times) {
        return timer.timeMillis(work, times);
    }

    @Override
    public double timeMillis(Runnable work) {
        return timer.timeMillis(work);
    }

    @Override
    public Optional<MemoryStats> memoryStats() {
        return device.locked(() -> {
            returnUnreachable();
            return Optional.of(new MemoryStats("device", pool.held(), pool.peak()));
        });
    }

    /** Also frees the pool's cached blocks, so the next peak counts only what later calls hold. */
    @Override
    public void resetPeakMemory() {
        device.locked(() -> {
            device.synchronize("cuStreamSynchronize");
            pool.trim();
            pool.resetPeak();
        });
    }

    /** Waits for all queued work; for benchmarks and tests that time with the host clock. */
    void synchronize() {
        device.locked(() -> device.synchronize("cuStreamSynchronize"));
    }

    @Override
    public void close() {
        device.lock();
        try {
            if (device.isClosed()) {
                return;
            }
            device.drain();
            for (DevicePool.Block b : live.keySet()) {
                pool.release(b);
            }
            live.clear();
            serving.close();
            pool.trim();
            transfers.close();
            timer.close();
            kernels.unload();
            device.close();
        } finally {
            device.unlock();
        }
    }

    @Override
    public String toString() {
        return "CudaBackend[" + name() + " " + device.description + (device.isClosed() ? ", closed]" : "]");
    }
}
