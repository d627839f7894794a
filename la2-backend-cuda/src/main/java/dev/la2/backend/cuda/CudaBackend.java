package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.Driver.check;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD16Async;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.AttentionShape;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HalfFloats;
import dev.la2.api.MemoryStats;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * One CUDA device: its primary context, one stream, the kernel module, a caching allocator and
 * pinned staging buffers. Every entry point takes one lock and makes the context current on the
 * calling thread, so the instance may be shared between threads; work is queued on the stream and
 * nothing waits for it except downloads and {@link #timeMillis}.
 */
final class CudaBackend implements AttentionBackend {
    private static final int STAGING_BYTES = 8 << 20;
    private static final int SWEEP_THREADS = 256;
    private static final int WIDE_THREADS = 512;
    private static final int SWEEP_FIELDS = 37;
    private static final int DECAY_SWEEP_FIELDS = 25;

    private final String name;
    private final ReentrantLock lock = new ReentrantLock();
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUmodule module = new CUmodule();
    private final CUstream stream = new CUstream();
    private final DevicePool pool;
    private final Pointer[] staging = new Pointer[2];
    private final MemorySegment[] stagingSegments = new MemorySegment[2];
    private final CUevent[] stagingFree = new CUevent[2];
    private final CUevent timerStart = new CUevent();
    private final CUevent timerEnd = new CUevent();
    private final IdentityHashMap<DevicePool.Block, Boolean> live = new IdentityHashMap<>();
    private final CUfunction sweepF32, sweepBf16, sweepF16, scan, decayGrad, decodeF32, decodeBf16, decodeF16;
    private final CUfunction decaySweepF32, decaySweepBf16, decaySweepF16, decayScan, decaySum;
    private final CUfunction randomF32, randomBf16, randomF16;
    private final CUfunction widenBf16, widenF16, narrowBf16, narrowF16;
    /**
     * The tensor-core sweeps by symbol: la2_sweep_{wide,tc1,tc}_TYPE_dDK, each also with the suffix
     * _bwd (without the forward's exact handling of non-finite values; la2_kernels.cu, causalSum).
     */
    private final Map<String, CUfunction> tensorCoreKernels = new HashMap<>();
    private final int smCount;
    private final int smemPerBlock;
    private final int smemPerSm;
    private final boolean syncEachLaunch;
    /** Property "cuda.tensorCores" = "false" forces the generic fp32-FMA kernels (for comparisons). */
    private final boolean tensorCores;
    private final String deviceDescription;
    private int nextStaging;
    private boolean closed;

    CudaBackend(BackendOptions options) {
        int[] count = {0};
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (options.device() >= count[0]) {
            throw new La2ArgumentException("device", String.valueOf(options.device()),
                    "a CUDA device index below " + count[0] + " (devices found: " + count[0] + ")");
        }
        check(cuDeviceGet(device, options.device()), "cuDeviceGet");
        name = CudaProvider.NAME + ":" + options.device();
        int major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        if (major < CudaProvider.MIN_MAJOR) {
            throw new La2ArgumentException("device", name + " of compute capability " + major + ".x",
                    "a device of compute capability 8.0 or newer");
        }
        smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        // 1 KiB of each block's shared memory is reserved by the hardware; the kernels' static
        // shared memory (a 256-byte reduction buffer) comes out of the same budget.
        smemPerBlock = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN) - 512;
        smemPerSm = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
        byte[] devName = new byte[256];
        check(cuDeviceGetName(devName, devName.length, device), "cuDeviceGetName");
        deviceDescription = new String(devName).replace("\0", "").trim();
        syncEachLaunch = Boolean.parseBoolean(options.properties().getOrDefault("cuda.syncEachLaunch", "false"));
        tensorCores = Boolean.parseBoolean(options.properties().getOrDefault("cuda.tensorCores", "true"));
        pool = new DevicePool(name);

        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
        check(cuModuleLoadData(module, kernelImage()), "cuModuleLoadData(la2_kernels.fatbin)");
        check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        sweepF32 = function("la2_sweep_f32", true);
        sweepBf16 = function("la2_sweep_bf16", true);
        sweepF16 = function("la2_sweep_f16", true);
        scan = function("la2_scan", false);
        decayGrad = function("la2_decay_grad", false);
        decaySweepF32 = function("la2_decay_sweep_f32", true);
        decaySweepBf16 = function("la2_decay_sweep_bf16", true);
        decaySweepF16 = function("la2_decay_sweep_f16", true);
        decayScan = function("la2_decay_scan", false);
        decaySum = function("la2_decay_sum", false);
        decodeF32 = function("la2_decode_f32", true);
        decodeBf16 = function("la2_decode_bf16", true);
        decodeF16 = function("la2_decode_f16", true);
        for (String kernel : List.of("wide_bf16", "wide_f16", "wide_tf32", "tc1_bf16", "tc1_f16", "tc_tf32", "tc_f32x3")) {
            for (String variant : List.of("_d64", "_d128", "_d64_bwd", "_d128_bwd")) {
                String symbol = "la2_sweep_" + kernel + variant;
                tensorCoreKernels.put(symbol, function(symbol, true));
            }
        }
        randomF32 = function("la2_random_f32", false);
        randomBf16 = function("la2_random_bf16", false);
        randomF16 = function("la2_random_f16", false);
        widenBf16 = function("la2_widen_bf16", false);
        widenF16 = function("la2_widen_f16", false);
        narrowBf16 = function("la2_narrow_bf16", false);
        narrowF16 = function("la2_narrow_f16", false);
        for (int i = 0; i < 2; i++) {
            staging[i] = new Pointer();
            check(cuMemHostAlloc(staging[i], STAGING_BYTES, 0), "cuMemHostAlloc(" + STAGING_BYTES + " bytes)");
            stagingSegments[i] = MemorySegment.ofBuffer(staging[i].getByteBuffer(0, STAGING_BYTES)
                    .order(java.nio.ByteOrder.nativeOrder()));
            stagingFree[i] = new CUevent();
            check(cuEventCreate(stagingFree[i], CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        }
        check(cuEventCreate(timerStart, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
        check(cuEventCreate(timerEnd, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
    }

    private int attribute(int which) {
        int[] v = {0};
        check(cuDeviceGetAttribute(v, which, device), "cuDeviceGetAttribute(" + which + ")");
        return v[0];
    }

    private static byte[] kernelImage() {
        try (InputStream in = CudaBackend.class.getResourceAsStream(CudaProvider.KERNELS)) {
            if (in == null) {
                throw new IllegalStateException("la2-backend-cuda: " + CudaProvider.KERNELS + " missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private CUfunction function(String symbol, boolean bigSharedMemory) {
        CUfunction f = new CUfunction();
        check(cuModuleGetFunction(f, module, symbol), "cuModuleGetFunction(" + symbol + ")");
        if (bigSharedMemory) {
            check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smemPerBlock),
                    "cuFuncSetAttribute(" + symbol + ")");
        }
        return f;
    }

    // ---- locking -------------------------------------------------------------------------------

    private <T> T locked(Supplier<T> work) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("la2 backend '" + name + "' is closed");
            }
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            return work.get();
        } finally {
            lock.unlock();
        }
    }

    private void locked(Runnable work) {
        locked(() -> {
            work.run();
            return null;
        });
    }

    // ---- AttentionBackend ----------------------------------------------------------------------

    @Override
    public String name() {
        return name;
    }

    String deviceDescription() {
        return deviceDescription;
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
            throw new La2ArgumentException("dtype", "FP64", "one of " + dtypes() + " (backend '" + name + "')");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(shape.elementCount(), dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new La2ArgumentException("shape", shape.toString(), "a tensor of fewer than 2^63 bytes");
        }
        return locked(() -> {
            DevicePool.Block block = pool.allocate(bytes);
            live.put(block, Boolean.TRUE);
            return new CudaTensor(this, dtype, shape, block);
        });
    }

    @Override
    public boolean owns(Tensor tensor) {
        return tensor instanceof CudaTensor t && t.owner() == this;
    }

    /** Called by a tensor's close or its Cleaner; after the backend closed, the memory is already gone. */
    void release(DevicePool.Block block) {
        lock.lock();
        try {
            if (!closed && live.remove(block) != null) {
                pool.release(block);
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public double[] timeMillis(Runnable work, int times) {
        lock.lock();
        CUevent[] marks = new CUevent[times + 1];
        try {
            for (int i = 0; i <= times; i++) {
                marks[i] = new CUevent();
                CUevent mark = marks[i];
                locked(() -> check(cuEventCreate(mark, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate"));
            }
            work.run(); // untimed: the device is busy with it while the timed runs are queued
            locked(() -> check(cuEventRecord(marks[0], stream), "cuEventRecord"));
            for (int i = 1; i <= times; i++) {
                work.run();
                CUevent mark = marks[i];
                locked(() -> check(cuEventRecord(mark, stream), "cuEventRecord"));
            }
            return locked(() -> {
                check(cuEventSynchronize(marks[times]), "cuEventSynchronize (the timed work failed on the device)");
                double[] result = new double[times];
                float[] ms = {0};
                for (int i = 0; i < times; i++) {
                    check(cuEventElapsedTime(ms, marks[i], marks[i + 1]), "cuEventElapsedTime");
                    result[i] = ms[0];
                }
                return result;
            });
        } finally {
            locked(() -> {
                for (CUevent mark : marks) {
                    if (mark != null) {
                        cuEventDestroy(mark);
                    }
                }
                return null;
            });
            lock.unlock();
        }
    }

    @Override
    public double timeMillis(Runnable work) {
        lock.lock();
        try {
            locked(() -> check(cuEventRecord(timerStart, stream), "cuEventRecord"));
            work.run();
            return locked(() -> {
                check(cuEventRecord(timerEnd, stream), "cuEventRecord");
                check(cuEventSynchronize(timerEnd), "cuEventSynchronize (the timed work failed on the device)");
                float[] ms = {0};
                check(cuEventElapsedTime(ms, timerStart, timerEnd), "cuEventElapsedTime");
                return (double) ms[0];
            });
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<MemoryStats> memoryStats() {
        return locked(() -> Optional.of(new MemoryStats("device", pool.held(), pool.peak())));
    }

    /** Also frees the pool's cached blocks, so the next peak counts only what later calls hold. */
    @Override
    public void resetPeakMemory() {
        locked(() -> {
            check(cuStreamSynchronize(stream), "cuStreamSynchronize");
            pool.trim();
            pool.resetPeak();
        });
    }

    /** Waits for all queued work; for benchmarks and tests that time with the host clock. */
    void synchronize() {
        locked(() -> check(cuStreamSynchronize(stream), "cuStreamSynchronize"));
    }

    /** Free and total bytes of the device, as the driver reports them. */
    long[] deviceMemory() {
        return locked(() -> {
            long[] free = {0}, total = {0};
            check(cuMemGetInfo(free, total), "cuMemGetInfo");
            return new long[] {free[0], total[0]};
        });
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            cuCtxSetCurrent(context);
            cuStreamSynchronize(stream);
            for (DevicePool.Block b : live.keySet()) {
                pool.release(b);
            }
            live.clear();
            pool.trim();
            for (int i = 0; i < 2; i++) {
                cuMemFreeHost(staging[i]);
                cuEventDestroy(stagingFree[i]);
            }
            cuEventDestroy(timerStart);
            cuEventDestroy(timerEnd);
            cuStreamDestroy(stream);
            cuModuleUnload(module);
            cuDevicePrimaryCtxRelease(device);
            closed = true;
        } finally {
            lock.unlock();
        }
    }

    // ---- transfers -----------------------------------------------------------------------------

    /** Writes {@code count} elements starting at element {@code first} into a staging segment. */
    interface Fill {
        void fill(MemorySegment staging, long first, int count);
    }

    void upload(CudaTensor t, Fill fill) {
        locked(() -> {
            int size = t.dtype().byteSize();
            long n = t.elementCount();
            int perChunk = STAGING_BYTES / size;
            float[] shadow = n <= CudaTensor.SHADOW_LIMIT ? new float[(int) n] : null;
            for (long first = 0; first < n; first += perChunk) {
                int count = (int) Math.min(perChunk, n - first);
                int buf = nextStaging;
                nextStaging ^= 1;
                // Double buffering: refill a staging buffer only after its last copy finished.
                check(cuEventSynchronize(stagingFree[buf]), "cuEventSynchronize");
                MemorySegment seg = stagingSegments[buf];
                fill.fill(seg, first, count);
                if (shadow != null) {
                    for (int i = 0; i < count; i++) {
                        shadow[(int) first + i] = t.decode(seg, i);
                    }
                }
                check(cuMemcpyHtoDAsync(t.block().ptr().withByteOffset(first * size), staging[buf], (long) count * size, stream),
                        "cuMemcpyHtoDAsync");
                check(cuEventRecord(stagingFree[buf], stream), "cuEventRecord");
            }
            t.setShadow(shadow);
        });
    }

    void download(CudaTensor t, Fill drain) {
        locked(() -> {
            int size = t.dtype().byteSize();
            long n = t.elementCount();
            int perChunk = STAGING_BYTES / size;
            for (long first = 0; first < n; first += perChunk) {
                int count = (int) Math.min(perChunk, n - first);
                int buf = nextStaging;
                nextStaging ^= 1;
                check(cuEventSynchronize(stagingFree[buf]), "cuEventSynchronize");
                check(cuMemcpyDtoHAsync(staging[buf], t.block().ptr().withByteOffset(first * size), (long) count * size, stream),
                        "cuMemcpyDtoHAsync");
                check(cuStreamSynchronize(stream), "cuStreamSynchronize (an earlier kernel or copy failed on the device)");
                drain.fill(stagingSegments[buf], first, count);
            }
        });
    }

    float[] shadowOf(CudaTensor t) {
        return locked(t::shadow);
    }

    void fill(CudaTensor t, double value) {
        locked(() -> {
            t.invalidateShadow();
            long n = t.elementCount();
            switch (t.dtype()) {
                case FP32 -> check(cuMemsetD32Async(t.block().ptr(), Float.floatToRawIntBits((float) value), n, stream), "cuMemsetD32Async");
                case BF16 -> check(cuMemsetD16Async(t.block().ptr(), HalfFloats.toBf16((float) value), n, stream), "cuMemsetD16Async");
                case FP16 -> check(cuMemsetD16Async(t.block().ptr(), HalfFloats.toFp16((float) value), n, stream), "cuMemsetD16Async");
                case FP64 -> throw new IllegalStateException("FP64 tensors are not made by this backend");
            }
        });
    }

    // ---- kernels -------------------------------------------------------------------------------

    private void launch(CUfunction f, String what, long gx, long gy, long gz, int threads, int smem, byte[] params) {
        if (gx > Integer.MAX_VALUE || gy > 65535 || gz > 65535) {
            throw new La2ArgumentException("shape", "a launch grid of " + gx + " x " + gy + " x " + gz + " blocks for " + what,
                    "at most 2^31-1 x 65535 x 65535 blocks");
        }
        check(cuLaunchKernel(f, (int) gx, (int) gy, (int) gz, threads, 1, 1, smem, stream,
                Pointer.to(Pointer.to(params)), null), "cuLaunchKernel(" + what + ")");
        if (syncEachLaunch) {
            check(cuStreamSynchronize(stream), what + " failed on the device");
        }
    }

    private CUfunction sweepFor(DType dtype) {
        return switch (dtype) {
            case FP32 -> sweepF32;
            case BF16 -> sweepBf16;
            case FP16 -> sweepF16;
            case FP64 -> throw new IllegalStateException("FP64");
        };
    }

    /** Element strides (batch, head, token) of a sequence tensor with {@code f} features. */
    private static long[] strides(AttentionShape s, int f) {
        long n = s.tokens(), h = s.heads();
        return s.layout() == Layout.BHND
                ? new long[] {h * n * f, n * f, f}
                : new long[] {n * h * f, f, h * f};
    }

    /** One pass of the sweep kernel family (see la2_kernels.cu for the function it computes). */
    private final class Sweep {
        CudaTensor q, k, v, o, w, s0, sfinal, decay;
        /** Address of a scratch final state, used when {@link #sfinal} is null. */
        long sfinalScratch;
        long acc;
        int dk, dv;
        long s0i, s0j, fi, fj;
        double alpha, beta, kappa;
        int ofs0 = 1, finalPow;
        boolean rev, writeOut = true;
        Precision precision = Precision.STRICT;
        /** A pass of the backward: tensor-core sweeps without the forward's non-finite re-sum. */
        boolean gradient;
    }

    /** A tensor-core sweep kernel and its launch shape. */
    private record TensorCoreSweep(CUfunction function, int threads, int valueTile, int smem, int blocksPerSm) {
    }

    /**
     * Shared memory of a tensor-core sweep, mirroring the buffer layout at the top of sweepWide and
     * sweepMma: {@code qkBuffers} chunks of q and of k (rows padded by {@code padK}),
     * {@code vBuffers} chunks of v, the 64 x 64 score tile (rows padded by {@code padA}),
     * {@code stateCopies} Dk x (value tile) state copies (v and state rows padded by 8), and the
     * lambda and k-weight tables.
     */
    private static int sweepSmem(int elementBytes, int dk, int valueTile, int padK, int padA, int qkBuffers,
                                 int vBuffers, int stateCopies) {
        int elements = 2 * qkBuffers * 64 * (dk + padK) + vBuffers * 64 * (valueTile + 8) + 64 * (64 + padA)
                + stateCopies * dk * (valueTile + 8);
        return elementBytes * elements + 4 * (66 + 64);
    }

    /**
     * The tensor-core sweep for this pass, or null where only the generic one applies. 16-bit rows
     * are padded by 8 elements, fp32 rows by 4 (q, k, scores) or 8. Blocks per multiprocessor are
     * what registers allow.
     */
    private TensorCoreSweep tensorCoreSweep(DType dtype, Precision precision, int dk, int dv, boolean gradient) {
        if (!tensorCores || dv % 64 != 0 || (dk != 64 && dk != 128)) {
            return null;
        }
        String variant = "_d" + dk + (gradient ? "_bwd" : "");
        TensorCoreSweep k = switch (dtype) {
            // Dv = 128: one 16-warp block per sequence, double-buffered (la2_kernels.cu, sweepWide),
            // where the device has the shared memory for it (an H100/H200 has, an A100 not)
            case BF16, FP16 -> {
                String type = dtype == DType.BF16 ? "bf16" : "f16";
                int wideSmem = sweepSmem(2, dk, 128, 8, 8, 2, 2, 2);
                yield dv == 128 && wideSmem <= smemPerBlock
                        ? new TensorCoreSweep(tensorCoreKernel("wide_" + type + variant), WIDE_THREADS, 128, wideSmem, 1)
                        : new TensorCoreSweep(tensorCoreKernel("tc1_" + type + variant), SWEEP_THREADS, 64,
                                sweepSmem(2, dk, 64, 8, 8, 1, 1, 1), 2);
            }
            // STRICT stays on fp32 FMAs (the generic sweep); TF32X3 is three TF32 products per fp32
            // product (la2_kernels.cu, MmaF32x3), within the fp32 tolerance and about 13x faster.
            // TF32 with Dv = 128 runs the wide sweep too: one chunk buffer of q and k, two of v, one
            // state copy.
            case FP32 -> {
                if (precision == Precision.STRICT) {
                    yield null;
                }
                int wideSmem = sweepSmem(4, dk, 128, 4, 4, 1, 2, 1);
                yield precision == Precision.TF32 && dv == 128 && wideSmem <= smemPerBlock
                        ? new TensorCoreSweep(tensorCoreKernel("wide_tf32" + variant), WIDE_THREADS, 128, wideSmem, 1)
                        : new TensorCoreSweep(tensorCoreKernel((precision == Precision.TF32 ? "tc_tf32" : "tc_f32x3") + variant),
                                SWEEP_THREADS, 64, sweepSmem(4, dk, 64, 4, 4, 1, 1, 1), 1);
            }
            case FP64 -> null;
        };
        return k == null || k.smem() > smemPerBlock ? null : k;
    }

    private CUfunction tensorCoreKernel(String name) {
        return tensorCoreKernels.get("la2_sweep_" + name);
    }

    /** The value tile, chunk and shared memory of an fp32-FMA kernel. */
    private record FmaTiles(int valueTile, int chunk, int smem) {
    }

    @FunctionalInterface
    private interface SmemBytes {
        long of(int valueTile, int chunk);
    }

    /**
     * The widest value tile (from {@code widest}, halving) and then the longest chunk (64, halving)
     * whose shared memory fits a block.
     */
    private FmaTiles fmaTiles(int dk, int widest, String what, SmemBytes bytes) {
        for (int tile = widest; ; tile = (tile + 1) / 2) {
            for (int chunk = 64; chunk >= 1; chunk /= 2) {
                long b = bytes.of(tile, chunk);
                if (b <= smemPerBlock) {
                    return new FmaTiles(tile, chunk, (int) b);
                }
            }
            if (tile == 1) {
                throw new La2ArgumentException("q", "key dimension " + dk, "a key dimension whose " + what + " fits in "
                        + smemPerBlock + " bytes of shared memory on " + name);
            }
        }
    }

    /**
     * Tokens per segment (a multiple of the chunk c) for one wave of resident blocks: each block
     * walks its segment serially, and every extra segment costs a state-only pass over its k and
     * v, so a sequence is split only to fill the device.
     */
    private long segmentLength(int n, int c, long blocksPerSegment, int threads, int smem, int blocksPerSmCap) {
        long nChunks = (n + c - 1) / c;
        int perSm = Math.min(blocksPerSmCap, Math.max(1, Math.min(2048 / threads, smemPerSm / (smem + 1024))));
        long nseg = Math.min(Math.min(nChunks, 65535), Math.max(1, (long) smCount * perSm / blocksPerSegment));
        return (nChunks + nseg - 1) / nseg * c;
    }

    private void sweep(AttentionShape s, Sweep p) {
        long bh = s.sequences();
        int n = s.tokens();
        int dk = p.dk, dv = p.dv;
        TensorCoreSweep tc = tensorCoreSweep(s.dtype(), p.precision, dk, dv, p.gradient);
        CUfunction kernel;
        int et, c, smem, threads;
        if (tc != null) {
            kernel = tc.function();
            et = tc.valueTile();
            c = 64;
            smem = tc.smem();
            threads = tc.threads();
        } else {
            kernel = sweepFor(s.dtype());
            FmaTiles f = fmaTiles(dk, Math.min(dv, 64), "state tile",
                    (tile, chunk) -> 4L * (2L * chunk * (dk + 1) + (long) chunk * tile + (long) chunk * (chunk + 1) + (long) dk * tile));
            et = f.valueTile();
            c = f.chunk();
            smem = f.smem();
            threads = SWEEP_THREADS;
        }
        int tiles = (dv + et - 1) / et;
        long segLen = segmentLength(n, c, bh * tiles, threads, smem, tc != null ? tc.blocksPerSm() : Integer.MAX_VALUE);
        long nseg = (n + segLen - 1) / segLen;

        long[] ks = strides(s, dk), vs = strides(s, dv);
        DevicePool.Block scratch = nseg > 1 ? pool.allocate(4L * bh * (nseg - 1) * dk * dv) : null;
        try {
            for (int mode = 0; mode <= 1; mode++) {
                if (mode == 0 && nseg == 1) {
                    continue;
                }
                Params a = new Params(SWEEP_FIELDS)
                        .ptr(p.q).ptr(p.k).ptr(p.v).ptr(p.o).ptr(p.w).ptr(p.s0)
                        .ptr(p.sfinal != null ? p.sfinal.address() : p.sfinalScratch)
                        .ptr(scratch == null ? 0 : scratch.address()).ptr(p.decay).ptr(p.acc)
                        .i64(n).i64(s.heads()).i64(bh).i64(dk).i64(dv).i64(et).i64(c).i64(segLen).i64(nseg)
                        .i64(mode).i64(p.rev ? 1 : 0).i64(p.ofs0).i64(p.finalPow).i64(p.writeOut ? 1 : 0)
                        .i64(ks[0]).i64(ks[1]).i64(ks[2]).i64(vs[0]).i64(vs[1]).i64(vs[2])
                        .i64(p.s0i).i64(p.s0j).i64(p.fi).i64(p.fj)
                        .f64(p.alpha).f64(p.beta).f64(p.kappa);
                byte[] bytes = a.bytes();
                if (mode == 1 && nseg > 1) {
                    long elems = (long) dk * dv;
                    launch(scan, "la2_scan", bh, (elems + 255) / 256, 1, 256, 0, bytes);
                }
                launch(kernel, "la2_sweep mode " + mode, bh, mode == 0 ? nseg - 1 : nseg, tiles,
                        threads, smem, bytes);
            }
        } finally {
            if (scratch != null) {
                // Safe to reuse at once: every later use is queued behind these kernels on the stream.
                pool.release(scratch);
            }
        }
    }

    private static CudaTensor t(Tensor x) {
        return (CudaTensor) x;
    }

    private static void written(Tensor... ts) {
        for (Tensor x : ts) {
            if (x != null) {
                t(x).invalidateShadow();
            }
        }
    }

    @Override
    public void forward(ForwardCall call) {
        locked(() -> {
            AttentionShape s = call.shape();
            written(call.output(), call.finalState());
            Sweep p = new Sweep();
            p.q = t(call.q());
            p.k = t(call.k());
            p.v = t(call.v());
            p.o = t(call.output());
            p.decay = t(call.decay());
            p.s0 = call.initialState() == null ? null : t(call.initialState());
            p.sfinal = call.finalState() == null ? null : t(call.finalState());
            p.dk = s.keyDim();
            p.dv = s.valueDim();
            p.s0i = p.fi = s.valueDim();
            p.s0j = p.fj = 1;
            p.alpha = p.beta = call.scale();
            p.kappa = 1;
            p.precision = call.precision();
            sweep(s, p);
        });
    }

    /**
     * Three sweeps (SPEC.md section 2): dq forward in time over S, dv and dk backward in time over
     * G. The decay gradient takes one of two routes.
     *
     * <p>With 16-bit storage or TF32 (tolerances 2e-2 and 3e-3), where a tensor-core sweep fits the
     * shape, it avoids a fourth state sweep through the identity (derived from the closed form;
     * lambda-power terms of S0 and dS_final cancel)
     *
     * <pre>ds = sum_t t (v_t . dv_t - dO_t . o_t) - &lt;dS0, S0&gt; - (N-1) &lt;dS_final, S_final&gt;</pre>
     *
     * whose dot products are accumulated in float64 inside the dv sweep and a forward recompute
     * that writes no output. The two sums cancel (by a factor of 10 to 100 on random inputs), so
     * these two passes need fp32 products: with 16-bit or TF32 tensor-core intermediates the decay
     * gradient missed the storage tolerances (measured up to 5.8e-2 in bf16 and 1.2e-2 in TF32).
     * They run on the 3xTF32 tensor-core sweep, over fp32 copies of the 16-bit operands (and dv
     * through an fp32 copy).
     *
     * <p>Where fp32's 1e-5 is promised (STRICT, TF32X3), and for shapes without a tensor-core
     * sweep, the cancellation cost too many digits (measured 6.2e-6 of the terms' size at N=4096,
     * D=E=128), so a fourth sweep carries T = -dS/ds beside S, both in double, and sums the
     * gradient term by term (la2_kernels.cu, decaySweep).
     */
    @Override
    public void backward(BackwardCall call) {
        locked(() -> {
            AttentionShape s = call.shape();
            written(call.dq(), call.dk(), call.dv(), call.dInitialState(), call.dDecay());
            int d = s.keyDim(), e = s.valueDim();
            CudaTensor q = t(call.q()), k = t(call.k()), v = t(call.v()), dO = t(call.dOutput());
            CudaTensor decay = t(call.decay());
            CudaTensor s0 = call.initialState() == null ? null : t(call.initialState());
            CudaTensor dSf = call.dFinalState() == null ? null : t(call.dFinalState());
            double c = call.scale();
            boolean learn = call.dDecay() != null;
            long bh = s.sequences();
            List<DevicePool.Block> temps = new ArrayList<>();
            List<CudaTensor> copies = new ArrayList<>();
            try {
                DevicePool.Block acc = null;
                if (learn) {
                    acc = pool.allocate(16L * bh);
                    temps.add(acc);
                    check(cuMemsetD32Async(acc.ptr(), 0, 4L * bh, stream), "cuMemsetD32Async");
                }
                // dq: q'=dO, k'=v, v'=k, state S^T (E x D)
                Sweep p = new Sweep();
                p.q = dO;
                p.k = v;
                p.v = k;
                p.o = t(call.dq());
                p.decay = decay;
                p.s0 = s0;
                p.dk = e;
                p.dv = d;
                p.s0i = 1;
                p.s0j = e;
                p.alpha = p.beta = c;
                p.kappa = 1;
                p.precision = call.precision();
                p.gradient = true;
                sweep(s, p);
                // The decay gradient's route (see above): with fp32Sweeps, the identity's two passes (the
                // dv sweep and a forward recompute) on 3xTF32 over fp32 operands; without, the x-suffixed
                // operands and exactShape are the call's own and a fourth sweep carries T.
                boolean fp32Sweeps = learn && (s.dtype() != DType.FP32 || call.precision() == Precision.TF32)
                        && tensorCoreSweep(DType.FP32, Precision.TF32X3, d, e, true) != null;
                boolean carryT = learn && !fp32Sweeps;
                AttentionShape exactShape = fp32Sweeps ? new AttentionShape(s.batch(), s.heads(), s.tokens(), d, e,
                        s.layout(), DType.FP32) : s;
                CudaTensor qx = fp32Sweeps ? widened(q, copies) : q, kx = fp32Sweeps ? widened(k, copies) : k;
                CudaTensor vx = fp32Sweeps ? widened(v, copies) : v, dOx = fp32Sweeps ? widened(dO, copies) : dO;
                CudaTensor dvx = fp32Sweeps && s.dtype() != DType.FP32 ? scratchFp32(t(call.dv()), copies) : t(call.dv());
                // dv: reversed, q'=k, k'=q, v'=dO, state G (D x E) from dS_final; its end gives dS0 = lambda G_0
                p = new Sweep();
                p.q = kx;
                p.k = qx;
                p.v = dOx;
                p.o = dvx;
                p.decay = decay;
                p.s0 = dSf;
                p.sfinal = t(call.dInitialState());
                p.dk = d;
                p.dv = e;
                p.s0i = p.fi = e;
                p.s0j = p.fj = 1;
                p.finalPow = 1;
                p.alpha = p.kappa = c;
                p.beta = 1;
                p.ofs0 = 0;
                p.rev = true;
                if (fp32Sweeps) {
                    p.w = vx;
                    p.acc = acc.address();
                }
                p.precision = fp32Sweeps ? Precision.TF32X3 : call.precision();
                p.gradient = true;
                sweep(exactShape, p);
                if (dvx != t(call.dv())) {
                    convert(dvx, t(call.dv()));
                }
                // dk: reversed, q'=v, k'=dO, v'=q, state G^T (E x D)
                p = new Sweep();
                p.q = v;
                p.k = dO;
                p.v = q;
                p.o = t(call.dk());
                p.decay = decay;
                p.s0 = dSf;
                p.dk = e;
                p.dv = d;
                p.s0i = 1;
                p.s0j = e;
                p.alpha = p.kappa = c;
                p.beta = 1;
                p.ofs0 = 0;
                p.rev = true;
                p.precision = call.precision();
                p.gradient = true;
                sweep(s, p);
                if (carryT) {
                    decayGradientCarryingT(s, q, k, v, dO, decay, s0, dSf, acc.address(), t(call.dDecay()), c);
                } else if (fp32Sweeps) {
                    DevicePool.Block sfin = null;
                    if (dSf != null) {
                        sfin = pool.allocate(4L * bh * d * e);
                        temps.add(sfin);
                    }
                    // forward recompute: accO = sum_t t <dO_t, o_t>, and S_final when dS_final is given
                    p = new Sweep();
                    p.q = qx;
                    p.k = kx;
                    p.v = vx;
                    p.o = dOx; // never written (writeOut = false); the kernel needs a valid base only
                    p.writeOut = false;
                    p.w = dOx;
                    p.acc = acc.address() + 8L * bh;
                    p.decay = decay;
                    p.s0 = s0;
                    p.dk = d;
                    p.dv = e;
                    p.s0i = p.fi = e;
                    p.s0j = p.fj = 1;
                    p.alpha = p.beta = c;
                    p.kappa = 1;
                    p.sfinalScratch = sfin == null ? 0 : sfin.address();
                    p.precision = Precision.TF32X3;
                    p.gradient = true;
                    sweep(exactShape, p);
                    Params g = new Params(11)
                            .ptr(acc.address()).ptr(acc.address() + 8L * bh).ptr(t(call.dInitialState())).ptr(s0)
                            .ptr(dSf).ptr(sfin == null ? 0 : sfin.address()).ptr(t(call.dDecay()))
                            .i64(s.batch()).i64(s.heads()).i64(s.tokens()).i64((long) d * e);
                    launch(decayGrad, "la2_decay_grad", s.heads(), 1, 1, 256, 0, g.bytes());
                }
            } finally {
                for (DevicePool.Block b : temps) {
                    pool.release(b);
                }
                // Safe to release at once, as the blocks above: later uses queue behind these kernels.
                copies.forEach(CudaTensor::close);
            }
        });
    }

    /**
     * dDecay from the fourth sweep that carries T = -dS/ds (la2_kernels.cu, decaySweep), with
     * {@code acc} (one double per sequence, zeroed) for its per-sequence sums. Its tiles fit shared
     * memory as the generic sweep's do, with both states in double; segments fill the device.
     */
    private void decayGradientCarryingT(AttentionShape s, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor dO,
                                        CudaTensor decay, CudaTensor s0, CudaTensor dSf, long acc, CudaTensor dDecay,
                                        double scale) {
        long bh = s.sequences();
        int n = s.tokens(), d = s.keyDim(), e = s.valueDim();
        FmaTiles f = fmaTiles(d, Math.min(e, 32), "decay-gradient state tiles", (tile, chunk) ->
                16L * d * tile + 4L * (2L * chunk * (d + 1) + 2L * chunk * tile + (long) chunk * (chunk + 1) + 3L * chunk));
        int et = f.valueTile(), c = f.chunk(), smem = f.smem();
        int tiles = (e + et - 1) / et;
        long segLen = segmentLength(n, c, bh * tiles, SWEEP_THREADS, smem, Integer.MAX_VALUE);
        long nseg = (n + segLen - 1) / segLen;
        long[] ks = strides(s, d), vs = strides(s, e);
        CUfunction kernel = switch (s.dtype()) {
            case FP32 -> decaySweepF32;
            case BF16 -> decaySweepBf16;
            case FP16 -> decaySweepF16;
            case FP64 -> throw new IllegalStateException("FP64");
        };
        DevicePool.Block scratch = nseg > 1 ? pool.allocate(16L * bh * (nseg - 1) * d * e) : null;
        try {
            for (int mode = 0; mode <= 1; mode++) {
                if (mode == 0 && nseg == 1) {
                    continue;
                }
                byte[] bytes = new Params(DECAY_SWEEP_FIELDS)
                        .ptr(q).ptr(k).ptr(v).ptr(dO).ptr(s0).ptr(dSf).ptr(scratch == null ? 0 : scratch.address())
                        .ptr(decay).ptr(acc)
                        .i64(n).i64(s.heads()).i64(d).i64(e).i64(et).i64(c).i64(segLen).i64(nseg).i64(mode)
                        .i64(ks[0]).i64(ks[1]).i64(ks[2]).i64(vs[0]).i64(vs[1]).i64(vs[2])
                        .f64(scale).bytes();
                if (mode == 1 && nseg > 1) {
                    launch(decayScan, "la2_decay_scan", bh, ((long) d * e + 255) / 256, 1, 256, 0, bytes);
                }
                launch(kernel, "la2_decay_sweep mode " + mode, bh, mode == 0 ? nseg - 1 : nseg, tiles,
                        SWEEP_THREADS, smem, bytes);
            }
        } finally {
            if (scratch != null) {
                pool.release(scratch); // as in sweep: later uses queue behind these kernels
            }
        }
        launch(decaySum, "la2_decay_sum", 1, 1, 1, (int) Math.min(1024, s.heads()), 0,
                new Params(4).ptr(acc).ptr(dDecay).i64(s.batch()).i64(s.heads()).bytes());
    }

    /** x itself when it is fp32, else an fp32 copy of it (added to {@code copies}). */
    private CudaTensor widened(CudaTensor x, List<CudaTensor> copies) {
        if (x.dtype() == DType.FP32) {
            return x;
        }
        CudaTensor wide = scratchFp32(x, copies);
        convert(x, wide);
        return wide;
    }

    /** An uninitialised fp32 tensor of x's shape (added to {@code copies}). */
    private CudaTensor scratchFp32(CudaTensor x, List<CudaTensor> copies) {
        CudaTensor wide = t(allocate(DType.FP32, x.shape()));
        copies.add(wide);
        return wide;
    }

    /** dst = src element for element, between fp32 and bf16 or fp16 (nearest even). */
    private void convert(CudaTensor src, CudaTensor dst) {
        boolean widen = dst.dtype() == DType.FP32;
        DType half = widen ? src.dtype() : dst.dtype();
        CUfunction f = switch (half) {
            case BF16 -> widen ? widenBf16 : narrowBf16;
            case FP16 -> widen ? widenF16 : narrowF16;
            case FP32, FP64 -> throw new IllegalStateException("convert " + src.dtype() + " to " + dst.dtype());
        };
        long n = src.elementCount();
        Params a = new Params(3).ptr(src).ptr(dst).i64(n);
        launch(f, "la2_convert", Math.min(8L * smCount, (n + 255) / 256), 1, 1, 256, 0, a.bytes());
    }

    @Override
    public void decode(DecodeCall call) {
        locked(() -> {
            written(call.output(), call.state());
            CUfunction f = switch (call.dtype()) {
                case FP32 -> decodeF32;
                case BF16 -> decodeBf16;
                case FP16 -> decodeF16;
                case FP64 -> throw new IllegalStateException("FP64");
            };
            long bh = (long) call.batch() * call.heads();
            // row groups per value column: enough loads in flight to cover memory latency
            int rowGroups = Math.max(1, Math.min(8, call.keyDim() / 8));
            int smem = 8 * call.keyDim() + 512 * rowGroups;
            if (smem > smemPerBlock) {
                throw new La2ArgumentException("q", "key dimension " + call.keyDim(),
                        "at most " + (smemPerBlock - 4096) / 8 + " for a decode step on " + name);
            }
            Params a = new Params(10)
                    .ptr(t(call.q())).ptr(t(call.k())).ptr(t(call.v())).ptr(t(call.decay())).ptr(t(call.state()))
                    .ptr(t(call.output())).i64(call.heads()).i64(call.keyDim()).i64(call.valueDim()).f64(call.scale());
            launch(f, "la2_decode", bh, (call.valueDim() + 127) / 128, 1, 128 * rowGroups, smem, a.bytes());
        });
    }

    /**
     * Fills {@code tensor} on the device with pseudo-random values of mean 0 and the given standard
     * deviation (for benchmarks: gigabytes of inputs without host-side generation).
     */
    void randomFill(Tensor tensor, long seed, double stddev) {
        locked(() -> {
            CudaTensor x = t(tensor);
            x.invalidateShadow();
            CUfunction f = switch (x.dtype()) {
                case FP32 -> randomF32;
                case BF16 -> randomBf16;
                case FP16 -> randomF16;
                case FP64 -> throw new IllegalStateException("FP64");
            };
            Params a = new Params(4).ptr(x).i64(x.elementCount()).i64(seed).f64(stddev);
            launch(f, "la2_random", Math.min(8L * smCount, (x.elementCount() + 255) / 256), 1, 1, 256, 0, a.bytes());
        });
    }

    int multiprocessors() {
        return smCount;
    }

    @Override
    public String toString() {
        return "CudaBackend[" + name + " " + deviceDescription + (closed ? ", closed]" : "]");
    }
}
