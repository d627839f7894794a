package dev.la2.backend.cuda;

import dev.la2.backend.cuda.DeviceContext.Grid;

/**
 * The launch geometry of the decode step (decode.cuh): one block of {@link #THREADS} threads per
 * {@link #SLICE}-column slice of each sequence-head's state, a state's slices in consecutive
 * blocks. The constants mirror DECODE_THREADS and DECODE_SLICE, which DecodeGridTest checks.
 */
final class DecodeGrid {
    static final int THREADS = 256;
    static final int SLICE = 32;

    private DecodeGrid() {
    }

    /** The grid for {@code sequenceHeads} states of {@code valueDim} columns. */
    static Grid of(long sequenceHeads, long valueDim) {
        return new Grid(sequenceHeads * ((valueDim + SLICE - 1) / SLICE), 1, 1, THREADS);
    }
}
