package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.Species.F;
import static dev.la2.backend.cpu.Species.L;

import jdk.incubator.vector.FloatVector;

/** The transposes of the Vector API kernels: L x L tiles in registers, the rest by gathers and element by element. */
final class RegisterTranspose {
    private RegisterTranspose() {
    }

    /**
     * dst[j][i] = src[i][j] (see {@link Kernels#transpose}). L x L tiles (L = 8 or 16) are
     * transposed in registers: log2(L) rounds of two-source lane selections, each swapping lane
     * groups half as wide as the last between rows that far apart. That beats one gather per column
     * several times over where gathers fetch a lane at a time (AMD Zen 4). Leftover columns of a full
     * group of rows still go by gathers, leftover rows one element at a time.
     */
    static void transpose(float[] src, int rows, int cols, float[] dst, int ldd) {
        int fullRows = rows - rows % L;
        int tiledCols = L == 8 || L == 16 ? cols - cols % L : 0;
        // Gather indexes only where columns are left over (allocated per call, so not for the tiles).
        int[] map = tiledCols < cols && fullRows > 0 ? new int[L] : null;
        for (int r = 0; map != null && r < L; r++) {
            map[r] = r * cols;
        }
        for (int i = 0; i < fullRows; i += L) {
            int base = i * cols;
            for (int j = 0; j < tiledCols; j += L) {
                if (L == 16) {
                    tile16(src, base + j, cols, dst, j * ldd + i, ldd);
                } else {
                    tile8(src, base + j, cols, dst, j * ldd + i, ldd);
                }
            }
            for (int j = tiledCols; j < cols; j++) {
                FloatVector.fromArray(F, src, base + j, map, 0).intoArray(dst, j * ldd + i);
            }
        }
        // The gather checks every lane's index even under a mask, so the last rows go one by one.
        for (int i = fullRows; i < rows; i++) {
            int base = i * cols;
            for (int j = 0; j < cols; j++) {
                dst[j * ldd + i] = src[base + j];
            }
        }
    }

    /**
     * Lane indexes for transpose round r (groups of w = L / 2^(r+1) lanes) over a row pair (x, y),
     * where 0..L-1 name x's lanes and L..2L-1 y's: the pair's first row becomes x's even groups
     * interleaved with y's, the second x's odd groups with y's.
     */
    private static FloatVector transposeRound(int round, boolean first) {
        int w = Math.max(1, L >> (round + 1));
        float[] index = new float[L];
        for (int lane = 0; lane < L; lane++) {
            boolean even = (lane & w) == 0;
            index[lane] = first ? (even ? lane : L + lane - w) : (even ? lane + w : L + lane);
        }
        return FloatVector.fromArray(F, index, 0);
    }

    private static final FloatVector FIRST0 = transposeRound(0, true), SECOND0 = transposeRound(0, false);
    private static final FloatVector FIRST1 = transposeRound(1, true), SECOND1 = transposeRound(1, false);
    private static final FloatVector FIRST2 = transposeRound(2, true), SECOND2 = transposeRound(2, false);
    private static final FloatVector FIRST3 = transposeRound(3, true), SECOND3 = transposeRound(3, false);

