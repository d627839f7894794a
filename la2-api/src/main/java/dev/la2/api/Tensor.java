package dev.la2.api;

import java.lang.foreign.MemorySegment;

/**
 * A dense, row-major array owned by one backend instance: host memory for CPU backends, device
 * memory for GPU backends, so data stays where it is computed on between calls.
 *
 * <p>Transfers convert between the tensor's {@link #dtype()} and Java's float/double (rounding
 * once to nearest even when narrowing, doubles directly to bf16 or fp16). Segment transfers copy
 * raw elements of {@link #dtype()} in native byte order. A tensor is {@link AutoCloseable}; closing is idempotent, and a tensor that becomes
 * unreachable without being closed is released by a {@link java.lang.ref.Cleaner}.
 */
public interface Tensor extends AutoCloseable {

    Shape shape();

    DType dtype();

    /** Name of the backend that owns this tensor, for example "cpu" or "cuda:0". */
    String backend();

    boolean isClosed();

    default long elementCount() {
        return shape().elementCount();
    }

    /** @throws IllegalArgumentException if {@code src.length != elementCount()} */
    void copyFrom(float[] src);

    /** @throws IllegalArgumentException if {@code src.length != elementCount()} */
    void copyFrom(double[] src);

    /**
     * Copies {@code elementCount()} elements of {@link #dtype()} from {@code src}.
     *
     * @throws IllegalArgumentException if {@code src.byteSize()} differs from the tensor's byte size
     */
    void copyFrom(MemorySegment src);

    /** @throws IllegalArgumentException if {@code dst.length != elementCount()} */
    void copyTo(float[] dst);

    /** @throws IllegalArgumentException if {@code dst.length != elementCount()} */
    void copyTo(double[] dst);

    /** @throws IllegalArgumentException if {@code dst.byteSize()} differs from the tensor's byte size */
    void copyTo(MemorySegment dst);

    /** Sets every element to {@code value} (NaN is how tests poison outputs). */
    void fill(double value);

    default float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(elementCount())];
        copyTo(out);
        return out;
    }

    default double[] toDoubleArray() {
        double[] out = new double[Math.toIntExact(elementCount())];
        copyTo(out);
        return out;
    }

    default long byteSize() {
        return elementCount() * dtype().byteSize();
    }

    @Override
    void close();
}
