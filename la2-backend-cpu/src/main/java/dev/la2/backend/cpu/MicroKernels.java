package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.Species.F;
import static dev.la2.backend.cpu.Species.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The register tiles for any vector width: four rows or one by up to four vectors, and masked
 * one-vector variants for column tails. Each keeps its tile of C in registers for the whole inner
 * loop, broadcasting one A element per row and loading one B vector per column group (the i-k-j
 * order, so no horizontal reductions); {@code acc} false starts from zero instead of beta C.
 */
final class MicroKernels {
    private MicroKernels() {
    }


    static void k4x4(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
            int plo, int phi, float beta, boolean acc) {
        int r1 = cr + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
        FloatVector c00 = init(c, cr, beta, acc), c01 = init(c, cr + L, beta, acc), c02 = init(c, cr + 2 * L, beta, acc), c03 = init(c, cr + 3 * L, beta, acc);
        FloatVector c10 = init(c, r1, beta, acc), c11 = init(c, r1 + L, beta, acc), c12 = init(c, r1 + 2 * L, beta, acc), c13 = init(c, r1 + 3 * L, beta, acc);
        FloatVector c20 = init(c, r2, beta, acc), c21 = init(c, r2 + L, beta, acc), c22 = init(c, r2 + 2 * L, beta, acc), c23 = init(c, r2 + 3 * L, beta, acc);
        FloatVector c30 = init(c, r3, beta, acc), c31 = init(c, r3 + L, beta, acc), c32 = init(c, r3 + 2 * L, beta, acc), c33 = init(c, r3 + 3 * L, beta, acc);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + L);
            FloatVector b2 = FloatVector.fromArray(F, b, bp + 2 * L);
            FloatVector b3 = FloatVector.fromArray(F, b, bp + 3 * L);
            int ap = ar + p;
            FloatVector x0 = FloatVector.broadcast(F, a[ap]);
            c00 = x0.fma(b0, c00);
            c01 = x0.fma(b1, c01);
            c02 = x0.fma(b2, c02);
            c03 = x0.fma(b3, c03);
            FloatVector x1 = FloatVector.broadcast(F, a[ap + lda]);
            c10 = x1.fma(b0, c10);
            c11 = x1.fma(b1, c11);
            c12 = x1.fma(b2, c12);
            c13 = x1.fma(b3, c13);
            FloatVector x2 = FloatVector.broadcast(F, a[ap + 2 * lda]);
            c20 = x2.fma(b0, c20);
            c21 = x2.fma(b1, c21);
            c22 = x2.fma(b2, c22);
            c23 = x2.fma(b3, c23);
            FloatVector x3 = FloatVector.broadcast(F, a[ap + 3 * lda]);
            c30 = x3.fma(b0, c30);
            c31 = x3.fma(b1, c31);
            c32 = x3.fma(b2, c32);
            c33 = x3.fma(b3, c33);
        }
        c00.intoArray(c, cr);
        c01.intoArray(c, cr + L);
        c02.intoArray(c, cr + 2 * L);
        c03.intoArray(c, cr + 3 * L);
        c10.intoArray(c, r1);
        c11.intoArray(c, r1 + L);
        c12.intoArray(c, r1 + 2 * L);
        c13.intoArray(c, r1 + 3 * L);
        c20.intoArray(c, r2);
        c21.intoArray(c, r2 + L);
        c22.intoArray(c, r2 + 2 * L);
        c23.intoArray(c, r2 + 3 * L);
        c30.intoArray(c, r3);
        c31.intoArray(c, r3 + L);
        c32.intoArray(c, r3 + 2 * L);
        c33.intoArray(c, r3 + 3 * L);
    }

    static void k4x2(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
            int plo, int phi, float beta, boolean acc) {
        int r1 = cr + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
        FloatVector c00 = init(c, cr, beta, acc), c01 = init(c, cr + L, beta, acc);
        FloatVector c10 = init(c, r1, beta, acc), c11 = init(c, r1 + L, beta, acc);
        FloatVector c20 = init(c, r2, beta, acc), c21 = init(c, r2 + L, beta, acc);
        FloatVector c30 = init(c, r3, beta, acc), c31 = init(c, r3 + L, beta, acc);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + L);
            int ap = ar + p;
            FloatVector x0 = FloatVector.broadcast(F, a[ap]);
            c00 = x0.fma(b0, c00);
            c01 = x0.fma(b1, c01);
            FloatVector x1 = FloatVector.broadcast(F, a[ap + lda]);
            c10 = x1.fma(b0, c10);
            c11 = x1.fma(b1, c11);
            FloatVector x2 = FloatVector.broadcast(F, a[ap + 2 * lda]);
            c20 = x2.fma(b0, c20);
            c21 = x2.fma(b1, c21);
            FloatVector x3 = FloatVector.broadcast(F, a[ap + 3 * lda]);
            c30 = x3.fma(b0, c30);
            c31 = x3.fma(b1, c31);
        }
        c00.intoArray(c, cr);
        c01.intoArray(c, cr + L);
        c10.intoArray(c, r1);
        c11.intoArray(c, r1 + L);
        c20.intoArray(c, r2);
        c21.intoArray(c, r2 + L);
        c30.intoArray(c, r3);
        c31.intoArray(c, r3 + L);
    }

    static void k4x1(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
            int plo, int phi, float beta, boolean acc) {
        int r1 = cr + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
        FloatVector c00 = init(c, cr, beta, acc);
        FloatVector c10 = init(c, r1, beta, acc);
        FloatVector c20 = init(c, r2, beta, acc);
        FloatVector c30 = init(c, r3, beta, acc);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            int ap = ar + p;
            FloatVector x0 = FloatVector.broadcast(F, a[ap]);
            c00 = x0.fma(b0, c00);
            FloatVector x1 = FloatVector.broadcast(F, a[ap + lda]);
            c10 = x1.fma(b0, c10);
            FloatVector x2 = FloatVector.broadcast(F, a[ap + 2 * lda]);
            c20 = x2.fma(b0, c20);
            FloatVector x3 = FloatVector.broadcast(F, a[ap + 3 * lda]);
            c30 = x3.fma(b0, c30);
        }
        c00.intoArray(c, cr);
        c10.intoArray(c, r1);
        c20.intoArray(c, r2);
        c30.intoArray(c, r3);
    }

    static void k4x1m(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
            int plo, int phi, float beta, boolean acc, VectorMask<Float> m) {
        int r1 = cr + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
        FloatVector c00 = init(c, cr, beta, acc, m);
        FloatVector c10 = init(c, r1, beta, acc, m);
        FloatVector c20 = init(c, r2, beta, acc, m);
        FloatVector c30 = init(c, r3, beta, acc, m);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector b0 = FloatVector.fromArray(F, b, bp, m);
            int ap = ar + p;
            FloatVector x0 = FloatVector.broadcast(F, a[ap]);
            c00 = x0.fma(b0, c00);
            FloatVector x1 = FloatVector.broadcast(F, a[ap + lda]);
            c10 = x1.fma(b0, c10);
            FloatVector x2 = FloatVector.broadcast(F, a[ap + 2 * lda]);
            c20 = x2.fma(b0, c20);
            FloatVector x3 = FloatVector.broadcast(F, a[ap + 3 * lda]);
            c30 = x3.fma(b0, c30);
        }
        c00.intoArray(c, cr, m);
        c10.intoArray(c, r1, m);
        c20.intoArray(c, r2, m);
        c30.intoArray(c, r3, m);
    }

    static void k1x4(float[] a, int ar, float[] b, int bc, int ldb, float[] c, int cr,
            int plo, int phi, float beta, boolean acc) {
        FloatVector c0 = init(c, cr, beta, acc), c1 = init(c, cr + L, beta, acc), c2 = init(c, cr + 2 * L, beta, acc), c3 = init(c, cr + 3 * L, beta, acc);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector x = FloatVector.broadcast(F, a[ar + p]);
            c0 = x.fma(FloatVector.fromArray(F, b, bp), c0);
            c1 = x.fma(FloatVector.fromArray(F, b, bp + L), c1);
            c2 = x.fma(FloatVector.fromArray(F, b, bp + 2 * L), c2);
            c3 = x.fma(FloatVector.fromArray(F, b, bp + 3 * L), c3);
        }
        c0.intoArray(c, cr);
        c1.intoArray(c, cr + L);
        c2.intoArray(c, cr + 2 * L);
        c3.intoArray(c, cr + 3 * L);
    }

    static void k1x1(float[] a, int ar, float[] b, int bc, int ldb, float[] c, int cr,
            int plo, int phi, float beta, boolean acc) {
        FloatVector c0 = init(c, cr, beta, acc);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector x = FloatVector.broadcast(F, a[ar + p]);
            c0 = x.fma(FloatVector.fromArray(F, b, bp), c0);
        }
        c0.intoArray(c, cr);
    }

    static void k1x1m(float[] a, int ar, float[] b, int bc, int ldb, float[] c, int cr,
            int plo, int phi, float beta, boolean acc, VectorMask<Float> m) {
        FloatVector c0 = init(c, cr, beta, acc, m);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector x = FloatVector.broadcast(F, a[ar + p]);
            c0 = x.fma(FloatVector.fromArray(F, b, bp, m), c0);
        }
        c0.intoArray(c, cr, m);
    }

    private static FloatVector init(float[] c, int at, float beta, boolean accumulate) {
        if (!accumulate) {
            return FloatVector.zero(F);
        }
        FloatVector v = FloatVector.fromArray(F, c, at);
        return beta == 1f ? v : v.mul(beta);
    }

    private static FloatVector init(float[] c, int at, float beta, boolean accumulate, VectorMask<Float> m) {
        if (!accumulate) {
            return FloatVector.zero(F);
        }
        FloatVector v = FloatVector.fromArray(F, c, at, m);
        return beta == 1f ? v : v.mul(beta);
    }

}
