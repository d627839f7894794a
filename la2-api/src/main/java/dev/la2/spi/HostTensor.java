package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.DeviceMemoryException;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.util.Objects;

/**
 * A tensor in host memory, for backends that compute on the CPU: either owned (memory from
 * {@link HostMemory}, freed by {@link #close()} or, if dropped, by a Cleaner) or a view of
 * caller-owned memory. Elements are accessed unaligned, so views of foreign buffers at any offset
 * work.
 *
 * <p>An owned tensor may be used and closed from any thread. Once it is closed, every read and
 * write through it, and through its views, throws {@link IllegalStateException}, on every thread.
 * A read or write racing with the close either throws or completes on the tensor's own bytes,
 * which no other tensor ever gets ({@link HostMemory} says why).
 */
public final class HostTensor implements Tensor {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final Object owner;
    private final String backend;
    private final DType dtype;
    private final Shape shape;
    private final MemorySegment segment;
    /** The owned memory this tensor is, or is a view of; null for a view of caller memory. */
    private final HostMemory.Block memory;
    /** Frees {@link #memory}; null unless this tensor owns it. */
    private final Cleaner.Cleanable release;
    private volatile boolean closed;

    /** A tensor owning {@code memory}. */
    private HostTensor(Object owner, String backend, DType dtype, Shape shape, HostMemory.Block memory) {
        this.owner = owner;
        this.backend = backend;
        this.dtype = dtype;
        this.shape = shape;
        this.segment = memory.segment();
        this.memory = memory;
        this.release = CLEANER.register(this, memory);
    }

    /** A view of {@code segment}, part of {@code memory} (null: of caller memory); frees nothing. */
    private HostTensor(Object owner, String backend, DType dtype, Shape shape, MemorySegment segment,
                       HostMemory.Block memory) {
        this.owner = owner;
        this.backend = backend;
        this.dtype = dtype;
        this.shape = shape;
        this.segment = segment;
        this.memory = memory;
        this.release = null;
    }

    /** Bytes of all open owned host tensors now (views of caller memory are not counted). */
    public static long liveBytes() {
        return HostMemory.liveBytes();
    }

    /** Most bytes of open owned host tensors at once since the last {@link #resetPeakBytes()}. */
    public static long peakBytes() {
        return HostMemory.peakBytes();
    }

    public static void resetPeakBytes() {
        HostMemory.resetPeakBytes();
    }

    /** A new tensor with unspecified contents, owned by {@code owner}. */
    public static HostTensor allocate(Object owner, String backend, DType dtype, Shape shape) {
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        long bytes = byteSize(dtype, shape);
        try {
            return new HostTensor(owner, backend, dtype, shape, HostMemory.allocate(bytes));
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            throw new DeviceMemoryException("cannot allocate " + bytes + " bytes of host memory for a "
                    + dtype + " tensor of shape " + shape + ": " + e.getMessage(), e);
        }
    }

