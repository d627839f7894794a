package dev.la2.backend.cuda;

import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Shape;
import dev.la2.spi.CallerMemory;
import dev.la2.spi.HalfFloats;
import dev.la2.spi.TrackedTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import jcuda.driver.CUdeviceptr;

/**
 * A tensor in device memory of one {@link CudaBackend}. Transfers go through the backend's pinned
 * staging buffers on its stream: uploads return once the data is staged (the copy itself may still
 * be in flight, ordered before any later kernel), downloads wait for the stream.
 *
 * <p>A view ({@link #view}) is a range of another tensor's memory: it shares that tensor's block,
 * version and open state, and closing it releases nothing.
 */
final class CudaTensor implements TrackedTensor {
    private static final Cleaner CLEANER = Cleaner.create();

    private final CudaBackend backend;
    private final DType dtype;
    private final Shape shape;
    private final DevicePool.Block block;
    /** The tensor that owns the block: this one, or the one a view was made of. */
    private final CudaTensor root;
    private final long byteOffset;
    private final Release release;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;
    /** Bumped by every upload, fill and kernel write (see {@link TrackedTensor#version()}). */
    private volatile long version;

    CudaTensor(CudaBackend backend, DType dtype, Shape shape, DevicePool.Block block) {
        this.backend = backend;
        this.dtype = dtype;
        this.shape = shape;
        this.block = block;
        this.root = this;
        this.byteOffset = 0;
        this.release = new Release(backend, block);
        this.cleanable = CLEANER.register(this, release);
    }

    private CudaTensor(CudaTensor of, long byteOffset, Shape shape) {
        this.backend = of.backend;
        this.dtype = of.dtype;
        this.shape = shape;
        this.block = of.block;
        this.root = of.root;
        this.byteOffset = of.byteOffset + byteOffset;
        this.release = null;
        this.cleanable = null;
    }

    /** {@code shape.elementCount()} elements from element {@code elementOffset} on, without a copy. */
    CudaTensor view(long elementOffset, Shape shape) {
        checkOpen();
        if (elementOffset < 0 || elementOffset + shape.elementCount() > elementCount()) {
            throw new IllegalArgumentException("view of " + shape.elementCount() + " elements at " + elementOffset
                    + " of a tensor of " + elementCount());
        }
        return new CudaTensor(this, elementOffset * dtype.byteSize(), shape);
    }

    /**
     * Returns the block to the pool; holds no reference to the tensor. On the caller's close it
     * waits for the backend's lock; on the Cleaner's thread it never waits
     * ({@link CudaBackend#releaseUnreachable}).
     */
    private static final class Release implements Runnable {
        private final CudaBackend backend;
        private final DevicePool.Block block;
        private volatile boolean byClose;

        Release(CudaBackend backend, DevicePool.Block block) {
            this.backend = backend;
            this.block = block;
        }

        @Override
        public void run() {
            if (byClose) {
                backend.release(block);
            } else {
                backend.releaseUnreachable(block);
            }
        }
    }

    CudaBackend owner() {
        return backend;
    }

    /** The device address of the first element. */
    CUdeviceptr ptr() {
        checkOpen();
        return block.ptr().withByteOffset(byteOffset);
    }

    long address() {
        checkOpen();
        return block.address() + byteOffset;
    }

    /**
     * An upload, fill or kernel has written (or is queued to write) this tensor; under the backend's
     * lock. A view counts for the whole tensor it was made of.
     */
    void written() {
        root.version++;
    }

    @Override
    public long version() {
        return root.version;
    }

