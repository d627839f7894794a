package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.Kernels.FULL;
import static dev.la2.backend.cpu.Kernels.K_LOWER;
import static dev.la2.backend.cpu.Kernels.K_UPPER;
import static dev.la2.backend.cpu.Kernels.OUT_LOWER;
import static dev.la2.backend.cpu.Kernels.OUT_UPPER;
import static dev.la2.backend.cpu.MicroKernels.k1x1;
import static dev.la2.backend.cpu.MicroKernels.k1x1m;
import static dev.la2.backend.cpu.MicroKernels.k1x4;
import static dev.la2.backend.cpu.MicroKernels.k4x1;
import static dev.la2.backend.cpu.MicroKernels.k4x1m;
import static dev.la2.backend.cpu.MicroKernels.k4x2;
import static dev.la2.backend.cpu.MicroKernels.k4x4;
import static dev.la2.backend.cpu.Species.F;
import static dev.la2.backend.cpu.Species.L;
import static dev.la2.backend.cpu.Species.WIDE;
import static dev.la2.backend.cpu.WideKernels.k2x8;
import static dev.la2.backend.cpu.WideKernels.k3x8;
import static dev.la2.backend.cpu.WideKernels.k6x4;

import java.util.Arrays;

/**
 * {@link Kernels#gemm} on the Vector API: C cut into groups of rows and columns, each handed to
 * the register tile that fits it ({@link WideKernels} on 512-bit machines, {@link MicroKernels}
 * elsewhere and for the tails), with the triangular shapes honoured per group of rows.
 */
