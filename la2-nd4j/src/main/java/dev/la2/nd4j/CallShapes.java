package dev.la2.nd4j;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The extents an {@link Nd4jAttention} call's arrays imply, and the checks that refuse a mismatch by argument name. */
final class CallShapes {
    private CallShapes() {
    }

    /** The extents a call's arguments imply. */
    record Dims(int batch, int heads, int tokens, int keyDim, int valueDim, DType dtype) {
        Shape state() {
            return Shape.of(batch, heads, keyDim, valueDim);
        }
    }

    static Dims dims(SequenceFormat format, int heads, INDArray q, INDArray k, INDArray v) {
        if (format == null) {
            throw new La2ArgumentException("format", "null", "one of " + Arrays.toString(SequenceFormat.values()));
        }
        DType dtype = sequenceType(q, k, v);
        checkRank(q, "q", format);
        checkRank(k, "k", format);
        checkRank(v, "v", format);
        checkNotEmpty(q, "q");
        checkNotEmpty(k, "k");
        checkNotEmpty(v, "v");
        if (!Arrays.equals(q.shape(), k.shape())) {
            throw new La2ArgumentException("k", "shape " + Arrays.toString(k.shape()), Arrays.toString(q.shape()) + " as q");
        }
        long[] s = q.shape();
        long[] vs = v.shape();
        return switch (format) {
            case BHND -> new Dims(toInt(s[0]), toInt(s[1]), toInt(s[2]), toInt(s[3]), toInt(vs[3]), dtype);
            case BNHD -> new Dims(toInt(s[0]), toInt(s[2]), toInt(s[1]), toInt(s[3]), toInt(vs[3]), dtype);
            case NCW, NWC -> {
                if (heads < 1) {
                    throw new La2ArgumentException("heads", String.valueOf(heads), ">= 1");
                }
                int featureAxis = format == SequenceFormat.NCW ? 1 : 2;
                int timeAxis = 3 - featureAxis;
                long qf = s[featureAxis];
                long vf = vs[featureAxis];
                if (qf % heads != 0) {
                    throw new La2ArgumentException("q", "feature size " + qf, "a multiple of heads=" + heads + " (H*D)");
                }
                if (vf % heads != 0) {
                    throw new La2ArgumentException("v", "feature size " + vf, "a multiple of heads=" + heads + " (H*E)");
                }
                yield new Dims(toInt(s[0]), heads, toInt(s[timeAxis]), toInt(qf / heads), toInt(vf / heads), dtype);
            }
        };
    }

    /** The la2 type of q, k and v, which must all be given and of one type. */
    private static DType sequenceType(INDArray q, INDArray k, INDArray v) {
        required(q, "q");
        required(k, "k");
        required(v, "v");
        DType dtype = Nd4jTensors.dtype(q.dataType(), "q");
        sameType(k, "k", q.dataType(), "as q");
        sameType(v, "v", q.dataType(), "as q");
        return dtype;
    }

    /** Packed extents: S sequences (the batch of the states), T tokens. */
    static Dims packedDims(INDArray q, INDArray k, INDArray v, SequenceOffsets offsets) {
        required(offsets, "offsets");
        DType dtype = sequenceType(q, k, v);
        for (INDArray a : new INDArray[] {q, k, v}) {
            if (a.rank() != 3 || a.size(0) != offsets.tokens() || a.size(1) != q.size(1)) {
                throw new La2ArgumentException(a == q ? "q" : a == k ? "k" : "v", "shape " + Arrays.toString(a.shape()),
                        "[" + offsets.tokens() + " (the last offset), H, F] with H as q");
            }
        }
        if (!Arrays.equals(q.shape(), k.shape())) {
            throw new La2ArgumentException("k", "shape " + Arrays.toString(k.shape()), Arrays.toString(q.shape()) + " as q");
        }
        return new Dims(toInt(offsets.sequences()), toInt(q.size(1)), offsets.tokens(), toInt(q.size(2)),
                toInt(v.size(2)), dtype);
    }

    static long[] sequenceShape(SequenceFormat format, Dims d, int features) {
        return switch (format) {
            case BHND -> new long[] {d.batch(), d.heads(), d.tokens(), features};
            case BNHD -> new long[] {d.batch(), d.tokens(), d.heads(), features};
            case NCW -> new long[] {d.batch(), (long) d.heads() * features, d.tokens()};
            case NWC -> new long[] {d.batch(), d.tokens(), (long) d.heads() * features};
        };
    }

    static void checkRank(INDArray a, String name, SequenceFormat format) {
        if (a.rank() != format.rank()) {
            throw new La2ArgumentException(name, "shape " + Arrays.toString(a.shape()) + " (rank " + a.rank() + ")",
                    "rank " + format.rank() + " for format " + format);
        }
    }

    /** An empty axis would otherwise be blamed on another argument (k "differs from q") or on no argument at all. */
    static void checkNotEmpty(INDArray a, String name) {
        if (a.isEmpty() || a.length() == 0) {
            throw new La2ArgumentException(name, "shape " + Arrays.toString(a.shape()) + " (empty)",
                    "an extent of at least 1 on every axis");
        }
    }

    static void requiredOptions(AttentionOptions options) {
        if (options == null) {
            throw new La2ArgumentException("options", "null", "AttentionOptions (AttentionOptions.defaults())");
        }
    }

    /** Refuses {@code a} unless its data type is {@code type}; {@code why} ends the message ("as q"). */
    static void sameType(INDArray a, String name, DataType type, String why) {
        if (a.dataType() != type) {
            throw new La2ArgumentException(name, "data type " + a.dataType(), type + " " + why);
        }
    }

    /** Refuses {@code a} unless its data type is the state type of the call's inputs (FLOAT for 16-bit q). */
    static void sameStateType(INDArray a, String name, Dims d) {
        sameType(a, name, Nd4jTensors.dataType(d.dtype().stateType()),
                "(states and dDecay of " + Nd4jTensors.dataType(d.dtype()) + " inputs)");
    }

    static int toInt(long extent) {
        if (extent < 1 || extent > Integer.MAX_VALUE) {
            throw new La2ArgumentException("shape", "extent " + extent, "between 1 and 2^31-1");
        }
        return (int) extent;
    }

    static <T> T required(T value, String name) {
        if (value == null) {
            throw new La2ArgumentException(name, "null", "an array");
        }
        return value;
    }

    static void checkShape(INDArray a, long[] expected, String name) {
        required(a, name);
        if (!Arrays.equals(a.shape(), expected)) {
            throw new La2ArgumentException(name, "shape " + Arrays.toString(a.shape()), Arrays.toString(expected));
        }
    }
}