    @Override
    public Shape shape() {
        return shape;
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public String backend() {
        return backend.name();
    }

    @Override
    public boolean isClosed() {
        return closed || root.closed;
    }

    @Override
    public void copyFrom(float[] src) {
        checkOpen();
        CallerMemory.array("src", src, this);
        backend.upload(this, (seg, first, count) -> {
            switch (dtype) {
                case FP32 -> MemorySegment.copy(src, (int) first, seg, ValueLayout.JAVA_FLOAT, 0, count);
                case BF16 -> {
                    for (int i = 0; i < count; i++) {
                        seg.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toBf16(src[(int) first + i]));
                    }
                }
                case FP16 -> {
                    for (int i = 0; i < count; i++) {
                        seg.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toFp16(src[(int) first + i]));
                    }
                }
                case FP64 -> throw new IllegalStateException("FP64 tensors are not made by this backend");
            }
        });
    }

    @Override
    public void copyFrom(double[] src) {
        checkOpen();
        CallerMemory.array("src", src, this);
        backend.upload(this, (seg, first, count) -> {
            for (int i = 0; i < count; i++) {
                double x = src[(int) first + i];
                switch (dtype) {
                    case FP32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) x);
                    case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toBf16(x));
                    case FP16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toFp16(x));
                    case FP64 -> throw new IllegalStateException("FP64 tensors are not made by this backend");
                }
            }
        });
    }

    @Override
    public void copyFrom(MemorySegment src) {
        checkOpen();
        CallerMemory.usable("src", src);
        if (src.byteSize() != byteSize()) {
            throw new La2ArgumentException("src", "a segment of " + src.byteSize() + " bytes",
                    byteSize() + " bytes (" + dtype + " " + shape + ")");
        }
        int size = dtype.byteSize();
        backend.upload(this, (seg, first, count) ->
                MemorySegment.copy(src, first * size, seg, 0, (long) count * size));
    }

    @Override
    public void copyTo(float[] dst) {
        checkOpen();
        CallerMemory.array("dst", dst, this);
        backend.download(this, (seg, first, count) -> {
            if (dtype == DType.FP32) {
                MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT, 0, dst, (int) first, count);
                return;
            }
            for (int i = 0; i < count; i++) {
                dst[(int) first + i] = decode(seg, i);
            }
        });
    }

    @Override
    public void copyTo(double[] dst) {
        checkOpen();
        CallerMemory.array("dst", dst, this);
        backend.download(this, (seg, first, count) -> {
            for (int i = 0; i < count; i++) {
                dst[(int) first + i] = decode(seg, i);
            }
        });
    }

    @Override
    public void copyTo(MemorySegment dst) {
        checkOpen();
        CallerMemory.writable("dst", dst);
        if (dst.byteSize() != byteSize()) {
            throw new La2ArgumentException("dst", "a segment of " + dst.byteSize() + " bytes",
                    byteSize() + " bytes (" + dtype + " " + shape + ")");
        }
        int size = dtype.byteSize();
        backend.download(this, (seg, first, count) ->
                MemorySegment.copy(seg, 0, dst, first * size, (long) count * size));
    }

    private float decode(MemorySegment seg, long i) {
        return switch (dtype) {
            case FP32 -> seg.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            case BF16 -> HalfFloats.fromBf16(seg.getAtIndex(ValueLayout.JAVA_SHORT, i));
            case FP16 -> HalfFloats.fromFp16(seg.getAtIndex(ValueLayout.JAVA_SHORT, i));
            case FP64 -> throw new IllegalStateException("FP64 tensors are not made by this backend");
        };
    }

    @Override
    public void fill(double value) {
        checkOpen();
        backend.fill(this, value);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (cleanable != null) {
                release.byClose = true;
                cleanable.clean();
            }
        }
    }

    /** Runs, on this thread, what the Cleaner runs for a tensor nobody closed (for tests). */
    void cleanAsUnreachable() {
        closed = true;
        cleanable.clean();
    }

    private void checkOpen() {
        if (isClosed()) {
            throw new IllegalStateException("tensor " + dtype + " " + shape + " of backend '" + backend.name() + "' is closed");
        }
    }

    @Override
    public String toString() {
        return "CudaTensor[" + backend.name() + ", " + dtype + " " + shape + (root != this ? ", view" : "")
                + (isClosed() ? ", closed]" : "]");
    }
}