    private static void tile16(float[] src, int so, int lds, float[] dst, int dOff, int ldd) {
        FloatVector r0 = FloatVector.fromArray(F, src, so + 0 * lds), r1 = FloatVector.fromArray(F, src, so + 1 * lds);
        FloatVector r2 = FloatVector.fromArray(F, src, so + 2 * lds), r3 = FloatVector.fromArray(F, src, so + 3 * lds);
        FloatVector r4 = FloatVector.fromArray(F, src, so + 4 * lds), r5 = FloatVector.fromArray(F, src, so + 5 * lds);
        FloatVector r6 = FloatVector.fromArray(F, src, so + 6 * lds), r7 = FloatVector.fromArray(F, src, so + 7 * lds);
        FloatVector r8 = FloatVector.fromArray(F, src, so + 8 * lds), r9 = FloatVector.fromArray(F, src, so + 9 * lds);
        FloatVector r10 = FloatVector.fromArray(F, src, so + 10 * lds), r11 = FloatVector.fromArray(F, src, so + 11 * lds);
        FloatVector r12 = FloatVector.fromArray(F, src, so + 12 * lds), r13 = FloatVector.fromArray(F, src, so + 13 * lds);
        FloatVector r14 = FloatVector.fromArray(F, src, so + 14 * lds), r15 = FloatVector.fromArray(F, src, so + 15 * lds);
        // Round 0: swap 8-lane groups between rows 8 apart.
        { FloatVector x = r0, y = r8; r0 = FIRST0.selectFrom(x, y); r8 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r1, y = r9; r1 = FIRST0.selectFrom(x, y); r9 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r2, y = r10; r2 = FIRST0.selectFrom(x, y); r10 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r3, y = r11; r3 = FIRST0.selectFrom(x, y); r11 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r4, y = r12; r4 = FIRST0.selectFrom(x, y); r12 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r5, y = r13; r5 = FIRST0.selectFrom(x, y); r13 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r6, y = r14; r6 = FIRST0.selectFrom(x, y); r14 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r7, y = r15; r7 = FIRST0.selectFrom(x, y); r15 = SECOND0.selectFrom(x, y); }
        // Round 1: swap 4-lane groups between rows 4 apart.
        { FloatVector x = r0, y = r4; r0 = FIRST1.selectFrom(x, y); r4 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r1, y = r5; r1 = FIRST1.selectFrom(x, y); r5 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r2, y = r6; r2 = FIRST1.selectFrom(x, y); r6 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r3, y = r7; r3 = FIRST1.selectFrom(x, y); r7 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r8, y = r12; r8 = FIRST1.selectFrom(x, y); r12 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r9, y = r13; r9 = FIRST1.selectFrom(x, y); r13 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r10, y = r14; r10 = FIRST1.selectFrom(x, y); r14 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r11, y = r15; r11 = FIRST1.selectFrom(x, y); r15 = SECOND1.selectFrom(x, y); }
        // Round 2: swap 2-lane groups between rows 2 apart.
        { FloatVector x = r0, y = r2; r0 = FIRST2.selectFrom(x, y); r2 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r1, y = r3; r1 = FIRST2.selectFrom(x, y); r3 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r4, y = r6; r4 = FIRST2.selectFrom(x, y); r6 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r5, y = r7; r5 = FIRST2.selectFrom(x, y); r7 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r8, y = r10; r8 = FIRST2.selectFrom(x, y); r10 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r9, y = r11; r9 = FIRST2.selectFrom(x, y); r11 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r12, y = r14; r12 = FIRST2.selectFrom(x, y); r14 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r13, y = r15; r13 = FIRST2.selectFrom(x, y); r15 = SECOND2.selectFrom(x, y); }
        // Round 3: swap 1-lane groups between rows 1 apart.
        { FloatVector x = r0, y = r1; r0 = FIRST3.selectFrom(x, y); r1 = SECOND3.selectFrom(x, y); }
        { FloatVector x = r2, y = r3; r2 = FIRST3.selectFrom(x, y); r3 = SECOND3.selectFrom(x, y); }
        { FloatVector x = r4, y = r5; r4 = FIRST3.selectFrom(x, y); r5 = SECOND3.selectFrom(x, y); }
        { FloatVector x = r6, y = r7; r6 = FIRST3.selectFrom(x, y); r7 = SECOND3.selectFrom(x, y); }
        { FloatVector x = r8, y = r9; r8 = FIRST3.selectFrom(x, y); r9 = SECOND3.selectFrom(x, y); }
        { FloatVector x = r10, y = r11; r10 = FIRST3.selectFrom(x, y); r11 = SECOND3.selectFrom(x, y); }
        { FloatVector x = r12, y = r13; r12 = FIRST3.selectFrom(x, y); r13 = SECOND3.selectFrom(x, y); }
        { FloatVector x = r14, y = r15; r14 = FIRST3.selectFrom(x, y); r15 = SECOND3.selectFrom(x, y); }
        r0.intoArray(dst, dOff + 0 * ldd);
        r1.intoArray(dst, dOff + 1 * ldd);
        r2.intoArray(dst, dOff + 2 * ldd);
        r3.intoArray(dst, dOff + 3 * ldd);
        r4.intoArray(dst, dOff + 4 * ldd);
        r5.intoArray(dst, dOff + 5 * ldd);
        r6.intoArray(dst, dOff + 6 * ldd);
        r7.intoArray(dst, dOff + 7 * ldd);
        r8.intoArray(dst, dOff + 8 * ldd);
        r9.intoArray(dst, dOff + 9 * ldd);
        r10.intoArray(dst, dOff + 10 * ldd);
        r11.intoArray(dst, dOff + 11 * ldd);
        r12.intoArray(dst, dOff + 12 * ldd);
        r13.intoArray(dst, dOff + 13 * ldd);
        r14.intoArray(dst, dOff + 14 * ldd);
        r15.intoArray(dst, dOff + 15 * ldd);
    }

