package dev.la2.backend.cpu;

import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Helpers on dense row-major tiles, and fp64 token rows between tensors (either layout, by stride)
 * and arrays; fp32 and 16-bit rows go through {@link TokenRows}.
 */
final class Rows {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    /** bf16 and fp16 elements. */
    static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;

    private Rows() {
    }

    /** rows x width doubles from element {@code first} (stride {@code stride}) into dst with row pitch width. */
    static void load(MemorySegment seg, long first, long stride, int rows, int width, double[] dst) {
        if (stride == width) {
            MemorySegment.copy(seg, F64, first * 8, dst, 0, rows * width);
        } else {
            for (int r = 0; r < rows; r++) {
                MemorySegment.copy(seg, F64, (first + r * stride) * 8, dst, r * width, width);
            }
        }
    }

    static void store(double[] src, MemorySegment seg, long first, long stride, int rows, int width) {
        if (stride == width) {
            MemorySegment.copy(src, 0, seg, F64, first * 8, rows * width);
        } else {
            for (int r = 0; r < rows; r++) {
                MemorySegment.copy(src, r * width, seg, F64, (first + r * stride) * 8, width);
            }
        }
    }

    /** Square tiles of the transpose: both sides of an 8 x 8 tile stay in a few cache lines. */
    private static final int TILE = 8;

    /** dst[j][i] = src[i][j] for a rows x cols matrix (src row pitch cols); dst has row pitch ldd. */
    static void transpose(float[] src, int rows, int cols, float[] dst, int ldd) {
        for (int i0 = 0; i0 < rows; i0 += TILE) {
            int i1 = Math.min(rows, i0 + TILE);
            for (int j0 = 0; j0 < cols; j0 += TILE) {
                int j1 = Math.min(cols, j0 + TILE);
                for (int j = j0; j < j1; j++) {
                    int dj = j * ldd;
                    for (int i = i0; i < i1; i++) {
                        dst[dj + i] = src[i * cols + j];
                    }
                }
            }
        }
    }

    /** dst[i][:] = w[i] * src[i][:] for rows of width cols. */
    static void scaleRows(float[] src, int rows, int cols, float[] w, int wOffset, boolean reversed, float[] dst) {
        for (int i = 0; i < rows; i++) {
            float x = reversed ? w[wOffset - i] : w[wOffset + i];
            int at = i * cols;
            for (int j = 0; j < cols; j++) {
                dst[at + j] = x * src[at + j];
            }
        }
    }

    /**
     * dDecay[h] = -(sum over the batch of the per-sequence sums {@code perSequence[b * heads + h]}),
     * SPEC.md section 2's -lambda sum_t &lt;G_t, S_{t-1}&gt; with its sign.
     */
    static void writeDecayGradient(double[] perSequence, int batch, int heads, HostTensor out) {
        for (int h = 0; h < heads; h++) {
            double sum = 0;
            for (int b = 0; b < batch; b++) {
                sum += perSequence[b * heads + h];
            }
            out.set(h, -sum);
        }
    }
}
