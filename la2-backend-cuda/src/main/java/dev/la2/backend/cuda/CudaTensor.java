package dev.la2.backend.cuda;

import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Shape;
import dev.la2.spi.HalfFloats;
import dev.la2.spi.TrackedTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;

/**
 * A tensor in device memory of one {@link CudaBackend}. Transfers go through the backend's pinned
 * staging buffers on its stream: uploads return once the data is staged (the copy itself may still
 * be in flight, ordered before any later kernel), downloads wait for the stream.
 */
final class CudaTensor implements TrackedTensor {
    private static final Cleaner CLEANER = Cleaner.create();

    private final CudaBackend backend;
    private final DType dtype;
    private final Shape shape;
    private final DevicePool.Block block;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;
    /** Bumped by every upload, fill and kernel write (see {@link TrackedTensor#version()}). */
    private volatile long version;

    CudaTensor(CudaBackend backend, DType dtype, Shape shape, DevicePool.Block block) {
        this.backend = backend;
        this.dtype = dtype;
        this.shape = shape;
        this.block = block;
        this.cleanable = CLEANER.register(this, new Release(backend, block));
    }

    /** Returns the block to the pool; holds no reference to the tensor. */
    private record Release(CudaBackend backend, DevicePool.Block block) implements Runnable {
        @Override
        public void run() {
            backend.release(block);
        }
    }

    CudaBackend owner() {
        return backend;
    }

    DevicePool.Block block() {
        checkOpen();
        return block;
    }

    long address() {
        checkOpen();
        return block.address();
    }

    /** An upload, fill or kernel has written (or is queued to write) this tensor; under the backend's lock. */
    void written() {
        version++;
    }

    @Override
    public long version() {
        return version;
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
        return closed;
    }

    @Override
    public void copyFrom(float[] src) {
        checkOpen();
        checkLength("src", src.length);
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
        checkLength("src", src.length);
        backend.upload(this, (seg, first, count) -> {
            for (int i = 0; i < count; i++) {
                float x = (float) src[(int) first + i];
                switch (dtype) {
                    case FP32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, x);
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
        checkLength("dst", dst.length);
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
        checkLength("dst", dst.length);
        backend.download(this, (seg, first, count) -> {
            for (int i = 0; i < count; i++) {
                dst[(int) first + i] = decode(seg, i);
            }
        });
    }

    @Override
    public void copyTo(MemorySegment dst) {
        checkOpen();
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
            cleanable.clean();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("tensor " + dtype + " " + shape + " of backend '" + backend.name() + "' is closed");
        }
    }

    private void checkLength(String argument, long length) {
        if (length != elementCount()) {
            throw new La2ArgumentException(argument, "an array of " + length + " elements",
                    elementCount() + " elements (" + dtype + " " + shape + ")");
        }
    }

    @Override
    public String toString() {
        return "CudaTensor[" + backend.name() + ", " + dtype + " " + shape + (closed ? ", closed]" : "]");
    }
}