    private static void tile8(float[] src, int so, int lds, float[] dst, int dOff, int ldd) {
        FloatVector r0 = FloatVector.fromArray(F, src, so + 0 * lds), r1 = FloatVector.fromArray(F, src, so + 1 * lds);
        FloatVector r2 = FloatVector.fromArray(F, src, so + 2 * lds), r3 = FloatVector.fromArray(F, src, so + 3 * lds);
        FloatVector r4 = FloatVector.fromArray(F, src, so + 4 * lds), r5 = FloatVector.fromArray(F, src, so + 5 * lds);
        FloatVector r6 = FloatVector.fromArray(F, src, so + 6 * lds), r7 = FloatVector.fromArray(F, src, so + 7 * lds);
        // Round 0: swap 4-lane groups between rows 4 apart.
        { FloatVector x = r0, y = r4; r0 = FIRST0.selectFrom(x, y); r4 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r1, y = r5; r1 = FIRST0.selectFrom(x, y); r5 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r2, y = r6; r2 = FIRST0.selectFrom(x, y); r6 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r3, y = r7; r3 = FIRST0.selectFrom(x, y); r7 = SECOND0.selectFrom(x, y); }
        // Round 1: swap 2-lane groups between rows 2 apart.
        { FloatVector x = r0, y = r2; r0 = FIRST1.selectFrom(x, y); r2 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r1, y = r3; r1 = FIRST1.selectFrom(x, y); r3 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r4, y = r6; r4 = FIRST1.selectFrom(x, y); r6 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r5, y = r7; r5 = FIRST1.selectFrom(x, y); r7 = SECOND1.selectFrom(x, y); }
        // Round 2: swap 1-lane groups between rows 1 apart.
        { FloatVector x = r0, y = r1; r0 = FIRST2.selectFrom(x, y); r1 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r2, y = r3; r2 = FIRST2.selectFrom(x, y); r3 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r4, y = r5; r4 = FIRST2.selectFrom(x, y); r5 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r6, y = r7; r6 = FIRST2.selectFrom(x, y); r7 = SECOND2.selectFrom(x, y); }
        r0.intoArray(dst, dOff + 0 * ldd);
        r1.intoArray(dst, dOff + 1 * ldd);
        r2.intoArray(dst, dOff + 2 * ldd);
        r3.intoArray(dst, dOff + 3 * ldd);
        r4.intoArray(dst, dOff + 4 * ldd);
        r5.intoArray(dst, dOff + 5 * ldd);
        r6.intoArray(dst, dOff + 6 * ldd);
        r7.intoArray(dst, dOff + 7 * ldd);
    }
}
