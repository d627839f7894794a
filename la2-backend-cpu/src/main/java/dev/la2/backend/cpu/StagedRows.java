package dev.la2.backend.cpu;

import java.lang.foreign.MemorySegment;

/**
 * fp32 rows standing in for one segment's rows of a 16-bit output ({@link StagedOutput}): its
 * tokens, dense in order, the first at tensor element {@code origin}. Whatever the tensor's
 * layout, a row's element index lies a whole number of token strides past the origin.
 */
record StagedRows(MemorySegment rows, long origin) implements TokenRows {

    @Override
    public void load(long first, long stride, int rows, int width, float[] dst) {
        MemorySegment.copy(this.rows, Rows.F32, at(first, stride, width), dst, 0, rows * width);
    }

    @Override
    public void store(float[] src, long first, long stride, int rows, int width) {
        MemorySegment.copy(src, 0, this.rows, Rows.F32, at(first, stride, width), rows * width);
    }

    private long at(long first, long stride, int width) {
        return (first - origin) / stride * width * Float.BYTES;
    }
}
