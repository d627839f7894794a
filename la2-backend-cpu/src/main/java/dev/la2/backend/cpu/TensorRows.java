package dev.la2.backend.cpu;

import dev.la2.api.DType;
import java.lang.foreign.MemorySegment;

/**
 * One tensor's token rows, whatever its storage: fp32 rows are copied, bf16 and fp16 rows widened
 * exactly on load and rounded to nearest even on store (SPEC.md section 3: 16-bit storage, fp32
 * arithmetic, fp32 states).
 */
record TensorRows(MemorySegment segment, DType dtype, Kernels kx) implements TokenRows {

    @Override
    public void load(long first, long stride, int rows, int width, float[] dst) {
        if (stride == width) {
            loadRun(first, dst, 0, rows * width);
        } else {
            for (int r = 0; r < rows; r++) {
                loadRun(first + r * stride, dst, r * width, width);
            }
        }
    }

    @Override
    public void store(float[] src, long first, long stride, int rows, int width) {
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
