package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.Species.F;
import static dev.la2.backend.cpu.Species.L;

import jdk.incubator.vector.FloatVector;

/**
 * The 512-bit register tiles (32 registers): 24 accumulators each, three rows by eight vectors,
 * two by eight for the rows left over, and six rows by four vectors. They always accumulate onto
 * beta C; the caller zeroes C for an overwriting product.
 */
final class WideKernels {
    private WideKernels() {
    }

    /**
     * Three rows by eight vectors: 24 accumulators, and each B vector feeds three FMAs as soon as it
     * is loaded, so with the three broadcasts 28 of the 32 registers are live. Against k4x4 (16
     * accumulators, a broadcast for every four FMAs) it halves the broadcasts per FMA, which brings
     * the state products close to the FMA peak. It always accumulates onto beta C: a choice between
     * loading and zero per accumulator, as the other kernels make, takes C2 past its node budget
     * for inlining, and the vectors are then boxed.
     */
    static void k3x8(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
            int plo, int phi, float beta) {
        int r1 = cr + ldc, r2 = r1 + ldc;
        FloatVector c00 = FloatVector.fromArray(F, c, cr).mul(beta), c01 = FloatVector.fromArray(F, c, cr + L).mul(beta), c02 = FloatVector.fromArray(F, c, cr + 2 * L).mul(beta), c03 = FloatVector.fromArray(F, c, cr + 3 * L).mul(beta);
        FloatVector c04 = FloatVector.fromArray(F, c, cr + 4 * L).mul(beta), c05 = FloatVector.fromArray(F, c, cr + 5 * L).mul(beta), c06 = FloatVector.fromArray(F, c, cr + 6 * L).mul(beta), c07 = FloatVector.fromArray(F, c, cr + 7 * L).mul(beta);
        FloatVector c10 = FloatVector.fromArray(F, c, r1).mul(beta), c11 = FloatVector.fromArray(F, c, r1 + L).mul(beta), c12 = FloatVector.fromArray(F, c, r1 + 2 * L).mul(beta), c13 = FloatVector.fromArray(F, c, r1 + 3 * L).mul(beta);
        FloatVector c14 = FloatVector.fromArray(F, c, r1 + 4 * L).mul(beta), c15 = FloatVector.fromArray(F, c, r1 + 5 * L).mul(beta), c16 = FloatVector.fromArray(F, c, r1 + 6 * L).mul(beta), c17 = FloatVector.fromArray(F, c, r1 + 7 * L).mul(beta);
        FloatVector c20 = FloatVector.fromArray(F, c, r2).mul(beta), c21 = FloatVector.fromArray(F, c, r2 + L).mul(beta), c22 = FloatVector.fromArray(F, c, r2 + 2 * L).mul(beta), c23 = FloatVector.fromArray(F, c, r2 + 3 * L).mul(beta);
        FloatVector c24 = FloatVector.fromArray(F, c, r2 + 4 * L).mul(beta), c25 = FloatVector.fromArray(F, c, r2 + 5 * L).mul(beta), c26 = FloatVector.fromArray(F, c, r2 + 6 * L).mul(beta), c27 = FloatVector.fromArray(F, c, r2 + 7 * L).mul(beta);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb, ap = ar + p;
            FloatVector x0 = FloatVector.broadcast(F, a[ap]);
            FloatVector x1 = FloatVector.broadcast(F, a[ap + lda]);
            FloatVector x2 = FloatVector.broadcast(F, a[ap + 2 * lda]);
            FloatVector y = FloatVector.fromArray(F, b, bp);
            c00 = x0.fma(y, c00);
            c10 = x1.fma(y, c10);
            c20 = x2.fma(y, c20);
            y = FloatVector.fromArray(F, b, bp + L);
            c01 = x0.fma(y, c01);
            c11 = x1.fma(y, c11);
            c21 = x2.fma(y, c21);
            y = FloatVector.fromArray(F, b, bp + 2 * L);
            c02 = x0.fma(y, c02);
            c12 = x1.fma(y, c12);
            c22 = x2.fma(y, c22);
            y = FloatVector.fromArray(F, b, bp + 3 * L);
            c03 = x0.fma(y, c03);
            c13 = x1.fma(y, c13);
            c23 = x2.fma(y, c23);
            y = FloatVector.fromArray(F, b, bp + 4 * L);
            c04 = x0.fma(y, c04);
            c14 = x1.fma(y, c14);
            c24 = x2.fma(y, c24);
            y = FloatVector.fromArray(F, b, bp + 5 * L);
            c05 = x0.fma(y, c05);
            c15 = x1.fma(y, c15);
            c25 = x2.fma(y, c25);
            y = FloatVector.fromArray(F, b, bp + 6 * L);
            c06 = x0.fma(y, c06);
            c16 = x1.fma(y, c16);
            c26 = x2.fma(y, c26);
            y = FloatVector.fromArray(F, b, bp + 7 * L);
            c07 = x0.fma(y, c07);
            c17 = x1.fma(y, c17);
            c27 = x2.fma(y, c27);
        }
        c00.intoArray(c, cr);
        c01.intoArray(c, cr + L);
        c02.intoArray(c, cr + 2 * L);
        c03.intoArray(c, cr + 3 * L);
        c04.intoArray(c, cr + 4 * L);
        c05.intoArray(c, cr + 5 * L);
        c06.intoArray(c, cr + 6 * L);
        c07.intoArray(c, cr + 7 * L);
        c10.intoArray(c, r1);
        c11.intoArray(c, r1 + L);
        c12.intoArray(c, r1 + 2 * L);
        c13.intoArray(c, r1 + 3 * L);
        c14.intoArray(c, r1 + 4 * L);
        c15.intoArray(c, r1 + 5 * L);
        c16.intoArray(c, r1 + 6 * L);
        c17.intoArray(c, r1 + 7 * L);
        c20.intoArray(c, r2);
        c21.intoArray(c, r2 + L);
        c22.intoArray(c, r2 + 2 * L);
        c23.intoArray(c, r2 + 3 * L);
        c24.intoArray(c, r2 + 4 * L);
        c25.intoArray(c, r2 + 5 * L);
        c26.intoArray(c, r2 + 6 * L);
        c27.intoArray(c, r2 + 7 * L);
    }

    /**
     * Two rows by eight vectors, for the rows k3x8's groups of three leave: 16 accumulators, as
     * k4x4, with half the B loads per FMA of the one-row kernels.
     */
    static void k2x8(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
            int plo, int phi, float beta) {
        int r1 = cr + ldc;
        FloatVector c00 = FloatVector.fromArray(F, c, cr).mul(beta), c01 = FloatVector.fromArray(F, c, cr + L).mul(beta), c02 = FloatVector.fromArray(F, c, cr + 2 * L).mul(beta), c03 = FloatVector.fromArray(F, c, cr + 3 * L).mul(beta);
        FloatVector c04 = FloatVector.fromArray(F, c, cr + 4 * L).mul(beta), c05 = FloatVector.fromArray(F, c, cr + 5 * L).mul(beta), c06 = FloatVector.fromArray(F, c, cr + 6 * L).mul(beta), c07 = FloatVector.fromArray(F, c, cr + 7 * L).mul(beta);
        FloatVector c10 = FloatVector.fromArray(F, c, r1).mul(beta), c11 = FloatVector.fromArray(F, c, r1 + L).mul(beta), c12 = FloatVector.fromArray(F, c, r1 + 2 * L).mul(beta), c13 = FloatVector.fromArray(F, c, r1 + 3 * L).mul(beta);
        FloatVector c14 = FloatVector.fromArray(F, c, r1 + 4 * L).mul(beta), c15 = FloatVector.fromArray(F, c, r1 + 5 * L).mul(beta), c16 = FloatVector.fromArray(F, c, r1 + 6 * L).mul(beta), c17 = FloatVector.fromArray(F, c, r1 + 7 * L).mul(beta);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb, ap = ar + p;
            FloatVector x0 = FloatVector.broadcast(F, a[ap]);
            FloatVector x1 = FloatVector.broadcast(F, a[ap + lda]);
            FloatVector y = FloatVector.fromArray(F, b, bp);
            c00 = x0.fma(y, c00);
            c10 = x1.fma(y, c10);
            y = FloatVector.fromArray(F, b, bp + L);
            c01 = x0.fma(y, c01);
            c11 = x1.fma(y, c11);
            y = FloatVector.fromArray(F, b, bp + 2 * L);
            c02 = x0.fma(y, c02);
            c12 = x1.fma(y, c12);
            y = FloatVector.fromArray(F, b, bp + 3 * L);
            c03 = x0.fma(y, c03);
            c13 = x1.fma(y, c13);
            y = FloatVector.fromArray(F, b, bp + 4 * L);
            c04 = x0.fma(y, c04);
            c14 = x1.fma(y, c14);
            y = FloatVector.fromArray(F, b, bp + 5 * L);
            c05 = x0.fma(y, c05);
            c15 = x1.fma(y, c15);
            y = FloatVector.fromArray(F, b, bp + 6 * L);
            c06 = x0.fma(y, c06);
            c16 = x1.fma(y, c16);
            y = FloatVector.fromArray(F, b, bp + 7 * L);
            c07 = x0.fma(y, c07);
            c17 = x1.fma(y, c17);
        }
        c00.intoArray(c, cr);
        c01.intoArray(c, cr + L);
        c02.intoArray(c, cr + 2 * L);
        c03.intoArray(c, cr + 3 * L);
        c04.intoArray(c, cr + 4 * L);
        c05.intoArray(c, cr + 5 * L);
        c06.intoArray(c, cr + 6 * L);
        c07.intoArray(c, cr + 7 * L);
        c10.intoArray(c, r1);
        c11.intoArray(c, r1 + L);
        c12.intoArray(c, r1 + 2 * L);
        c13.intoArray(c, r1 + 3 * L);
        c14.intoArray(c, r1 + 4 * L);
        c15.intoArray(c, r1 + 5 * L);
        c16.intoArray(c, r1 + 6 * L);
        c17.intoArray(c, r1 + 7 * L);
    }

    /**
     * Six rows by four vectors, for columns in groups of 64 floats (D or E = 64): 24 accumulators
     * and a broadcast per four FMAs, but a B load per six (k4x4: per four). Accumulates onto beta C
     * always, as k3x8 does and for the same reason.
     */
    static void k6x4(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
            int plo, int phi, float beta) {
        int r1 = cr + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc;
        FloatVector c00 = FloatVector.fromArray(F, c, cr).mul(beta), c01 = FloatVector.fromArray(F, c, cr + L).mul(beta), c02 = FloatVector.fromArray(F, c, cr + 2 * L).mul(beta), c03 = FloatVector.fromArray(F, c, cr + 3 * L).mul(beta);
        FloatVector c10 = FloatVector.fromArray(F, c, r1).mul(beta), c11 = FloatVector.fromArray(F, c, r1 + L).mul(beta), c12 = FloatVector.fromArray(F, c, r1 + 2 * L).mul(beta), c13 = FloatVector.fromArray(F, c, r1 + 3 * L).mul(beta);
        FloatVector c20 = FloatVector.fromArray(F, c, r2).mul(beta), c21 = FloatVector.fromArray(F, c, r2 + L).mul(beta), c22 = FloatVector.fromArray(F, c, r2 + 2 * L).mul(beta), c23 = FloatVector.fromArray(F, c, r2 + 3 * L).mul(beta);
        FloatVector c30 = FloatVector.fromArray(F, c, r3).mul(beta), c31 = FloatVector.fromArray(F, c, r3 + L).mul(beta), c32 = FloatVector.fromArray(F, c, r3 + 2 * L).mul(beta), c33 = FloatVector.fromArray(F, c, r3 + 3 * L).mul(beta);
        FloatVector c40 = FloatVector.fromArray(F, c, r4).mul(beta), c41 = FloatVector.fromArray(F, c, r4 + L).mul(beta), c42 = FloatVector.fromArray(F, c, r4 + 2 * L).mul(beta), c43 = FloatVector.fromArray(F, c, r4 + 3 * L).mul(beta);
        FloatVector c50 = FloatVector.fromArray(F, c, r5).mul(beta), c51 = FloatVector.fromArray(F, c, r5 + L).mul(beta), c52 = FloatVector.fromArray(F, c, r5 + 2 * L).mul(beta), c53 = FloatVector.fromArray(F, c, r5 + 3 * L).mul(beta);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb, ap = ar + p;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + L);
            FloatVector b2 = FloatVector.fromArray(F, b, bp + 2 * L);
            FloatVector b3 = FloatVector.fromArray(F, b, bp + 3 * L);
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
            FloatVector x4 = FloatVector.broadcast(F, a[ap + 4 * lda]);
            c40 = x4.fma(b0, c40);
            c41 = x4.fma(b1, c41);
            c42 = x4.fma(b2, c42);
            c43 = x4.fma(b3, c43);
            FloatVector x5 = FloatVector.broadcast(F, a[ap + 5 * lda]);
            c50 = x5.fma(b0, c50);
            c51 = x5.fma(b1, c51);
            c52 = x5.fma(b2, c52);
            c53 = x5.fma(b3, c53);
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
        c40.intoArray(c, r4);
        c41.intoArray(c, r4 + L);
        c42.intoArray(c, r4 + 2 * L);
        c43.intoArray(c, r4 + 3 * L);
        c50.intoArray(c, r5);
        c51.intoArray(c, r5 + L);
        c52.intoArray(c, r5 + 2 * L);
        c53.intoArray(c, r5 + 3 * L);
    }
}
