package dev.la2.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Register-blocked products on the Vector API: each micro-kernel keeps a block of C (four rows by
 * up to four vectors) in registers for the whole inner loop, broadcasting one A element per row
 * and loading one B vector per column group (the i-k-j order, so no horizontal reductions).
 * Column tails use one masked vector; row tails use one-row kernels.
 *
 * <p>The species is a {@code static final} constant so the JIT folds it; it is the preferred one
 * unless the system property {@code la2.cpu.vectorBits} names 64, 128, 256 or 512.
 */
final class VectorKernels implements Kernels {
    static final VectorSpecies<Float> F = species();
    private static final int L = F.length();
    /** Four vectors per row need 16 accumulators: only 512-bit machines (32 registers) hold them all. */
    private static final boolean WIDE = F.vectorBitSize() >= 512;

    private static VectorSpecies<Float> species() {
        int bits = Integer.getInteger(CpuProvider.VECTOR_BITS_PROPERTY, FloatVector.SPECIES_PREFERRED.vectorBitSize());
        return switch (bits) {
            case 64 -> FloatVector.SPECIES_64;
            case 128 -> FloatVector.SPECIES_128;
            case 256 -> FloatVector.SPECIES_256;
            case 512 -> FloatVector.SPECIES_512;
            default -> FloatVector.SPECIES_PREFERRED;
        };
    }

    /** Called reflectively by the provider, so that it never links Vector API classes itself. */
    static String describeSpecies() {
        return F.vectorBitSize() + "-bit FloatVector" + switch (F.vectorBitSize()) {
            case 512 -> " (AVX-512)";
            case 256 -> " (AVX2)";
            default -> "";
        };
    }

    @Override
    public String describe() {
        return "Vector API, " + describeSpecies();
    }

    /** Lane picks of the transpose's butterfly stages, rows L/2 apart first, then L/4, ..., 1. */
    private static final int STAGES = Integer.numberOfTrailingZeros(L);
    private static final float[][] PICK_LO = picks(true), PICK_HI = picks(false);

    /**
     * For rows x and y = x's partner b rows on, selectFrom(x, y) indices: the low output takes x's
     * lane l where bit b of l is clear and y's lane l - b where it is set; the high output takes
     * x's lane l + b and y's lane l. After every stage row j holds column j.
     */
    private static float[][] picks(boolean low) {
        float[][] out = new float[STAGES][L];
        int s = 0;
        for (int b = L / 2; b >= 1; b >>= 1, s++) {
            for (int l = 0; l < L; l++) {
                boolean first = (l & b) == 0;
                out[s][l] = low ? (first ? l : L + l - b) : (first ? l + b : L + l);
            }
        }
        return out;
    }

    @Override
    public void transpose(float[] src, int rows, int cols, int lds, float[] dst, int ldd) {
        transposeInto(src, rows, cols, lds, null, 0, dst, ldd);
    }

    @Override
    public void transposeAdd(float[] src, int rows, int cols, int lds, float[] w, int wo, float[] dst, int ldd) {
        transposeInto(src, rows, cols, lds, w, wo, dst, ldd);
    }

