package dev.la2.backend.cpu;

import dev.la2.api.DType;
import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;

/**
 * One tensor's token rows moved to and from the fp32 tiles the kernels work on, whatever its
 * storage: fp32 rows are copied, bf16 and fp16 rows widened exactly on load and rounded to
 * nearest even on store (SPEC.md section 3: 16-bit storage, fp32 arithmetic, fp32 states).
 * Element indices count elements, not bytes; rows are {@code stride} elements apart.
 */
record TokenRows(MemorySegment segment, DType dtype, Kernels kx) {

    static TokenRows of(Object tensor, Kernels kx) {
        HostTensor t = (HostTensor) tensor;
        return new TokenRows(t.segment(), t.dtype(), kx);
    }

    /** rows x width elements from element {@code first} into dst with row pitch width. */
    void load(long first, long stride, int rows, int width, float[] dst) {
        if (stride == width) {
            loadRun(first, dst, 0, rows * width);
        } else {
            for (int r = 0; r < rows; r++) {
                loadRun(first + r * stride, dst, r * width, width);
            }
        }
    }

    void store(float[] src, long first, long stride, int rows, int width) {
        if (stride == width) {
            storeRun(src, 0, first, rows * width);
        } else {
            for (int r = 0; r < rows; r++) {
                storeRun(src, r * width, first + r * stride, width);
            }
        }
    }

    private void loadRun(long first, float[] dst, int at, int n) {
        switch (dtype) {
            case FP32 -> MemorySegment.copy(segment, Rows.F32, first * 4, dst, at, n);
            case BF16 -> kx.widenBf16(segment, first * 2, dst, at, n);
            case FP16 -> kx.widenFp16(segment, first * 2, dst, at, n);
            case FP64 -> throw new IllegalStateException("fp64 tensors take the fp64 path");
        }
    }

    private void storeRun(float[] src, int at, long first, int n) {
        switch (dtype) {
            case FP32 -> MemorySegment.copy(src, at, segment, Rows.F32, first * 4, n);
            case BF16 -> kx.narrowBf16(src, at, segment, first * 2, n);
            case FP16 -> kx.narrowFp16(src, at, segment, first * 2, n);
            case FP64 -> throw new IllegalStateException("fp64 tensors take the fp64 path");
        }
    }
}
