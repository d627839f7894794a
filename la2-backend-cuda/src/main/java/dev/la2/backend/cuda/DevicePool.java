package dev.la2.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;

import dev.la2.api.DeviceMemoryException;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;

/**
 * Caching device allocator: blocks are rounded to size classes and kept on free lists when
 * released, because cuMemAlloc/cuMemFree synchronise the device and cost far more than a kernel.
 * Small blocks use power-of-two classes; large ones round to 2 MiB, which keeps the waste under a
 * few percent for attention-sized tensors (the fwd+bwd peak target counts every byte held).
 * Not thread-safe: the backend calls it under its lock, with its context current.
 */
final class DevicePool {
    private static final long LARGE = 1L << 20;
    private static final long GRANULE = 2L << 20;

    /** A CUdeviceptr whose address can be packed into kernel parameter structs. */
    static final class DevPtr extends CUdeviceptr {
        long address() {
            return getNativePointer();
        }
    }

    record Block(DevPtr ptr, long size) {
        long address() {
            return ptr.address();
        }
    }

    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private final String deviceName;
    private long held;
    private long peak;
    private long cached;

    DevicePool(String deviceName) {
        this.deviceName = deviceName;
    }

    static long sizeClass(long bytes) {
        long b = Math.max(bytes, 256);
        if (b <= LARGE) {
            return Long.highestOneBit(b - 1) << 1;
        }
        return (b + GRANULE - 1) / GRANULE * GRANULE;
    }

    Block allocate(long bytes) {
        long size = sizeClass(bytes);
        ArrayDeque<Block> list = free.get(size);
        if (list != null && !list.isEmpty()) {
            cached -= size;
            return list.pop();
        }
        DevPtr ptr = new DevPtr();
        int rc = cuMemAlloc(ptr, size);
        if (rc == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            // Cached blocks of other sizes may be what stands in the way.
            trim();
            rc = cuMemAlloc(ptr, size);
        }
        if (rc == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            long[] freeBytes = {-1}, total = {-1};
            cuMemGetInfo(freeBytes, total);
            throw new DeviceMemoryException("cannot allocate " + bytes + " bytes on " + deviceName
                    + ": out of device memory (free " + freeBytes[0] + " of " + total[0] + " bytes; this backend holds "
                    + held + " bytes)");
        }
        Driver.check(rc, "cuMemAlloc(" + size + " bytes)");
        held += size;
        peak = Math.max(peak, held);
        return new Block(ptr, size);
    }

    void release(Block block) {
        free.computeIfAbsent(block.size(), s -> new ArrayDeque<>()).push(block);
        cached += block.size();
    }

    /**
     * Frees every cached block. Safe while kernels that used them are queued: cuMemFree waits for
     * the device before it frees (the class comment).
     */
    void trim() {
        for (ArrayDeque<Block> list : free.values()) {
            for (Block b : list) {
                cuMemFree(b.ptr());
                held -= b.size();
            }
        }
        free.clear();
        cached = 0;
    }

    long held() {
        return held;
    }

    long peak() {
        return peak;
    }

    void resetPeak() {
        peak = held;
    }
}
