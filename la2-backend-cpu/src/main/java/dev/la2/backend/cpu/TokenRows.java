package dev.la2.backend.cpu;

import dev.la2.spi.HostTensor;

/**
 * Token rows moved to and from the fp32 tiles the kernels work on: a tensor's own
 * ({@link TensorRows}), or fp32 rows standing in for part of a 16-bit output ({@link StagedRows}).
 * Element indices are those of the tensor, not bytes; rows are {@code stride} elements apart.
 */
sealed interface TokenRows permits TensorRows, StagedRows {

    static TokenRows of(Object tensor, Kernels kx) {
        HostTensor t = (HostTensor) tensor;
        return new TensorRows(t.segment(), t.dtype(), kx);
    }

    /** rows x width elements from element {@code first} into dst with row pitch width. */
    void load(long first, long stride, int rows, int width, float[] dst);

    /** rows x width elements from src (row pitch width) to element {@code first}. */
    void store(float[] src, long first, long stride, int rows, int width);
}
