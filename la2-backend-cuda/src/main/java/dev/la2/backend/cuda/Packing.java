package dev.la2.backend.cuda;

import dev.la2.backend.cuda.ParamLayouts.PackedParams;
import dev.la2.spi.PackedShape;
import java.util.Arrays;
import java.util.Comparator;

/**
 * The sequences of a packed launch (SPEC.md section 8) for the packed kernels (packed.cuh): on the
 * device each sequence's first and one-past-last token (int64, so element offsets past 2^31 hold)
 * and the order blocks take them in, longest first, so the longest walks start first and short
 * ones fill the tail; on the host the lengths, from which SweepPlanner picks the segment length.
 */
final class Packing {
    private final int[] lengths;
    private final int maxLength;
    private final long table;

    /** A packed call of sequences of these lengths whose device table ({@link #table(long[], int[])}) is at {@code table}. */
    Packing(int[] lengths, long table) {
        this.lengths = lengths;
        this.maxLength = Arrays.stream(lengths).max().orElse(0);
        this.table = table;
    }

    /** Sequence i is tokens starts[i] .. starts[i] + lengths[i] - 1 of token-major tensors. */
    static Packing of(DeviceTables tables, long[] starts, int[] lengths) {
        return new Packing(lengths, tables.address(table(starts, lengths)));
    }

    /** The sequences of a packed call, as its offsets lay them out. */
    static Packing of(PackedShape shape, DeviceTables tables) {
        int s = shape.sequences();
        long[] starts = new long[s];
        int[] lengths = new int[s];
        for (int i = 0; i < s; i++) {
            starts[i] = shape.offsets().start(i);
            lengths[i] = shape.length(i);
        }
        return of(tables, starts, lengths);
    }

    /** The device table's values: each sequence's first and one-past-last token, then the order, longest first. */
    static long[] table(long[] starts, int[] lengths) {
        int s = lengths.length;
        Integer[] order = new Integer[s];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> lengths[i]).reversed());
        long[] values = new long[3 * s];
        for (int i = 0; i < s; i++) {
            values[2 * i] = starts[i];
            values[2 * i + 1] = starts[i] + lengths[i];
            values[2 * s + i] = order[i];
        }
        return values;
    }

    int sequences() {
        return lengths.length;
    }

    int maxLength() {
        return maxLength;
    }

    /** Chunks of {@code chunk} tokens over all sequences, each rounded up (in long: a length near 2^31 passes it). */
    long chunks(int chunk) {
        long n = 0;
        for (int len : lengths) {
            n += Math.ceilDiv((long) len, chunk);
        }
        return n;
    }

    /** The PackedParams of every packed launch of the call. */
    byte[] params() {
        return KernelArgs.of(PackedParams.class).ptr(PackedParams.RANGES, table)
                .ptr(PackedParams.ORDER, table + 2L * Long.BYTES * lengths.length).bytes();
    }
}
