package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.DeviceMemoryException;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.util.Objects;

/**
 * A tensor in host memory, for backends that compute on the CPU: either owned (a shared arena,
 * freed by {@link #close()} or, if dropped, by a Cleaner) or a view of caller-owned memory.
 * Elements are accessed unaligned, so views of foreign buffers at any offset work.
 */
public final class HostTensor implements Tensor {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private static final java.util.concurrent.atomic.AtomicLong LIVE_BYTES = new java.util.concurrent.atomic.AtomicLong();
    private static final java.util.concurrent.atomic.AtomicLong PEAK_BYTES = new java.util.concurrent.atomic.AtomicLong();

    private final Object owner;
    private final String backend;
    private final DType dtype;
    private final Shape shape;
    private final MemorySegment segment;
    private final Cleaner.Cleanable release;
    private volatile boolean closed;

    private HostTensor(Object owner, String backend, DType dtype, Shape shape, MemorySegment segment,
                       Arena arena) {
        this.owner = owner;
        this.backend = backend;
        this.dtype = dtype;
        this.shape = shape;
        this.segment = segment;
        if (arena == null) {
            this.release = null;
        } else {
            long bytes = segment.byteSize();
            PEAK_BYTES.accumulateAndGet(LIVE_BYTES.addAndGet(bytes), Math::max);
            this.release = CLEANER.register(this, new ArenaRelease(arena, bytes));
        }
    }

    /** Runs the arena's close on {@code close()} or when the tensor is unreachable; holds no tensor. */
    private record ArenaRelease(Arena arena, long bytes) implements Runnable {
        @Override
        public void run() {
            arena.close();
            LIVE_BYTES.addAndGet(-bytes);
        }
    }

    /** Native bytes held by all owned host tensors now (views of caller memory are not counted). */
    public static long liveBytes() {
        return LIVE_BYTES.get();
    }

    /** Most native bytes held at once by owned host tensors since the last {@link #resetPeakBytes()}. */
    public static long peakBytes() {
        return PEAK_BYTES.get();
    }

    public static void resetPeakBytes() {
        PEAK_BYTES.set(LIVE_BYTES.get());
    }

    /** A new tensor with unspecified contents, owned by {@code owner}. */
    public static HostTensor allocate(Object owner, String backend, DType dtype, Shape shape) {
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        long bytes = byteSize(dtype, shape);
        Arena arena = Arena.ofShared();
        try {
            return new HostTensor(owner, backend, dtype, shape, arena.allocate(bytes, 64), arena);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            arena.close();
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
        return new HostTensor(owner, backend, dtype, shape, part, null);
    }

    public Object owner() {
        return owner;
    }

    /** The tensor's memory; valid until close. */
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
     * Closed by {@link #close()}, or a view of caller memory whose arena has been closed since: either
     * way its memory may no longer be touched.
     */
    @Override
    public boolean isClosed() {
        return closed || !segment.scope().isAlive();
    }

    /** A view of caller memory whose arena was closed while the tensor was still open. */
    public boolean isArenaClosed() {
        return !closed && !segment.scope().isAlive();
    }

    /** A view of caller memory that refuses writes ({@link MemorySegment#asReadOnly()}). */
    public boolean isReadOnly() {
        return segment.isReadOnly();
    }

    public double get(long index) {
        return switch (dtype) {
            case FP32 -> segment.getAtIndex(F32, index);
            case FP64 -> segment.getAtIndex(F64, index);
            case BF16 -> HalfFloats.fromBf16(segment.getAtIndex(I16, index));
            case FP16 -> HalfFloats.fromFp16(segment.getAtIndex(I16, index));
        };
    }

    public void set(long index, double value) {
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
                set(i, src[i]);
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
                set(i, src[i]);
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
                dst[i] = (float) get(i);
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
                dst[i] = get(i);
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
        if (!segment.scope().isAlive()) {
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
