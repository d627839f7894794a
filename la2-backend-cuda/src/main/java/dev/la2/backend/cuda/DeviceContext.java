package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.Driver.check;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import dev.la2.api.La2ArgumentException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * One device's primary context and the one stream all work is queued on, the lock that makes a
 * backend shareable between threads, the device's limits, and kernel launches.
 */
final class DeviceContext {
    final String name;
    final String description;
    final int smCount;
    /** Compute capability as major * 10 + minor (90 for an H100 or H200). */
    final int computeCapability;
    /** Opt-in dynamic shared memory per block, less what the hardware and static buffers take. */
    final int smemPerBlock;
    final int smemPerSm;
    final Stream stream = new Stream();
    private final ReentrantLock lock = new ReentrantLock();
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final boolean syncEachLaunch;
    private volatile boolean closed;

    DeviceContext(int ordinal, boolean syncEachLaunch) {
        int[] count = {0};
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (ordinal >= count[0]) {
            throw new La2ArgumentException("device", String.valueOf(ordinal),
                    "a CUDA device index below " + count[0] + " (devices found: " + count[0] + ")");
        }
        check(cuDeviceGet(device, ordinal), "cuDeviceGet");
        name = CudaProvider.NAME + ":" + ordinal;
        int major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        if (major < CudaProvider.MIN_MAJOR) {
            throw new La2ArgumentException("device", name + " of compute capability " + major + ".x",
                    "a device of compute capability 8.0 or newer");
        }
        computeCapability = 10 * major + attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        // 1 KiB of each block's shared memory is reserved by the hardware; the kernels' static
        // shared memory (a 256-byte reduction buffer) comes out of the same budget.
        smemPerBlock = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN) - 512;
        smemPerSm = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
        byte[] devName = new byte[256];
        check(cuDeviceGetName(devName, devName.length, device), "cuDeviceGetName");
        description = new String(devName).replace("\0", "").trim();
        this.syncEachLaunch = syncEachLaunch;
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        try {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        } catch (RuntimeException e) {
            cuDevicePrimaryCtxRelease(device);
            throw e;
        }
    }

    /** The limits the planner reads. */
    DeviceLimits limits() {
        return new DeviceLimits(name, computeCapability, smCount, smemPerBlock, smemPerSm);
    }

    private int attribute(int which) {
        int[] v = {0};
        check(cuDeviceGetAttribute(v, which, device), "cuDeviceGetAttribute(" + which + ")");
        return v[0];
    }

    /** Runs {@code work} holding the lock, with the context current on this thread. */
    <T> T locked(Supplier<T> work) {
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

    void locked(Runnable work) {
        locked(() -> {
            work.run();
            return null;
        });
    }

    /** Holds the lock across several {@link #locked} calls (it is reentrant). */
    void lock() {
        lock.lock();
    }

    /** The lock if no other thread holds it, without waiting. */
    boolean tryLock() {
        return lock.tryLock();
    }

    void unlock() {
        lock.unlock();
    }

    boolean isClosed() {
        return closed;
    }

    /** With the lock held: waits for all queued work. */
    void synchronize(String what) {
        check(cuStreamSynchronize(stream), what);
    }

    /**
     * Queues a kernel on the stream, its entry point taking the parameter structs {@code params} in
     * order (a pass's SweepParams, then the tensor maps of the Hopper sweep's TMA entry points); with
     * "cuda.syncEachLaunch" waits for it, so a fault names its launch.
     */
    void launch(KernelTable kernels, Kernel kernel, Grid grid, int smem, byte[]... params) {
        Pointer[] each = new Pointer[params.length];
        for (int i = 0; i < params.length; i++) {
            each[i] = Pointer.to(params[i]);
        }
        launch(kernels.get(kernel), kernel.symbol(), grid, smem, Pointer.to(each));
    }

    /**
     * Queues the kernel's packed or by-slot entry point ({@link Kernel#variant()}), whose last
     * parameter struct is {@code variantParams}, after the kernel's own {@code params}.
     */
    void launchVariant(KernelTable kernels, Kernel kernel, Grid grid, int smem, byte[] variantParams, byte[]... params) {
        Pointer[] each = new Pointer[params.length + 1];
        for (int i = 0; i < params.length; i++) {
            each[i] = Pointer.to(params[i]);
        }
        each[params.length] = Pointer.to(variantParams);
        launch(kernels.variant(kernel), kernel.symbol() + kernel.variant(), grid, smem, Pointer.to(each));
    }

    private void launch(CUfunction f, String symbol, Grid grid, int smem, Pointer params) {
        if (grid.x() > Integer.MAX_VALUE || grid.y() > 65535 || grid.z() > 65535) {
            throw new La2ArgumentException("shape", "a launch grid of " + grid.x() + " x " + grid.y() + " x " + grid.z()
                    + " blocks for " + symbol, "at most 2^31-1 x 65535 x 65535 blocks");
        }
        check(cuLaunchKernel(f, (int) grid.x(), (int) grid.y(), (int) grid.z(), grid.threads(), 1, 1, smem,
                stream, params, null), "cuLaunchKernel(" + symbol + ")");
        if (syncEachLaunch) {
            check(cuStreamSynchronize(stream), symbol + " failed on the device");
        }
    }

    /** The stream, with its handle readable for foreign libraries that queue work on it (NCCL). */
    static final class Stream extends CUstream {
        long address() {
            return getNativePointer();
        }
    }

    /** A launch's blocks in x, y, z and threads per block. */
    record Grid(long x, long y, long z, int threads) {
        /** A one-dimensional grid for a loop over {@code n} elements, at most eight blocks per multiprocessor. */
        static Grid elementwise(long n, int smCount) {
            return new Grid(Math.min(8L * smCount, (n + 255) / 256), 1, 1, 256);
        }
    }

    /** With the lock held and the context current: the stream and the context go. */
    void close() {
        cuStreamDestroy(stream);
        cuDevicePrimaryCtxRelease(device);
        closed = true;
    }

    /** For teardown: makes the context current and waits for the stream, ignoring a failed context. */
    void drain() {
        cuCtxSetCurrent(context);
        cuStreamSynchronize(stream);
    }
}
