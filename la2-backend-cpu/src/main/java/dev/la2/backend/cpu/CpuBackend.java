package dev.la2.backend.cpu;

import dev.la2.api.DType;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.spi.AttentionBackend;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.CommitCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.DraftCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import dev.la2.spi.PackedBackwardCall;
import dev.la2.spi.PackedForwardCall;
import dev.la2.api.MemoryStats;
import dev.la2.spi.Residuals;
import dev.la2.spi.SlotDecodeCall;
import java.lang.foreign.MemorySegment;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * One "cpu" instance: its worker pool, its kernels, and the two paths built on them: the tiled fp32
 * one (fp32, bf16 and fp16 storage) and the fp64 one.
 */
final class CpuBackend implements AttentionBackend {
    /** What every instance stores, and so what {@link CpuProvider#dtypes()} reports. */
    static final Set<DType> DTYPES =
            Collections.unmodifiableSet(EnumSet.of(DType.FP32, DType.FP64, DType.BF16, DType.FP16));
    /** Tokens per block C unless the option cpu.blockSize says otherwise. */
    static final int DEFAULT_BLOCK = 64;
    /** Beyond this a block's tiles no longer sit in L1/L2 next to the state. */
    static final int MAX_BLOCK = 512;

    private final Kernels kernels;
    private final WorkerPool pool;
    private final ThreadConfinement confinement;
    private final Scratch scratch = new Scratch();
    private final StatePool keptStates = new StatePool(scratch);
    private final TiledF32 f32;
    private final Recurrent64 f64;
    private final int blockSize;
    private volatile boolean closed;

    CpuBackend(BackendOptions options, Kernels kernels) {
        this.kernels = kernels;
        this.blockSize = options.intProperty("cpu.blockSize", DEFAULT_BLOCK, 1, MAX_BLOCK);
        int segmentTokens = options.intProperty("cpu.segmentTokens", 0, 0, Integer.MAX_VALUE);
        this.pool = new WorkerPool(options.effectiveThreads());
        this.confinement = new ThreadConfinement(pool.threads());
        this.f32 = new TiledF32(kernels, pool, blockSize, segmentTokens, scratch, keptStates);
        this.f64 = new Recurrent64(pool, scratch);
    }

    /** Kernels, block size and threads, for diagnostics and tests. */
    String describe() {
        return kernels.describe() + ", block " + blockSize + ", " + pool.threads() + " threads";
    }

    int threads() {
        return pool.threads();
    }

    @Override
    public String name() {
        return CpuProvider.NAME;
    }

    @Override
    public Set<DType> dtypes() {
        return DTYPES;
    }

    @Override
    public Set<Precision> precisions() {
        return EnumSet.of(Precision.STRICT);
    }

    @Override
    public Tensor allocate(DType dtype, Shape shape) {
        checkOpen();
        return HostTensor.allocate(this, name(), dtype, shape);
    }

    @Override
    public Optional<Tensor> wrap(MemorySegment memory, DType dtype, Shape shape) {
        checkOpen();
        return Optional.of(HostTensor.wrap(this, name(), memory, dtype, shape));
    }

    /** A slice of a host tensor's memory (the packed and slot calls' defaults run on these). */
    @Override
    public Tensor view(Tensor t, long elementOffset, Shape shape) {
        return ((HostTensor) t).view(elementOffset, shape);
    }

    @Override
    public boolean owns(Tensor tensor) {
        return tensor instanceof HostTensor host && host.owner() == this;
    }

    @Override
    public void forward(ForwardCall call) {
        run(() -> {
            switch (call.shape().dtype()) {
                case FP32, BF16, FP16 -> f32.forward(call);
                case FP64 -> f64.forward(call);
            }
        }, call.q(), call.k(), call.v(), call.decay(), call.initialState(), call.output(), call.finalState());
    }

    /** Keeps block states on the tiled path; the fp64 path is the exact recurrence and keeps nothing. */
    @Override
    public Residuals forwardKeeping(ForwardCall call, boolean forDecayGradient) {
        return call(() -> switch (call.shape().dtype()) {
            case FP32, BF16, FP16 -> f32.forwardKeeping(call, forDecayGradient);
            case FP64 -> {
                f64.forward(call);
                yield null;
            }
        }, call.q(), call.k(), call.v(), call.decay(), call.initialState(), call.output(), call.finalState());
    }

