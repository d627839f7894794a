package dev.la2.cli;

import dev.la2.spi.HalfFloats;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A NumPy array of float16, float32 or float64 in C order, read from and written to the .npy format
 * ({@link NpyFile}, {@link NpyHeader}). Data is held as raw little-endian elements; reading maps the
 * file rather than copying it.
 */
public final class NpyArray {

    private static final ValueLayout.OfShort F2 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F4 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F8 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I4 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I8 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The element types la2 reads and writes. */
    public enum Type {
        FLOAT16("<f2", 2),
        FLOAT32("<f4", 4),
        FLOAT64("<f8", 8),
        /** Index arrays only ({@link #readIndices}). */
        INT32("<i4", 4),
        INT64("<i8", 8);

        private final String descr;
        private final int byteSize;

        Type(String descr, int byteSize) {
            this.descr = descr;
            this.byteSize = byteSize;
        }

        /** The NumPy type string, for example "<f4". */
        public String descr() {
            return descr;
        }

        public int byteSize() {
            return byteSize;
        }
    }

    private final Type type;
    private final int[] shape;
    private final MemorySegment data;

    /** An array over {@code data}, which holds the elements little-endian; the caller gives up {@code shape}. */
    NpyArray(Type type, int[] shape, MemorySegment data) {
        this.type = type;
        this.shape = shape;
        this.data = data;
    }

    public static NpyArray of(float[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 4, 8);
        MemorySegment.copy(values, 0, data, F4, 0, values.length);
        return new NpyArray(Type.FLOAT32, shape.clone(), data);
    }

    /**
     * A float16 array of {@code values}, each rounded once to the nearest float16 (ties to even),
     * so float64 results are not rounded through float32 first.
     */
    public static NpyArray ofFloat16(double[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 2, 8);
        for (int i = 0; i < values.length; i++) {
            data.setAtIndex(F2, i, HalfFloats.toFp16(values[i]));
        }
        return new NpyArray(Type.FLOAT16, shape.clone(), data);
    }

    public static NpyArray of(int[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 4, 8);
        MemorySegment.copy(values, 0, data, I4, 0, values.length);
        return new NpyArray(Type.INT32, shape.clone(), data);
    }

    public static NpyArray of(long[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 8, 8);
        MemorySegment.copy(values, 0, data, I8, 0, values.length);
        return new NpyArray(Type.INT64, shape.clone(), data);
    }

    public static NpyArray of(double[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 8, 8);
        MemorySegment.copy(values, 0, data, F8, 0, values.length);
        return new NpyArray(Type.FLOAT64, shape.clone(), data);
    }

    public Type type() {
        return type;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long elementCount() {
        return count(shape);
    }

    /** The raw elements, little-endian, read-only. */
    public MemorySegment data() {
        return data.asReadOnly();
    }

    public float[] toFloatArray() {
        int n = Math.toIntExact(elementCount());
        float[] out = new float[n];
        switch (type) {
            case FLOAT16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(data.getAtIndex(F2, i));
                }
            }
            case FLOAT32 -> MemorySegment.copy(data, F4, 0, out, 0, n);
            case FLOAT64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) data.getAtIndex(F8, i);
                }
            }
            case INT32, INT64 -> {
                int[] values = toIntArray();
                for (int i = 0; i < n; i++) {
                    out[i] = values[i];
                }
            }
        }
        return out;
    }

    public double[] toDoubleArray() {
        int n = Math.toIntExact(elementCount());
        double[] out = new double[n];
        if (type == Type.FLOAT64) {
            MemorySegment.copy(data, F8, 0, out, 0, n);
        } else {
            float[] widened = toFloatArray();
            for (int i = 0; i < n; i++) {
                out[i] = widened[i];
            }
        }
        return out;
    }

    /** The shape as NumPy prints it: (2, 3) or (4,). */
    public String shapeString() {
        return tuple(shape);
    }

    @Override
    public String toString() {
        return type.descr() + " " + shapeString();
    }

    /**
     * Reads a .npy file.
     *
     * @throws NoSuchFileException if there is no such file
     * @throws NpyFormatException  if the file is not a C-ordered little-endian float16/32/64 array
     */
    public static NpyArray read(Path file) throws IOException {
        return NpyFile.read(file, false);
    }

    /**
     * Reads a C-ordered little-endian int32 or int64 array (sequence offsets, slots).
     *
     * @throws NpyFormatException if the file is not one
     */
    public static NpyArray readIndices(Path file) throws IOException {
        return NpyFile.read(file, true);
    }

    /**
     * The elements of an int32 or int64 array as ints.
     *
     * @throws IllegalArgumentException if the array holds floats or a value outside the int range
     */
    public int[] toIntArray() {
        int n = Math.toIntExact(elementCount());
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            long x = switch (type) {
                case INT32 -> data.getAtIndex(I4, i);
                case INT64 -> data.getAtIndex(I8, i);
                default -> throw new IllegalArgumentException("a " + type.descr() + " array holds no indices");
            };
            if (x != (int) x) {
                throw new IllegalArgumentException("value " + x + " at index " + i + " is outside the int32 range");
            }
            out[i] = (int) x;
        }
        return out;
    }

    /** Writes the array as .npy version 1.0 (2.0 if the header needs more than 64 KiB). */
    public void write(Path file) throws IOException {
        NpyFile.write(file, this);
    }

    // ------------------------------------------------------------------ helpers

    /** A shape as a Python tuple: (2, 3) or (4,). */
    static String tuple(int[] shape) {
        if (shape.length == 1) {
            return "(" + shape[0] + ",)";
        }
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return sb.append(')').toString();
    }

    static long count(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    private static void checkCount(int length, int[] shape) {
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("shape: got " + Arrays.toString(shape) + "; expected extents >= 0");
            }
        }
        if (count(shape) != length) {
            throw new IllegalArgumentException("values: got " + length + " elements; expected " + count(shape)
                    + " for shape " + tuple(shape));
        }
    }
}