final class VectorGemm {
    private VectorGemm() {
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

    static void gemm(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                     int m, int n, int k, float beta, boolean accumulate, int shape) {
        // On 512-bit machines, whole panels of 8 vectors of a product whose output is full go
        // through k3x8, three rows at a time; the rest of the columns through the four-row kernels.
        int panels = WIDE && shape != OUT_LOWER && shape != OUT_UPPER ? n - n % (8 * L) : 0;
        if (shape == FULL) {
            // Then whole groups of 4 vectors (D or E = 64 at 512 bits) through k6x4, six rows at a time.
            int quads = WIDE ? (n - panels) - (n - panels) % (4 * L) : 0;
            // The inner dimension in slices, outermost, so that the rows of B one slice reads stay
            // in cache while every group of rows passes over them (B is the D x E state in the big
            // products).
            int kc = innerSlice(panels > 0 ? panels : n);
            int p0 = 0;
            do {
                boolean first = p0 == 0;
                int p1 = Math.min(k, p0 + kc);
                panelRows(a, ao, lda, b, bo, ldb, c, co, ldc, m, panels, k, p0, p1,
                        first ? beta : 1f, !first || accumulate, FULL);
                sixRows(a, ao, lda, b, bo, ldb, c, co, ldc, m, panels, panels + quads, k, p0, p1,
                        first ? beta : 1f, !first || accumulate);
                fourRows(a, ao, lda, b, bo, ldb, c, co, ldc, m, panels + quads, n, k, p0, p1,
                        first ? beta : 1f, !first || accumulate, FULL);
                p0 = p1;
            } while (p0 < k);
            return;
        }
        panelRows(a, ao, lda, b, bo, ldb, c, co, ldc, m, panels, k, 0, k, beta, accumulate, shape);
        fourRows(a, ao, lda, b, bo, ldb, c, co, ldc, m, panels, n, k, 0, k, beta, accumulate, shape);
    }

    /**
     * Columns [0, panels) of C (a multiple of 8 vectors), inner range [plo, phi), for FULL or a
     * triangular A: k3x8 on groups of three rows and k2x8 on the last two or four (so that M = 64
     * or 128 leaves no row to the one-row kernels, which load a B vector per FMA), the rows' own
     * corners of a triangle row by row.
     */
    private static void panelRows(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                                  int m, int panels, int k, int plo, int phi, float beta, boolean acc, int shape) {
        if (panels == 0) {
            return;
        }
        int pairs = m % 3 == 2 ? 1 : m % 3 == 1 && m >= 4 ? 2 : 0;
        int triples = (m - 2 * pairs) / 3, grouped = 3 * triples + 2 * pairs;
        for (int i0 = 0; i0 < grouped; ) {
            int g = i0 < 3 * triples ? 3 : 2;
            int lo = plo, hi = phi;
            float groupBeta = beta;
            boolean groupAcc = acc;
            if (shape == K_LOWER) {
                // The group's corner row by row, after the shared part, so that no row reads a B
                // row past its own diagonal (0 * NaN would leak a later token's NaN).
                hi = Math.min(k, i0);
            } else if (shape == K_UPPER) {
                for (int i = i0; i < i0 + g; i++) {
                    row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, 0, panels, Math.min(k, i), Math.min(k, i0 + g), beta, acc);
                }
                lo = Math.min(k, i0 + g);
                groupBeta = 1f;
                groupAcc = true;
            }
            int ar = ao + i0 * lda, cr = co + i0 * ldc;
            if (!groupAcc) {
                for (int i = 0; i < g; i++) {
                    Arrays.fill(c, cr + i * ldc, cr + i * ldc + panels, 0f);
                }
            }
            for (int j = 0; j < panels; j += 8 * L) {
                if (g == 3) {
                    k3x8(a, ar, lda, b, bo + j, ldb, c, cr + j, ldc, lo, hi, groupAcc ? groupBeta : 1f);
                } else {
                    k2x8(a, ar, lda, b, bo + j, ldb, c, cr + j, ldc, lo, hi, groupAcc ? groupBeta : 1f);
                }
            }
            if (shape == K_LOWER) {
                for (int i = i0; i < i0 + g; i++) {
                    row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, 0, panels, Math.min(k, i0), Math.min(k, i + 1), 1f, true);
                }
            }
            i0 += g;
        }
        for (int i = grouped; i < m; i++) {
            row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, 0, panels,
                    Math.max(plo, Kernels.innerLo(shape, i)), Math.min(phi, Kernels.innerHi(shape, i, 1, k)), beta, acc);
        }
    }

    /**
     * Columns [j0, j1) of a FULL product (a multiple of 4 vectors), inner range [plo, phi): k6x4 on
     * groups of six rows, the rows left over through the four-row kernels.
     */
    private static void sixRows(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                                int m, int j0, int j1, int k, int plo, int phi, float beta, boolean acc) {
        if (j0 >= j1) {
            return;
        }
        int m6 = m - m % 6;
        for (int i0 = 0; i0 < m6; i0 += 6) {
            int cr = co + i0 * ldc;
            if (!acc) {
                for (int i = 0; i < 6; i++) {
                    Arrays.fill(c, cr + i * ldc + j0, cr + i * ldc + j1, 0f);
                }
            }
            for (int j = j0; j < j1; j += 4 * L) {
                k6x4(a, ao + i0 * lda, lda, b, bo + j, ldb, c, cr + j, ldc, plo, phi, acc ? beta : 1f);
            }
        }
        fourRows(a, ao + m6 * lda, lda, b, bo, ldb, c, co + m6 * ldc, ldc, m - m6, j0, j1, k, plo, phi, beta, acc, FULL);
    }

    /** Columns [j0, n) of C, inner range [plo, phi), in groups of four rows; any shape. */
    private static void fourRows(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                                 int m, int j0, int n, int k, int plo, int phi, float beta, boolean acc, int shape) {
        if (j0 >= n) {
            return;
        }
        int m4 = m - m % 4;
        for (int i0 = 0; i0 < m4; i0 += 4) {
            int jlo = Math.max(j0, colLo(shape, i0)), jhi = colHi(shape, i0, 4, n);
            if (shape == K_LOWER) {
                // As in panelRows: the 4 x 4 corner row by row.
                rows4(a, ao, lda, b, bo, ldb, c, co, ldc, i0, jlo, jhi, 0, Math.min(k, i0), beta, acc);
                for (int i = i0; i < i0 + 4; i++) {
                    row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, jlo, jhi, Math.min(k, i0), Math.min(k, i + 1), 1f, true);
                }
            } else if (shape == K_UPPER) {
                for (int i = i0; i < i0 + 4; i++) {
                    row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, jlo, jhi, Math.min(k, i), Math.min(k, i0 + 4), beta, acc);
                }
                rows4(a, ao, lda, b, bo, ldb, c, co, ldc, i0, jlo, jhi, Math.min(k, i0 + 4), k, 1f, true);
            } else {
                rows4(a, ao, lda, b, bo, ldb, c, co, ldc, i0, jlo, jhi, plo, phi, beta, acc);
            }
        }
        for (int i = m4; i < m; i++) {
            int jlo = Math.max(j0, colLo(shape, i)), jhi = colHi(shape, i, 1, n);
            row1(a, ao, lda, b, bo, ldb, c, co, ldc, i, jlo, jhi,
                    Math.max(plo, Kernels.innerLo(shape, i)), Math.min(phi, Kernels.innerHi(shape, i, 1, k)), beta, acc);
        }
    }

    /**
     * Rows of B per slice, for products n columns wide: about 16 KiB of B for the four-row kernels,
     * 64 KiB for k3x8 (whose rows of C are reloaded per slice, so it gains more from longer slices
     * than it loses to L2 latency), at least 16 rows. The system property la2.cpu.kc overrides it.
     */
    private static int innerSlice(int n) {
        int floats = WIDE && n % (8 * L) == 0 ? 16384 : 4096;
        return KC > 0 ? KC : Math.max(16, floats / Math.max(1, n));
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
}
