package dev.la2.nd4j;

import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import java.lang.foreign.MemorySegment;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Type mapping and raw host-memory views of INDArrays. */
public final class Nd4jTensors {
    private Nd4jTensors() {
    }

    /** The la2 storage type of an ND4J data type. */
    public static DType dtype(DataType type, String argument) {
        return switch (type) {
            case FLOAT -> DType.FP32;
            case DOUBLE -> DType.FP64;
            case BFLOAT16 -> DType.BF16;
            case HALF -> DType.FP16;
            default -> throw new La2ArgumentException(argument, "data type " + type,
                    "FLOAT, DOUBLE, BFLOAT16 or HALF");
        };
    }

    /** The ND4J data type of an la2 storage type. */
    public static DataType dataType(DType type) {
        return switch (type) {
            case FP32 -> DataType.FLOAT;
            case FP64 -> DataType.DOUBLE;
            case BF16 -> DataType.BFLOAT16;
            case FP16 -> DataType.HALF;
        };
    }

    /**
     * Whether the array's elements are one dense, row-major block starting at its first element,
     * which is what a zero-copy view needs. Extents of 1 carry no stride information and are skipped.
     */
    public static boolean isDenseRowMajor(INDArray a) {
        if (a.isEmpty()) {
            return false;
        }
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /**
     * The host memory of a dense row-major array, without copying. Uses the buffer's address
     * pointer, which includes a view's offset (the buffer's plain address does not). The segment
     * does not keep {@code a} alive: hold {@code a} (or {@code Reference.reachabilityFence} it)
     * until the segment's last use, or ND4J may free the memory once {@code a} is collected.
     *
     * <p>On ND4J's CUDA backend this is the host mirror: bring it up to date first with
     * {@code Nd4j.getAffinityManager().ensureLocation(a, Location.HOST)} and, after writing it,
     * call {@code tagLocation(a, Location.HOST)} so ND4J uploads it ({@link Nd4jAttention} does both).
     */
    public static MemorySegment segment(INDArray a) {
        if (!isDenseRowMajor(a)) {
            throw new IllegalArgumentException("array: got shape " + java.util.Arrays.toString(a.shape())
                    + " with strides " + java.util.Arrays.toString(a.stride()) + "; expected dense row-major");
        }
        long bytes = a.length() * a.dataType().width();
        return MemorySegment.ofAddress(a.data().addressPointer().address()).reinterpret(bytes);
    }
}
