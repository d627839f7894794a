package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.Driver.check;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD16Async;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import dev.la2.spi.HalfFloats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;

/**
 * Host-device copies through two pinned staging buffers, and fills. A transfer goes in slices of
 * at most {@link #STAGING_BYTES}: an upload returns once its last slice is staged (the copies are
 * ordered before any later kernel on the stream), a download waits for each slice. Called with
 * the backend's lock held and its context current.
 */
final class Transfers {
    static final int STAGING_BYTES = 8 << 20;

    /** Writes (or reads) {@code count} elements starting at element {@code first} into (from) a staging segment. */
    interface Fill {
        void fill(MemorySegment staging, long first, int count);
    }

    private final CUstream stream;
    private final Pointer[] staging = new Pointer[2];
    private final MemorySegment[] stagingSegments = new MemorySegment[2];
    private final CUevent[] stagingFree = new CUevent[2];
    private int next;

    Transfers(CUstream stream) {
        this.stream = stream;
        for (int i = 0; i < 2; i++) {
            staging[i] = new Pointer();
            check(cuMemHostAlloc(staging[i], STAGING_BYTES, 0), "cuMemHostAlloc(" + STAGING_BYTES + " bytes)");
            stagingSegments[i] = MemorySegment.ofBuffer(staging[i].getByteBuffer(0, STAGING_BYTES).order(ByteOrder.nativeOrder()));
            stagingFree[i] = new CUevent();
            check(cuEventCreate(stagingFree[i], CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        }
    }

    void upload(CudaTensor t, Fill fill) {
        // Counted as written before the first slice: an upload that fails part-way has still changed it.
        t.written();
        slices(t, (buf, first, count, device, bytes) -> {
            fill.fill(stagingSegments[buf], first, count);
            check(cuMemcpyHtoDAsync(device, staging[buf], bytes, stream), "cuMemcpyHtoDAsync");
            check(cuEventRecord(stagingFree[buf], stream), "cuEventRecord");
        });
    }

    void download(CudaTensor t, Fill drain) {
        slices(t, (buf, first, count, device, bytes) -> {
            check(cuMemcpyDtoHAsync(staging[buf], device, bytes, stream), "cuMemcpyDtoHAsync");
            check(cuStreamSynchronize(stream), "cuStreamSynchronize (an earlier kernel or copy failed on the device)");
            drain.fill(stagingSegments[buf], first, count);
        });
    }

    /** Queues a copy of {@code values} to {@code device} (int64 tables of the packed and slot kernels). */
    void upload(CUdeviceptr device, long[] values) {
        int perSlice = STAGING_BYTES / Long.BYTES;
        for (int first = 0; first < values.length; first += perSlice) {
            int count = Math.min(perSlice, values.length - first);
            int buf = next;
            next ^= 1;
            check(cuEventSynchronize(stagingFree[buf]), "cuEventSynchronize");
            MemorySegment.copy(values, first, stagingSegments[buf], ValueLayout.JAVA_LONG, 0, count);
            check(cuMemcpyHtoDAsync(device.withByteOffset((long) first * Long.BYTES), staging[buf], (long) count * Long.BYTES,
                    stream), "cuMemcpyHtoDAsync");
            check(cuEventRecord(stagingFree[buf], stream), "cuEventRecord");
        }
    }

    /** One slice of a transfer: staging buffer {@code buf} and the slice's place on the device. */
    @FunctionalInterface
    private interface Slice {
        void copy(int buf, long first, int count, CUdeviceptr device, long bytes);
    }

    /**
     * The tensor in slices that fit a staging buffer, alternating between the two. Double
     * buffering: a staging buffer is refilled only after its last copy finished.
     */
    private void slices(CudaTensor t, Slice slice) {
        int size = t.dtype().byteSize();
        long n = t.elementCount();
        int perSlice = STAGING_BYTES / size;
        for (long first = 0; first < n; first += perSlice) {
            int count = (int) Math.min(perSlice, n - first);
            int buf = next;
            next ^= 1;
            check(cuEventSynchronize(stagingFree[buf]), "cuEventSynchronize");
            slice.copy(buf, first, count, t.ptr().withByteOffset(first * size), (long) count * size);
        }
    }

    void fill(CudaTensor t, double value) {
        t.written();
        long n = t.elementCount();
        switch (t.dtype()) {
            case FP32 -> check(cuMemsetD32Async(t.ptr(), Float.floatToRawIntBits((float) value), n, stream), "cuMemsetD32Async");
            case BF16 -> check(cuMemsetD16Async(t.ptr(), HalfFloats.toBf16(value), n, stream), "cuMemsetD16Async");
            case FP16 -> check(cuMemsetD16Async(t.ptr(), HalfFloats.toFp16(value), n, stream), "cuMemsetD16Async");
            case FP64 -> throw new IllegalStateException("FP64 tensors are not made by this backend");
        }
    }

    /** With the stream synchronised. */
    void close() {
        for (int i = 0; i < 2; i++) {
            cuMemFreeHost(staging[i]);
            cuEventDestroy(stagingFree[i]);
        }
    }
}
