package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.Species.DOUBLES;
import static dev.la2.backend.cpu.Species.F;
import static dev.la2.backend.cpu.Species.H;
import static dev.la2.backend.cpu.Species.L;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * {@link Kernels} on the Vector API, in the shapes of {@link Species}. The products are
 * {@link VectorGemm}'s, the transposes {@link RegisterTranspose}'s, the decode step
 * {@link VectorDecode}'s and the bf16 conversions {@link Bf16Vectors}'; the element-wise loops
 * (row weights, decay masks, sums in double) are here. Created by reflection, by
 * {@link VectorSupport} once the module is known to be readable.
 */
final class VectorKernels implements Kernels {

    /** The width of {@link Species#F}, read by {@link VectorSupport}. */
    static int vectorBits() {
        return F.vectorBitSize();
    }

    @Override
    public String describe() {
        return "Vector API, " + Species.describe();
    }

    @Override
    public void gemm(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                     int m, int n, int k, float beta, boolean accumulate, int shape) {
        VectorGemm.gemm(a, ao, lda, b, bo, ldb, c, co, ldc, m, n, k, beta, accumulate, shape);
    }

    @Override
    public void transpose(float[] src, int rows, int cols, float[] dst, int ldd) {
        RegisterTranspose.transpose(src, rows, cols, dst, ldd);
    }

    @Override
    public void decodeStep(MemorySegment state, long offset, int d, int e, float lambda, float[] q, float[] k,
                           float[] v, float scale, float[] o) {
        VectorDecode.decodeStep(state, offset, d, e, lambda, q, k, v, scale, o);
    }

    @Override
    public void widenBf16(MemorySegment seg, long offset, float[] dst, int at, int n) {
        if (H == null) {
            Kernels.super.widenBf16(seg, offset, dst, at, n);
            return;
        }
        int i = Bf16Vectors.widen(seg, offset, dst, at, n);
        Kernels.super.widenBf16(seg, offset + 2L * i, dst, at + i, n - i);
    }

    @Override
    public void narrowBf16(float[] src, int at, MemorySegment seg, long offset, int n) {
        if (H == null) {
            Kernels.super.narrowBf16(src, at, seg, offset, n);
            return;
        }
        int i = Bf16Vectors.narrow(src, at, seg, offset, n);
        Kernels.super.narrowBf16(src, at + i, seg, offset + 2L * i, n - i);
    }

    /** The row-scaled copy in vector loops: C2 leaves the interface's scalar loop unvectorized. */
    @Override
    public void gemm(float[] w, int wo, float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co,
                     int ldc, int m, int n, int k, float beta, boolean accumulate, int shape) {
        float[] scaled = ThreadScratch.floats(m * k);
        int full = F.loopBound(k);
        for (int i = 0; i < m; i++) {
            float x = w[wo + i];
            FloatVector xv = FloatVector.broadcast(F, x);
            int src = ao + i * lda, dst = i * k, p = 0;
            for (; p < full; p += L) {
                FloatVector.fromArray(F, a, src + p).mul(xv).intoArray(scaled, dst + p);
            }
            for (; p < k; p++) {
                scaled[dst + p] = x * a[src + p];
            }
        }
        gemm(scaled, 0, k, b, bo, ldb, c, co, ldc, m, n, k, beta, accumulate, shape);
    }

    /**
     * Both halves of each float vector widened to doubles, so products and sums stay exact to
     * double's precision as in the scalar default (the decay gradient's per-block dots, and D x E
     * ones for the state term: in scalar code a sizeable part of a learnable-decay backward).
     */
    @Override
    public double dot(float[] x, int xo, float[] y, int yo, int n) {
        if (DOUBLES == null) {
            return Kernels.super.dot(x, xo, y, yo, n);
        }
        DoubleVector s0 = DoubleVector.zero(DOUBLES), s1 = s0;
        int i = 0;
        for (int full = F.loopBound(n); i < full; i += L) {
            FloatVector a = FloatVector.fromArray(F, x, xo + i), b = FloatVector.fromArray(F, y, yo + i);
            s0 = ((DoubleVector) a.convertShape(VectorOperators.F2D, DOUBLES, 0))
                    .fma((DoubleVector) b.convertShape(VectorOperators.F2D, DOUBLES, 0), s0);
            s1 = ((DoubleVector) a.convertShape(VectorOperators.F2D, DOUBLES, 1))
                    .fma((DoubleVector) b.convertShape(VectorOperators.F2D, DOUBLES, 1), s1);
        }
        return s0.add(s1).reduceLanes(VectorOperators.ADD) + Kernels.super.dot(x, xo + i, y, yo + i, n - i);
    }

    @Override
    public void accumulateWide(double[] acc, double decay, float[] add, float[] rounded, int n) {
        if (DOUBLES == null) {
            Kernels.super.accumulateWide(acc, decay, add, rounded, n);
            return;
        }
        int half = DOUBLES.length(), i = 0;
        DoubleVector dv = DoubleVector.broadcast(DOUBLES, decay);
        for (int full = F.loopBound(n); i < full; i += L) {
            FloatVector a = FloatVector.fromArray(F, add, i);
            DoubleVector lo = DoubleVector.fromArray(DOUBLES, acc, i)
                    .fma(dv, (DoubleVector) a.convertShape(VectorOperators.F2D, DOUBLES, 0));
            DoubleVector hi = DoubleVector.fromArray(DOUBLES, acc, i + half)
                    .fma(dv, (DoubleVector) a.convertShape(VectorOperators.F2D, DOUBLES, 1));
            lo.intoArray(acc, i);
            hi.intoArray(acc, i + half);
            // A contraction's part 0 fills the low lanes and part -1 the high ones, zeros elsewhere.
            ((FloatVector) lo.convertShape(VectorOperators.D2F, F, 0))
                    .add((FloatVector) hi.convertShape(VectorOperators.D2F, F, -1)).intoArray(rounded, i);
        }
        Kernels.accumulateWide(acc, decay, add, rounded, i, n);
    }

    /**
     * The decay masks and the per-token weights in vector loops: C2 leaves the plain loops, which
     * read a second float array at a shifting offset, scalar.
     */
    @Override
    public void maskLower(float[] a, int lda, int n, float[] coefRev, int c) {
        for (int i = 0; i < n; i++) {
            int at = i * lda, from = c - 1 - i;
            multiply(a, at, coefRev, from, i + 1);
            Arrays.fill(a, at + i + 1, at + n, 0f);
        }
    }

    @Override
    public void maskUpper(float[] a, int lda, int n, float[] coef) {
        for (int i = 0; i < n; i++) {
            int at = i * lda;
            Arrays.fill(a, at, at + i, 0f);
            multiply(a, at + i, coef, 0, n - i);
        }
    }

    @Override
    public void scaleColumns(float[] a, int rows, int cols, int lda, float[] w, int wo) {
        for (int i = 0; i < rows; i++) {
            multiply(a, i * lda, w, wo, cols);
        }
    }

    /** a[at + j] *= w[wo + j] for j < n. */
    private static void multiply(float[] a, int at, float[] w, int wo, int n) {
        int j = 0;
        for (int full = F.loopBound(n); j < full; j += L) {
            FloatVector.fromArray(F, a, at + j).mul(FloatVector.fromArray(F, w, wo + j)).intoArray(a, at + j);
        }
        if (j < n) {
            VectorMask<Float> m = F.indexInRange(j, n);
            FloatVector.fromArray(F, a, at + j, m).mul(FloatVector.fromArray(F, w, wo + j, m)).intoArray(a, at + j, m);
        }
    }
}