    /**
     * Whole L x L squares (L = 8 or 16) pass through registers in log2(L) stages of two-source lane
     * permutes: measured on AVX-512, 2.2 us for a 64 x 128 tile against 4.4 us for gathering one
     * column of L rows per vector, and transposes are a visible share of a block's work. Columns
     * left over are gathered; rows left over go one element at a time (a gather checks every
     * lane's index even under a mask).
     */
    private static void transposeInto(float[] src, int rows, int cols, int lds, float[] w, int wo,
                                      float[] dst, int ldd) {
        int fullRows = rows - rows % L;
        int squareCols = L == 16 || L == 8 ? cols - cols % L : 0;
        for (int i0 = 0; i0 < fullRows; i0 += L) {
            for (int j0 = 0; j0 < squareCols; j0 += L) {
                if (L == 16) {
                    square16(src, i0 * lds + j0, lds, w, wo + j0, dst, j0 * ldd + i0, ldd);
                } else {
                    square8(src, i0 * lds + j0, lds, w, wo + j0, dst, j0 * ldd + i0, ldd);
                }
            }
        }
        if (squareCols < cols && fullRows > 0) {
            int[] map = new int[L];
            for (int r = 0; r < L; r++) {
                map[r] = r * lds;
            }
            for (int i0 = 0; i0 < fullRows; i0 += L) {
                for (int j = squareCols; j < cols; j++) {
                    put(FloatVector.fromArray(F, src, i0 * lds + j, map, 0), w, wo + j, dst, j * ldd + i0);
                }
            }
        }
        for (int i = fullRows; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                float x = src[i * lds + j];
                int at = j * ldd + i;
                dst[at] = w == null ? x : Math.fma(w[wo + j], x, dst[at]);
            }
        }
    }

    /** Stores one transposed row, or adds it times its weight. */
    private static void put(FloatVector row, float[] w, int wj, float[] dst, int at) {
        if (w == null) {
            row.intoArray(dst, at);
        } else {
            row.fma(FloatVector.broadcast(F, w[wj]), FloatVector.fromArray(F, dst, at)).intoArray(dst, at);
        }
    }

    /** One 16 x 16 square: src rows from {@code so} (pitch lds) to dst rows from {@code dop} (pitch ldd). */
    private static void square16(float[] src, int so, int lds, float[] w, int wj, float[] dst, int dop, int ldd) {
        FloatVector lo0 = FloatVector.fromArray(F, PICK_LO[0], 0), hi0 = FloatVector.fromArray(F, PICK_HI[0], 0);
        FloatVector lo1 = FloatVector.fromArray(F, PICK_LO[1], 0), hi1 = FloatVector.fromArray(F, PICK_HI[1], 0);
        FloatVector lo2 = FloatVector.fromArray(F, PICK_LO[2], 0), hi2 = FloatVector.fromArray(F, PICK_HI[2], 0);
        FloatVector lo3 = FloatVector.fromArray(F, PICK_LO[3], 0), hi3 = FloatVector.fromArray(F, PICK_HI[3], 0);
        FloatVector r0 = FloatVector.fromArray(F, src, so), r1 = FloatVector.fromArray(F, src, so + lds);
        FloatVector r2 = FloatVector.fromArray(F, src, so + 2 * lds), r3 = FloatVector.fromArray(F, src, so + 3 * lds);
        FloatVector r4 = FloatVector.fromArray(F, src, so + 4 * lds), r5 = FloatVector.fromArray(F, src, so + 5 * lds);
        FloatVector r6 = FloatVector.fromArray(F, src, so + 6 * lds), r7 = FloatVector.fromArray(F, src, so + 7 * lds);
        FloatVector r8 = FloatVector.fromArray(F, src, so + 8 * lds), r9 = FloatVector.fromArray(F, src, so + 9 * lds);
        FloatVector r10 = FloatVector.fromArray(F, src, so + 10 * lds), r11 = FloatVector.fromArray(F, src, so + 11 * lds);
        FloatVector r12 = FloatVector.fromArray(F, src, so + 12 * lds), r13 = FloatVector.fromArray(F, src, so + 13 * lds);
        FloatVector r14 = FloatVector.fromArray(F, src, so + 14 * lds), r15 = FloatVector.fromArray(F, src, so + 15 * lds);
        FloatVector a0 = lo0.selectFrom(r0, r8), a8 = hi0.selectFrom(r0, r8);
        FloatVector a1 = lo0.selectFrom(r1, r9), a9 = hi0.selectFrom(r1, r9);
        FloatVector a2 = lo0.selectFrom(r2, r10), a10 = hi0.selectFrom(r2, r10);
        FloatVector a3 = lo0.selectFrom(r3, r11), a11 = hi0.selectFrom(r3, r11);
        FloatVector a4 = lo0.selectFrom(r4, r12), a12 = hi0.selectFrom(r4, r12);
        FloatVector a5 = lo0.selectFrom(r5, r13), a13 = hi0.selectFrom(r5, r13);
        FloatVector a6 = lo0.selectFrom(r6, r14), a14 = hi0.selectFrom(r6, r14);
        FloatVector a7 = lo0.selectFrom(r7, r15), a15 = hi0.selectFrom(r7, r15);
        FloatVector b0 = lo1.selectFrom(a0, a4), b4 = hi1.selectFrom(a0, a4);
        FloatVector b1 = lo1.selectFrom(a1, a5), b5 = hi1.selectFrom(a1, a5);
        FloatVector b2 = lo1.selectFrom(a2, a6), b6 = hi1.selectFrom(a2, a6);
        FloatVector b3 = lo1.selectFrom(a3, a7), b7 = hi1.selectFrom(a3, a7);
        FloatVector b8 = lo1.selectFrom(a8, a12), b12 = hi1.selectFrom(a8, a12);
        FloatVector b9 = lo1.selectFrom(a9, a13), b13 = hi1.selectFrom(a9, a13);
        FloatVector b10 = lo1.selectFrom(a10, a14), b14 = hi1.selectFrom(a10, a14);
        FloatVector b11 = lo1.selectFrom(a11, a15), b15 = hi1.selectFrom(a11, a15);
        FloatVector c0 = lo2.selectFrom(b0, b2), c2 = hi2.selectFrom(b0, b2);
        FloatVector c1 = lo2.selectFrom(b1, b3), c3 = hi2.selectFrom(b1, b3);
        FloatVector c4 = lo2.selectFrom(b4, b6), c6 = hi2.selectFrom(b4, b6);
        FloatVector c5 = lo2.selectFrom(b5, b7), c7 = hi2.selectFrom(b5, b7);
        FloatVector c8 = lo2.selectFrom(b8, b10), c10 = hi2.selectFrom(b8, b10);
        FloatVector c9 = lo2.selectFrom(b9, b11), c11 = hi2.selectFrom(b9, b11);
        FloatVector c12 = lo2.selectFrom(b12, b14), c14 = hi2.selectFrom(b12, b14);
        FloatVector c13 = lo2.selectFrom(b13, b15), c15 = hi2.selectFrom(b13, b15);
        FloatVector d0 = lo3.selectFrom(c0, c1), d1 = hi3.selectFrom(c0, c1);
        FloatVector d2 = lo3.selectFrom(c2, c3), d3 = hi3.selectFrom(c2, c3);
        FloatVector d4 = lo3.selectFrom(c4, c5), d5 = hi3.selectFrom(c4, c5);
        FloatVector d6 = lo3.selectFrom(c6, c7), d7 = hi3.selectFrom(c6, c7);
        FloatVector d8 = lo3.selectFrom(c8, c9), d9 = hi3.selectFrom(c8, c9);
        FloatVector d10 = lo3.selectFrom(c10, c11), d11 = hi3.selectFrom(c10, c11);
        FloatVector d12 = lo3.selectFrom(c12, c13), d13 = hi3.selectFrom(c12, c13);
        FloatVector d14 = lo3.selectFrom(c14, c15), d15 = hi3.selectFrom(c14, c15);
        put(d0, w, wj, dst, dop);
        put(d1, w, wj + 1, dst, dop + ldd);
        put(d2, w, wj + 2, dst, dop + 2 * ldd);
        put(d3, w, wj + 3, dst, dop + 3 * ldd);
        put(d4, w, wj + 4, dst, dop + 4 * ldd);
        put(d5, w, wj + 5, dst, dop + 5 * ldd);
        put(d6, w, wj + 6, dst, dop + 6 * ldd);
        put(d7, w, wj + 7, dst, dop + 7 * ldd);
        put(d8, w, wj + 8, dst, dop + 8 * ldd);
        put(d9, w, wj + 9, dst, dop + 9 * ldd);
        put(d10, w, wj + 10, dst, dop + 10 * ldd);
        put(d11, w, wj + 11, dst, dop + 11 * ldd);
        put(d12, w, wj + 12, dst, dop + 12 * ldd);
        put(d13, w, wj + 13, dst, dop + 13 * ldd);
        put(d14, w, wj + 14, dst, dop + 14 * ldd);
        put(d15, w, wj + 15, dst, dop + 15 * ldd);
    }

    /** One 8 x 8 square: src rows from {@code so} (pitch lds) to dst rows from {@code dop} (pitch ldd). */
    private static void square8(float[] src, int so, int lds, float[] w, int wj, float[] dst, int dop, int ldd) {
        FloatVector lo0 = FloatVector.fromArray(F, PICK_LO[0], 0), hi0 = FloatVector.fromArray(F, PICK_HI[0], 0);
        FloatVector lo1 = FloatVector.fromArray(F, PICK_LO[1], 0), hi1 = FloatVector.fromArray(F, PICK_HI[1], 0);
        FloatVector lo2 = FloatVector.fromArray(F, PICK_LO[2], 0), hi2 = FloatVector.fromArray(F, PICK_HI[2], 0);
        FloatVector r0 = FloatVector.fromArray(F, src, so), r1 = FloatVector.fromArray(F, src, so + lds);
        FloatVector r2 = FloatVector.fromArray(F, src, so + 2 * lds), r3 = FloatVector.fromArray(F, src, so + 3 * lds);
        FloatVector r4 = FloatVector.fromArray(F, src, so + 4 * lds), r5 = FloatVector.fromArray(F, src, so + 5 * lds);
        FloatVector r6 = FloatVector.fromArray(F, src, so + 6 * lds), r7 = FloatVector.fromArray(F, src, so + 7 * lds);
        FloatVector a0 = lo0.selectFrom(r0, r4), a4 = hi0.selectFrom(r0, r4);
        FloatVector a1 = lo0.selectFrom(r1, r5), a5 = hi0.selectFrom(r1, r5);
        FloatVector a2 = lo0.selectFrom(r2, r6), a6 = hi0.selectFrom(r2, r6);
        FloatVector a3 = lo0.selectFrom(r3, r7), a7 = hi0.selectFrom(r3, r7);
        FloatVector b0 = lo1.selectFrom(a0, a2), b2 = hi1.selectFrom(a0, a2);
        FloatVector b1 = lo1.selectFrom(a1, a3), b3 = hi1.selectFrom(a1, a3);
        FloatVector b4 = lo1.selectFrom(a4, a6), b6 = hi1.selectFrom(a4, a6);
        FloatVector b5 = lo1.selectFrom(a5, a7), b7 = hi1.selectFrom(a5, a7);
        FloatVector c0 = lo2.selectFrom(b0, b1), c1 = hi2.selectFrom(b0, b1);
        FloatVector c2 = lo2.selectFrom(b2, b3), c3 = hi2.selectFrom(b2, b3);
        FloatVector c4 = lo2.selectFrom(b4, b5), c5 = hi2.selectFrom(b4, b5);
        FloatVector c6 = lo2.selectFrom(b6, b7), c7 = hi2.selectFrom(b6, b7);
        put(c0, w, wj, dst, dop);
        put(c1, w, wj + 1, dst, dop + ldd);
        put(c2, w, wj + 2, dst, dop + 2 * ldd);
        put(c3, w, wj + 3, dst, dop + 3 * ldd);
        put(c4, w, wj + 4, dst, dop + 4 * ldd);
        put(c5, w, wj + 5, dst, dop + 5 * ldd);
        put(c6, w, wj + 6, dst, dop + 6 * ldd);
        put(c7, w, wj + 7, dst, dop + 7 * ldd);
    }

    /**
     * Triangular outputs are widened to whole vectors (the extra entries are overwritten by the
     * caller's mask), so the score tiles run without masked tails.
     */
    private static int colLo(int shape, int i0) {
        return shape == OUT_UPPER ? i0 - i0 % L : 0;
    }

    private static int colHi(int shape, int i0, int mr, int n) {
        if (shape != OUT_LOWER) {
            return n;
        }
        int end = i0 + mr;
        return Math.min(n, end + (L - end % L) % L);
    }

    @Override
    public void gemm(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                     int m, int n, int k, float beta, boolean accumulate, int shape) {
        int m4 = m - m % 4;
        if (shape == FULL) {
            // Inner dimension in chunks, outermost, so that the rows of B one chunk reads stay in
            // L1 while every block of rows passes over them (B is the D x E state in the big products).
            int kc = innerChunk(n);
            int p0 = 0;
            do {
                boolean first = p0 == 0;
                float bt = first ? beta : 1f;
                boolean acc = !first || accumulate;
                int p1 = Math.min(k, p0 + kc);
                for (int i0 = 0; i0 < m4; i0 += 4) {
                    rows4(a, ao, lda, b, bo, ldb, c, co, ldc, i0, 0, n, p0, p1, bt, acc);
                }
                for (int i = m4; i < m; i++) {
                    row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, 0, n, p0, p1, bt, acc);
                }
                p0 = p1;
            } while (p0 < k);
            return;
        }
        for (int i0 = 0; i0 < m4; i0 += 4) {
            int jlo = colLo(shape, i0), jhi = colHi(shape, i0, 4, n);
            if (shape == K_LOWER) {
                // Rows i0..i0+3 share p < i0; the 4 x 4 corner is done row by row so that no row
                // reads a B row past its own diagonal (0 * NaN would leak a later token's NaN).
                rows4(a, ao, lda, b, bo, ldb, c, co, ldc, i0, jlo, jhi, 0, Math.min(k, i0), beta, accumulate);
                for (int i = i0; i < i0 + 4; i++) {
                    row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, jlo, jhi, Math.min(k, i0), Math.min(k, i + 1), 1f, true);
                }
            } else if (shape == K_UPPER) {
                for (int i = i0; i < i0 + 4; i++) {
                    row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, jlo, jhi, Math.min(k, i), Math.min(k, i0 + 4), beta, accumulate);
                }
                rows4(a, ao, lda, b, bo, ldb, c, co, ldc, i0, jlo, jhi, Math.min(k, i0 + 4), k, 1f, true);
            } else {
                rows4(a, ao, lda, b, bo, ldb, c, co, ldc, i0, jlo, jhi, 0, k, beta, accumulate);
            }
        }
        for (int i = m4; i < m; i++) {
            int jlo = colLo(shape, i), jhi = colHi(shape, i, 1, n);
            row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, jlo, jhi,
                    Kernels.innerLo(shape, i), Kernels.innerHi(shape, i, 1, k), beta, accumulate);
        }
    }

    /** Rows of B per chunk: about 16 KiB of B, at least 16 rows (system property la2.cpu.kc overrides). */
    private static int innerChunk(int n) {
        return KC > 0 ? KC : Math.max(16, 4096 / Math.max(1, n));
    }

    private static final int KC = Integer.getInteger("la2.cpu.kc", 0);

    /** Rows i0..i0+3, columns [jlo, jhi), inner range [plo, phi). */
    private static void rows4(float[] a, int ao, int lda, float[] b, int bo, int ldb,
                              float[] c, int co, int ldc, int i0, int jlo, int jhi, int plo, int phi,
                              float beta, boolean acc) {
        int ar = ao + i0 * lda, cr = co + i0 * ldc;
        int j = jlo;
        if (WIDE) {
            for (; j + 4 * L <= jhi; j += 4 * L) {
                k4x4(a, ar, lda, b, bo + j, ldb, c, cr + j, ldc, plo, phi, beta, acc);
            }
        }
        for (; j + 2 * L <= jhi; j += 2 * L) {
            k4x2(a, ar, lda, b, bo + j, ldb, c, cr + j, ldc, plo, phi, beta, acc);
        }
        for (; j + L <= jhi; j += L) {
            k4x1(a, ar, lda, b, bo + j, ldb, c, cr + j, ldc, plo, phi, beta, acc);
        }
        if (j < jhi) {
            k4x1m(a, ar, lda, b, bo + j, ldb, c, cr + j, ldc, plo, phi, beta, acc, F.indexInRange(j, jhi));
        }
    }

    /** Row i, columns [jlo, jhi), inner range [plo, phi). */
    private static void row1(float[] a, int ao, int lda, float[] b, int bo, int ldb,
                             float[] c, int co, int ldc, int i, int jlo, int jhi, int plo, int phi,
                             float beta, boolean acc) {
        int ar = ao + i * lda, cr = co + i * ldc;
        int j = jlo;
        for (; j + 4 * L <= jhi; j += 4 * L) {
            k1x4(a, ar, b, bo + j, ldb, c, cr + j, plo, phi, beta, acc);
        }
        for (; j + L <= jhi; j += L) {
            k1x1(a, ar, b, bo + j, ldb, c, cr + j, plo, phi, beta, acc);
        }
        if (j < jhi) {
            k1x1m(a, ar, b, bo + j, ldb, c, cr + j, plo, phi, beta, acc, F.indexInRange(j, jhi));
        }
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

    private static void k4x4(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
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

    private static void k4x2(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
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

    private static void k4x1(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
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

    private static void k4x1m(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
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

    private static void k1x4(float[] a, int ar, float[] b, int bc, int ldb, float[] c, int cr,
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

    private static void k1x1(float[] a, int ar, float[] b, int bc, int ldb, float[] c, int cr,
            int plo, int phi, float beta, boolean acc) {
        FloatVector c0 = init(c, cr, beta, acc);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector x = FloatVector.broadcast(F, a[ar + p]);
            c0 = x.fma(FloatVector.fromArray(F, b, bp), c0);
        }
        c0.intoArray(c, cr);
    }

    private static void k1x1m(float[] a, int ar, float[] b, int bc, int ldb, float[] c, int cr,
            int plo, int phi, float beta, boolean acc, VectorMask<Float> m) {
        FloatVector c0 = init(c, cr, beta, acc, m);
        for (int p = plo; p < phi; p++) {
            int bp = bc + p * ldb;
            FloatVector x = FloatVector.broadcast(F, a[ar + p]);
            c0 = x.fma(FloatVector.fromArray(F, b, bp, m), c0);
        }
        c0.intoArray(c, cr, m);
    }
}
