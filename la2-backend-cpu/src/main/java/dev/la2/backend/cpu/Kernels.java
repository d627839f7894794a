package dev.la2.backend.cpu;

import dev.la2.spi.HalfFloats;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The one matrix product every tile operation of the tiled algorithm reduces to, on row-major
 * float arrays: {@code C[m x n] = (accumulate ? beta * C : 0) + A[m x k] B[k x n]}.
 *
 * <p>{@code shape} lets triangular tiles skip work: the masked C x C tiles are triangular, so a
 * product that produces one need only cover the triangle ({@link #OUT_LOWER}, {@link #OUT_UPPER};
 * entries outside it are left unspecified and the caller's mask pass overwrites them), and a
 * product that consumes one may stop the inner dimension at the diagonal ({@link #K_LOWER},
 * {@link #K_UPPER}; the triangle's other half must hold zeros). The triangles are honoured per
 * group of rows, so each implementation may compute a superset of them.
 *
 * <p>Besides the product: the other loops hot enough to want the Vector API, with plain-Java
 * defaults (the scalar fallback): the in-place decode step and the 16-bit row conversions.
 */
interface Kernels {
    int FULL = 0;
    /** Only C[i][j] with j <= i is wanted. */
    int OUT_LOWER = 1;
    /** Only C[i][j] with j >= i is wanted. */
    int OUT_UPPER = 2;
    /** A is lower triangular (A[i][p] = 0 for p > i). */
    int K_LOWER = 3;
    /** A is upper triangular (A[i][p] = 0 for p < i). */
    int K_UPPER = 4;

    void gemm(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
              int m, int n, int k, float beta, boolean accumulate, int shape);

    /**
     * As {@link #gemm(float[], int, int, float[], int, int, float[], int, int, int, int, int, float, boolean, int)}
     * with row i of A scaled by {@code w[wo + i]} first: {@code C = beta C + diag(w) A B}. The decay's
     * row weights reach a product this way; the scaled copy of A lives in {@link ThreadScratch}.
     */
    default void gemm(float[] w, int wo, float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co,
                      int ldc, int m, int n, int k, float beta, boolean accumulate, int shape) {
        float[] scaled = ThreadScratch.floats(m * k);
        for (int i = 0; i < m; i++) {
            float x = w[wo + i];
            int src = ao + i * lda, dst = i * k;
            for (int p = 0; p < k; p++) {
                scaled[dst + p] = x * a[src + p];
            }
        }
        gemm(scaled, 0, k, b, bo, ldb, c, co, ldc, m, n, k, beta, accumulate, shape);
    }

    /**
     * Growing scratch arrays of this thread, never shared between threads: the scaled copies of
     * {@link #gemm(float[], int, float[], int, int, float[], int, int, float[], int, int, int, int, int, float, boolean, int)}
     * and the 16-bit staging of the fp16 conversions.
     */
    final class ThreadScratch {
        private static final ThreadLocal<ThreadScratch> MINE = ThreadLocal.withInitial(ThreadScratch::new);
        private float[] floats = new float[0];
        private short[] shorts = new short[0];

        private ThreadScratch() {
        }

        static float[] floats(int size) {
            ThreadScratch t = MINE.get();
            if (t.floats.length < size) {
                t.floats = new float[size];
            }
            return t.floats;
        }

        static short[] shorts(int size) {
            ThreadScratch t = MINE.get();
            if (t.shorts.length < size) {
                t.shorts = new short[size];
            }
            return t.shorts;
        }
    }

    /**
     * One decode step of one sequence, in place on its fp32 D x E state at byte {@code offset} of
     * {@code state}: row by row, S[x] = lambda S[x] + k[x] v, then o += q[x] S[x] with the new row,
     * and finally o = scale o (o is overwritten, length E). The state is read and written once:
     * a decode step is bound by that traffic, so nothing else may touch it.
     */
    default void decodeStep(MemorySegment state, long offset, int d, int e, float lambda, float[] q, float[] k,
                            float[] v, float scale, float[] o) {
        Arrays.fill(o, 0, e, 0f);
        for (int x = 0; x < d; x++) {
            long row = offset + 4L * x * e;
            float kx = k[x], qx = q[x];
            for (int j = 0; j < e; j++) {
                float s = Math.fma(kx, v[j], lambda * state.get(Rows.F32, row + 4L * j));
                state.set(Rows.F32, row + 4L * j, s);
                o[j] = Math.fma(qx, s, o[j]);
            }
        }
        for (int j = 0; j < e; j++) {
            o[j] *= scale;
        }
    }

    /** dst[at..at+n) = the n bf16 values from byte {@code offset} of {@code seg}, widened exactly. */
    default void widenBf16(MemorySegment seg, long offset, float[] dst, int at, int n) {
        for (int i = 0; i < n; i++) {
            dst[at + i] = HalfFloats.fromBf16(seg.get(Rows.HALF, offset + 2L * i));
        }
    }

    /** src[at..at+n) rounded to nearest even bf16 (a NaN stays a NaN) at byte {@code offset} of {@code seg}. */
    default void narrowBf16(float[] src, int at, MemorySegment seg, long offset, int n) {
        for (int i = 0; i < n; i++) {
            seg.set(Rows.HALF, offset + 2L * i, HalfFloats.toBf16(src[at + i]));
        }
    }

    /**
     * As {@link #widenBf16} for fp16. Through a short[] of {@link ThreadScratch} because the JIT
     * vectorizes {@code Float.float16ToFloat} over arrays, several times faster than an
     * element-by-element loop over the segment; the Vector API has no fp16 conversion.
     */
    default void widenFp16(MemorySegment seg, long offset, float[] dst, int at, int n) {
        short[] buf = ThreadScratch.shorts(n);
        MemorySegment.copy(seg, Rows.HALF, offset, buf, 0, n);
        for (int i = 0; i < n; i++) {
            dst[at + i] = Float.float16ToFloat(buf[i]);
        }
    }

    /** As {@link #narrowBf16} for fp16 ({@code Float.floatToFloat16}: nearest even, NaN kept). */
    default void narrowFp16(float[] src, int at, MemorySegment seg, long offset, int n) {
        short[] buf = ThreadScratch.shorts(n);
        for (int i = 0; i < n; i++) {
            buf[i] = Float.floatToFloat16(src[at + i]);
        }
        MemorySegment.copy(buf, 0, seg, Rows.HALF, offset, n);
    }

    /**
     * Keeps a[i][j] (row pitch lda) for j <= i times coef[i - j], zeros j > i, for an n x n tile,
     * given the coefficients reversed: coefRev[m] = coef[c - 1 - m] (n <= c).
     */
    default void maskLower(float[] a, int lda, int n, float[] coefRev, int c) {
        for (int i = 0; i < n; i++) {
            int at = i * lda, from = c - 1 - i;
            for (int j = 0; j <= i; j++) {
                a[at + j] *= coefRev[from + j];
            }
            for (int j = i + 1; j < n; j++) {
                a[at + j] = 0f;
            }
        }
    }

    /** Keeps a[i][j] for j >= i times coef[j - i], zeros j < i. */
    default void maskUpper(float[] a, int lda, int n, float[] coef) {
        for (int i = 0; i < n; i++) {
            int at = i * lda;
            for (int j = 0; j < i; j++) {
                a[at + j] = 0f;
            }
            for (int j = i; j < n; j++) {
                a[at + j] *= coef[j - i];
            }
        }
    }

    /** a[i][j] *= w[wo + j] for a rows x cols matrix with row pitch lda: the decay's per-token weights on a transposed tile. */
    default void scaleColumns(float[] a, int rows, int cols, int lda, float[] w, int wo) {
        for (int i = 0; i < rows; i++) {
            int at = i * lda;
            for (int j = 0; j < cols; j++) {
                a[at + j] *= w[wo + j];
            }
        }
    }

    /**
     * x . y over n elements, products and sum in double: the decay gradient sums these over every
     * token, and they partly cancel.
     */
    default double dot(float[] x, int xo, float[] y, int yo, int n) {
        double s0 = 0, s1 = 0;
        int i = 0;
        for (; i + 2 <= n; i += 2) {
            s0 += (double) x[xo + i] * y[yo + i];
            s1 += (double) x[xo + i + 1] * y[yo + i + 1];
        }
        if (i < n) {
            s0 += (double) x[xo + i] * y[yo + i];
        }
        return s0 + s1;
    }

    /**
     * acc = decay * acc + add, then rounded = acc as float, over n elements: a D x E state carried
     * in double whose per-block increments are fp32 products. The decay gradient pairs states with
     * gradients across the whole sequence, and a state summed in fp32 over N / C blocks costs it
     * digits that its tolerance needs (at N=4096, D=E=256, as much as the tolerance itself).
     */
    default void accumulateWide(double[] acc, double decay, float[] add, float[] rounded, int n) {
        accumulateWide(acc, decay, add, rounded, 0, n);
    }

    /** {@link #accumulateWide(double[], double, float[], float[], int)} over elements [from, to), in scalar code. */
    static void accumulateWide(double[] acc, double decay, float[] add, float[] rounded, int from, int to) {
        for (int i = from; i < to; i++) {
            double x = decay * acc[i] + add[i];
            acc[i] = x;
            rounded[i] = (float) x;
        }
    }

    /** dst[j][i] = src[i][j] for a rows x cols matrix (src row pitch cols); dst has row pitch ldd. */
    void transpose(float[] src, int rows, int cols, float[] dst, int ldd);

    /** For diagnostics, for example "Vector API, 512-bit FloatVector". */
    String describe();

    /** Columns [lo, hi) of C a group of rows starting at i0 with mr rows needs for {@code shape}. */
    static int colLo(int shape, int i0) {
        return shape == OUT_UPPER ? i0 : 0;
    }

    static int colHi(int shape, int i0, int mr, int n) {
        return shape == OUT_LOWER ? Math.min(n, i0 + mr) : n;
    }

    static int innerLo(int shape, int i0) {
        return shape == K_UPPER ? i0 : 0;
    }

    static int innerHi(int shape, int i0, int mr, int k) {
        return shape == K_LOWER ? Math.min(k, i0 + mr) : k;
    }
}
