package dev.la2.nd4j;

import dev.la2.api.La2ArgumentException;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The refusal of outputs that share memory with an input or with each other (SPEC.md section 5),
 * checked on the INDArrays themselves. The backend checks the tensors it is handed, but an array the
 * adapter copies (a strided view, NCW, zero-copy off, a device backend) reaches it as a tensor of its
 * own: without this check such an output would be accepted, and two aliasing outputs copied back one
 * over the other.
 *
 * <p>Memory is compared by address, so views of one buffer, and arrays side by side in one workspace,
 * are told apart exactly: strided views whose elements interleave without sharing any do not overlap.
 */
final class Overlaps {
    private final Map<String, INDArray> seen = new LinkedHashMap<>();

    /** Adds an input (null: absent). */
    Overlaps input(String name, INDArray a) {
        if (a != null) {
            seen.putIfAbsent(name, a);
        }
        return this;
    }

    /**
     * Refuses {@code a} (null: absent) if it shares memory with an input or an earlier output, then adds it.
     *
     * @throws La2ArgumentException naming the output and the argument it shares memory with
     */
    Overlaps output(String name, INDArray a) {
        if (a == null) {
            return this;
        }
        for (Map.Entry<String, INDArray> other : seen.entrySet()) {
            INDArray b = other.getValue();
            String shared = a == b ? "the same array as " : overlap(a, b) ? "memory overlapping " : null;
            if (shared != null) {
                throw new La2ArgumentException(name, shared + other.getKey(),
                        "an array of its own (outputs may not alias)");
            }
        }
        seen.put(name, a);
        return this;
    }

    /** Whether two arrays have an element's byte in common. */
    static boolean overlap(INDArray a, INDArray b) {
        if (a.isEmpty() || b.isEmpty()) {
            return false;
        }
        long aStart = address(a);
        long bStart = address(b);
        long aEnd = aStart + span(a) * a.dataType().width();
        long bEnd = bStart + span(b) * b.dataType().width();
        long lo = Math.max(aStart, bStart);
        long hi = Math.min(aEnd, bEnd);
        if (lo >= hi) {
            return false;
        }
        if (span(a) == a.length() && span(b) == b.length()) {
            return true;
        }
        // At least one is strided: compare the elements themselves within the common range, in units
        // of one element where both arrays' elements line up, else of one byte.
        int width = a.dataType().width();
        int unit = width == b.dataType().width() && Math.floorMod(aStart - bStart, width) == 0 ? width : 1;
        BitSet used = new BitSet();
        forEachElement(a, aStart, lo, hi, unit, used, true);
        return forEachElement(b, bStart, lo, hi, unit, used, false);
    }

    /** Elements from the first to one past the last one the array addresses (its strides are never negative). */
    private static long span(INDArray a) {
        long last = 0;
        for (int i = 0; i < a.rank(); i++) {
            last += (a.size(i) - 1) * a.stride(i);
        }
        return last + 1;
    }

    private static long address(INDArray a) {
        return a.data().addressPointer().address();
    }

    /**
     * Marks ({@code mark}) or looks up each unit of the array's elements inside [lo, hi) in {@code used};
     * returns whether a looked-up unit was marked.
     */
    private static boolean forEachElement(INDArray a, long start, long lo, long hi, int unit, BitSet used,
                                          boolean mark) {
        int rank = a.rank();
        long[] shape = a.shape();
        long[] stride = a.stride();
        int width = a.dataType().width();
        long[] index = new long[rank];
        for (long n = 0; n < a.length(); n++) {
            long offset = 0;
            for (int i = 0; i < rank; i++) {
                offset += index[i] * stride[i];
            }
            long from = Math.max(start + offset * width, lo);
            long to = Math.min(start + (offset + 1) * width, hi);
            for (long byteAt = from; byteAt < to; byteAt += unit) {
                int bit = Math.toIntExact((byteAt - lo) / unit);
                if (mark) {
                    used.set(bit);
                } else if (used.get(bit)) {
                    return true;
                }
            }
            for (int i = rank - 1; i >= 0 && ++index[i] == shape[i]; i--) {
                index[i] = 0;
            }
        }
        return false;
    }
}