    /** The tiled path runs every sequence's tasks in one schedule; the fp64 path keeps the SPI's per-sequence default. */
    @Override
    public void forwardPacked(PackedForwardCall call) {
        run(() -> {
            switch (call.shape().dtype()) {
                case FP32, BF16, FP16 -> f32.forwardPacked(call);
                case FP64 -> AttentionBackend.super.forwardPacked(call);
            }
        }, call.q(), call.k(), call.v(), call.decay(), call.initialState(), call.pool(), call.output(), call.finalState());
    }

    /** The tiled path keeps every sequence's block states in one buffer, computing as {@link #forwardPacked} does. */
    @Override
    public Residuals forwardPackedKeeping(PackedForwardCall call, boolean forDecayGradient) {
        return call(() -> switch (call.shape().dtype()) {
            case FP32, BF16, FP16 -> f32.forwardPackedKeeping(call, forDecayGradient);
            case FP64 -> AttentionBackend.super.forwardPackedKeeping(call, forDecayGradient);
        }, call.q(), call.k(), call.v(), call.decay(), call.initialState(), call.pool(), call.output(), call.finalState());
    }

    /** The tiled path runs every sequence's tasks in one schedule, cut as the packed forward cuts them. */
    @Override
    public void backwardPacked(PackedBackwardCall call) {
        run(() -> {
            switch (call.shape().dtype()) {
                case FP32, BF16, FP16 -> f32.backwardPacked(call);
                case FP64 -> AttentionBackend.super.backwardPacked(call);
            }
        }, call.q(), call.k(), call.v(), call.decay(), call.initialState(), call.dOutput(), call.dFinalState(),
                call.dq(), call.dk(), call.dv(), call.dInitialState(), call.dDecay());
    }

    @Override
    public void backward(BackwardCall call) {
        run(() -> {
            switch (call.shape().dtype()) {
                case FP32, BF16, FP16 -> f32.backward(call);
                case FP64 -> f64.backward(call);
            }
        }, call.q(), call.k(), call.v(), call.decay(), call.initialState(), call.dOutput(), call.dFinalState(),
                call.dq(), call.dk(), call.dv(), call.dInitialState(), call.dDecay());
    }

    @Override
    public void decode(DecodeCall call) {
        run(() -> {
            switch (call.dtype()) {
                case FP32, BF16, FP16 -> f32.decode(call);
                case FP64 -> f64.decode(call);
            }
        }, call.q(), call.k(), call.v(), call.decay(), call.state(), call.output());
    }

    /** The SPI's per-sequence defaults, decided here once for the whole call. */
    @Override
    public void decodeSlots(SlotDecodeCall call) {
        run(() -> AttentionBackend.super.decodeSlots(call), call.q(), call.k(), call.v(), call.decay(), call.pool(),
                call.output());
    }

    @Override
    public void draft(DraftCall call) {
        run(() -> AttentionBackend.super.draft(call), call.q(), call.k(), call.v(), call.decay(), call.pool(),
                call.output());
    }

    @Override
    public void commit(CommitCall call) {
        run(() -> AttentionBackend.super.commit(call), call.k(), call.v(), call.decay(), call.pool());
    }

    /**
     * Checks the instance is open and runs a call's work: on the workers, or on this thread alone
     * when a tensor of the call is confined to it ({@link ThreadConfinement}).
     */
    private <T> T call(Supplier<T> work, Tensor... tensors) {
        checkOpen();
        return confinement.confined(tensors) ? pool.inline(work) : work.get();
    }

    private void run(Runnable work, Tensor... tensors) {
        call(() -> {
            work.run();
            return null;
        }, tensors);
    }

    /** Host tensors of every owner (HostTensor keeps one process-wide count) plus this instance's scratch. */
    @Override
    public Optional<MemoryStats> memoryStats() {
        return Optional.of(new MemoryStats("host native", HostTensor.liveBytes() + scratch.live(),
                HostTensor.peakBytes() + scratch.peak()));
    }

    @Override
    public void resetPeakMemory() {
        HostTensor.resetPeakBytes();
        scratch.resetPeak();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the cpu backend instance is closed");
        }
    }

    @Override
    public void close() {
        closed = true;
        pool.close();
        keptStates.close();
    }

    @Override
    public String toString() {
        return "CpuBackend[" + describe() + "]";
    }
}