    /**
     * The bytes of a {@code dtype} tensor of {@code shape}, refused where they pass 2^63: a product
     * that wrapped around would let a tiny segment pass for a huge shape.
     */
    public static long byteSize(DType dtype, Shape shape) {
        try {
            return Math.multiplyExact(shape.elementCount(), dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new La2ArgumentException("shape", shape.toString(), "a tensor of fewer than 2^63 bytes");
        }
    }

    /** A view of {@code memory}, which must hold exactly the tensor's bytes; nothing is copied. */
    public static HostTensor wrap(Object owner, String backend, MemorySegment memory, DType dtype, Shape shape) {
        CallerMemory.alive("memory", memory);
        long bytes = byteSize(dtype, shape);
        if (memory.byteSize() != bytes) {
            throw new La2ArgumentException("memory", memory.byteSize() + " bytes",
                    bytes + " bytes (" + dtype + " " + shape + ")");
        }
        return new HostTensor(owner, backend, dtype, shape, memory, null);
    }

    /**
     * {@code shape.elementCount()} elements starting at element {@code elementOffset}, sharing this
     * tensor's memory and owner; nothing to close (closing it does not free the memory).
     */
    public HostTensor view(long elementOffset, Shape shape) {
        checkOpen();
        MemorySegment part = segment.asSlice(elementOffset * dtype.byteSize(), shape.elementCount() * dtype.byteSize());
        return new HostTensor(owner, backend, dtype, shape, part, memory);
    }

    public Object owner() {
        return owner;
    }

    /**
     * The tensor's memory, for a backend's call; do not use it after close. A segment kept past the
     * close reaches only this tensor's former bytes, or throws once they are freed.
     */
    public MemorySegment segment() {
        checkOpen();
        return segment;
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
        return backend;
    }

    /**
     * Closed by {@link #close()}, or a view of memory freed since (a closed tensor's, or caller
     * memory whose arena was closed): either way its memory may no longer be touched.
     */
    @Override
    public boolean isClosed() {
        return closed || memoryGone();
    }

    /** A view of memory freed (its tensor or its arena closed) while the view was still open. */
    public boolean isArenaClosed() {
        return !closed && memoryGone();
    }

    private boolean memoryGone() {
        return (memory != null && memory.isFreed()) || !segment.scope().isAlive();
    }

    /** A view of caller memory that refuses writes ({@link MemorySegment#asReadOnly()}). */
    public boolean isReadOnly() {
        return segment.isReadOnly();
    }

    public double get(long index) {
        checkOpen();
        return read(index);
    }

    public void set(long index, double value) {
        checkOpen();
        write(index, value);
    }

    /** Element {@code index}, for loops that checked the tensor open once before. */
    private double read(long index) {
        return switch (dtype) {
            case FP32 -> segment.getAtIndex(F32, index);
            case FP64 -> segment.getAtIndex(F64, index);
            case BF16 -> HalfFloats.fromBf16(segment.getAtIndex(I16, index));
            case FP16 -> HalfFloats.fromFp16(segment.getAtIndex(I16, index));
        };
    }

    private void write(long index, double value) {
        switch (dtype) {
            case FP32 -> segment.setAtIndex(F32, index, (float) value);
            case FP64 -> segment.setAtIndex(F64, index, value);
            case BF16 -> segment.setAtIndex(I16, index, HalfFloats.toBf16(value));
            case FP16 -> segment.setAtIndex(I16, index, HalfFloats.toFp16(value));
        }
    }

    @Override
    public void copyFrom(float[] src) {
        checkOpen();
        checkWritable();
        CallerMemory.array("src", src, this);
        if (dtype == DType.FP32) {
            MemorySegment.copy(src, 0, segment, F32, 0, src.length);
        } else {
            for (int i = 0; i < src.length; i++) {
                write(i, src[i]);
            }
        }
    }

    @Override
    public void copyFrom(double[] src) {
        checkOpen();
        checkWritable();
        CallerMemory.array("src", src, this);
        if (dtype == DType.FP64) {
            MemorySegment.copy(src, 0, segment, F64, 0, src.length);
        } else {
            for (int i = 0; i < src.length; i++) {
                write(i, src[i]);
            }
        }
    }

    @Override
    public void copyFrom(MemorySegment src) {
        checkOpen();
        checkWritable();
        CallerMemory.usable("src", src);
        checkBytes("src", src.byteSize());
        MemorySegment.copy(src, 0, segment, 0, segment.byteSize());
    }

    @Override
    public void copyTo(float[] dst) {
        checkOpen();
        CallerMemory.array("dst", dst, this);
        if (dtype == DType.FP32) {
            MemorySegment.copy(segment, F32, 0, dst, 0, dst.length);
        } else {
            for (int i = 0; i < dst.length; i++) {
                dst[i] = (float) read(i);
            }
        }
    }

    @Override
    public void copyTo(double[] dst) {
        checkOpen();
        CallerMemory.array("dst", dst, this);
        if (dtype == DType.FP64) {
            MemorySegment.copy(segment, F64, 0, dst, 0, dst.length);
        } else {
            for (int i = 0; i < dst.length; i++) {
                dst[i] = read(i);
            }
        }
    }

    @Override
    public void copyTo(MemorySegment dst) {
        checkOpen();
        CallerMemory.writable("dst", dst);
        checkBytes("dst", dst.byteSize());
        MemorySegment.copy(segment, 0, dst, 0, segment.byteSize());
    }

    @Override
    public void fill(double value) {
        checkOpen();
        checkWritable();
        long n = elementCount();
        switch (dtype) {
            case FP32 -> {
                float f = (float) value;
                for (long i = 0; i < n; i++) {
                    segment.setAtIndex(F32, i, f);
                }
            }
            case FP64 -> {
                for (long i = 0; i < n; i++) {
                    segment.setAtIndex(F64, i, value);
                }
            }
            case BF16, FP16 -> {
                short bits = dtype == DType.BF16 ? HalfFloats.toBf16(value) : HalfFloats.toFp16(value);
                for (long i = 0; i < n; i++) {
                    segment.setAtIndex(I16, i, bits);
                }
            }
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (release != null) {
                release.clean();
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("tensor " + dtype + " " + shape + " of backend '" + backend + "' is closed");
        }
        if (memoryGone()) {
            throw new IllegalStateException("tensor " + dtype + " " + shape + " of backend '" + backend
                    + "' views memory whose arena is closed");
        }
    }

    private void checkWritable() {
        if (isReadOnly()) {
            throw new La2ArgumentException("tensor", "a view of read-only memory (" + dtype + " " + shape + ")",
                    "a tensor over writable memory");
        }
    }

    private void checkBytes(String argument, long bytes) {
        if (bytes != byteSize()) {
            throw new La2ArgumentException(argument, "a segment of " + bytes + " bytes",
                    byteSize() + " bytes (" + dtype + " " + shape + ")");
        }
    }

    @Override
    public String toString() {
        return "HostTensor[" + backend + ", " + dtype + " " + shape + (closed ? ", closed]" : "]");
    }
}
