package dev.la2.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Register-blocked products on the Vector API: each micro-kernel keeps a block of C in registers
 * for the whole inner loop, broadcasting one A element per row and loading one B vector per column
 * group (the i-k-j order, so no horizontal reductions). On 512-bit machines (32 registers) the
 * blocks are three rows by eight vectors (two for the last rows), or six rows by four vectors for
 * columns in groups of four; elsewhere, and for products whose output is a triangular score tile,
 * four rows by up to four vectors. Column tails use one masked vector; row tails use one-row
 * kernels.
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

    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    /** L shorts: half the float vector's bits (none below 128-bit floats, which keep the scalar loops). */
    private static final VectorSpecies<Short> H =
            F.vectorBitSize() >= 128 ? VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : null;

    /**
     * Columns in groups of four vectors, each group held in registers (v and the four output
     * accumulators) while it walks down all D rows of the state; leftover columns one masked vector
     * at a time. JMH DecodeBenchmark, B=16 H=8 D=E=128 on 2 AMD cores: 741 us a step when the
     * state was copied out, through two products and back; 177-233 us fused (a plain copy of the
     * state: 208-225 us).
     */
    @Override
    public void decodeStep(MemorySegment state, long offset, int d, int e, float lambda, float[] q, float[] k,
                           float[] v, float scale, float[] o) {
        ByteOrder order = ByteOrder.nativeOrder();
        int j = 0;
        for (; j + 4 * L <= e; j += 4 * L) {
            FloatVector v0 = FloatVector.fromArray(F, v, j), v1 = FloatVector.fromArray(F, v, j + L);
            FloatVector v2 = FloatVector.fromArray(F, v, j + 2 * L), v3 = FloatVector.fromArray(F, v, j + 3 * L);
            FloatVector o0 = FloatVector.zero(F), o1 = o0, o2 = o0, o3 = o0;
            long at = offset + 4L * j;
            for (int x = 0; x < d; x++, at += 4L * e) {
                FloatVector kx = FloatVector.broadcast(F, k[x]), qx = FloatVector.broadcast(F, q[x]);
                FloatVector s0 = v0.fma(kx, FloatVector.fromMemorySegment(F, state, at, order).mul(lambda));
                FloatVector s1 = v1.fma(kx, FloatVector.fromMemorySegment(F, state, at + 4L * L, order).mul(lambda));
                FloatVector s2 = v2.fma(kx, FloatVector.fromMemorySegment(F, state, at + 8L * L, order).mul(lambda));
                FloatVector s3 = v3.fma(kx, FloatVector.fromMemorySegment(F, state, at + 12L * L, order).mul(lambda));
                s0.intoMemorySegment(state, at, order);
                s1.intoMemorySegment(state, at + 4L * L, order);
                s2.intoMemorySegment(state, at + 8L * L, order);
                s3.intoMemorySegment(state, at + 12L * L, order);
                o0 = s0.fma(qx, o0);
                o1 = s1.fma(qx, o1);
                o2 = s2.fma(qx, o2);
                o3 = s3.fma(qx, o3);
            }
            o0.mul(scale).intoArray(o, j);
            o1.mul(scale).intoArray(o, j + L);
            o2.mul(scale).intoArray(o, j + 2 * L);
            o3.mul(scale).intoArray(o, j + 3 * L);
        }
        for (; j < e; j += L) {
            VectorMask<Float> m = F.indexInRange(j, e);
            FloatVector vj = FloatVector.fromArray(F, v, j, m);
            FloatVector acc = FloatVector.zero(F);
            long at = offset + 4L * j;
            for (int x = 0; x < d; x++, at += 4L * e) {
                FloatVector s = vj.fma(FloatVector.broadcast(F, k[x]),
                        FloatVector.fromMemorySegment(F, state, at, order, m).mul(lambda));
                s.intoMemorySegment(state, at, order, m);
                acc = s.fma(FloatVector.broadcast(F, q[x]), acc);
            }
            acc.mul(scale).intoArray(o, j, m);
        }
    }

    /** bf16 is the high half of a float: widen each short to an int and shift it into place. */
    @Override
    public void widenBf16(MemorySegment seg, long offset, float[] dst, int at, int n) {
        if (H == null) {
            Kernels.super.widenBf16(seg, offset, dst, at, n);
            return;
        }
        int i = 0;
        for (; i + L <= n; i += L) {
            ShortVector s = ShortVector.fromMemorySegment(H, seg, offset + 2L * i, ByteOrder.nativeOrder());
            ((IntVector) s.convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats().intoArray(dst, at + i);
        }
        Kernels.super.widenBf16(seg, offset + 2L * i, dst, at + i, n - i);
    }

    /**
     * Round to nearest even on the bits (add 0x7FFF plus the lowest kept bit, keep the high half),
     * a NaN truncated with a mantissa bit set so it stays a NaN: {@code HalfFloats.toBf16} lane by
     * lane (the element loop is not vectorized by the JIT: 1.2 ns against 0.14 ns per element).
     */
    @Override
    public void narrowBf16(float[] src, int at, MemorySegment seg, long offset, int n) {
        if (H == null) {
            Kernels.super.narrowBf16(src, at, seg, offset, n);
            return;
        }
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector f = FloatVector.fromArray(F, src, at + i);
            IntVector bits = f.reinterpretAsInts();
            IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
            IntVector rounded = bits.add(high.and(1)).add(0x7FFF).lanewise(VectorOperators.LSHR, 16);
            IntVector kept = rounded.blend(high.or(0x40), f.test(VectorOperators.IS_NAN).cast(I));
            kept.convertShape(VectorOperators.I2S, H, 0).reinterpretAsShorts()
                    .intoMemorySegment(seg, offset + 2L * i, ByteOrder.nativeOrder());
        }
        Kernels.super.narrowBf16(src, at + i, seg, offset + 2L * i, n - i);
    }

    /**
     * The row-scaled copy in vector loops: C2 left the interface's scalar loop unvectorized (JFR,
     * one thread, N=4096 forward: 6% of the samples in that loop, for 8K floats a block).
     */
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

    /** Doubles in the float vector's bits: each float vector widens into two of these. */
    private static final VectorSpecies<Double> DOUBLES =
            F.vectorBitSize() >= 128 ? VectorSpecies.of(double.class, VectorShape.forBitSize(F.vectorBitSize())) : null;

    /**
     * Both halves of each float vector widened to doubles, so products and sums stay exact to
     * double's precision as in the scalar default (the decay gradient's per-block dots, D x E
     * for the state term: the scalar loop was about 10% of a learnable-decay backward).
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
     * The decay masks and the per-token weights in vector loops: C2 left the plain loops, which
     * read a second float array at a shifting offset, scalar (one Zen 4 core: about 5 us of a
     * block's 75 for the forward's column weights alone).
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

    /**
     * L x L tiles (L = 8 or 16) are transposed in registers: log2(L) rounds of two-source lane
     * selections, each swapping blocks half as wide as the last between rows that far apart. One
     * AMD Zen 4 core, 64 x 128 and 128 x 128 floats: 0.17-0.22 ns per element, against 0.45 for
     * one gather per column (gathers on Zen 4 fetch a lane at a time). Leftover columns of a full
     * group of rows still go by gathers, leftover rows one element at a time.
     */
    @Override
    public void transpose(float[] src, int rows, int cols, float[] dst, int ldd) {
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
     * Lane indexes for transpose round r (blocks of w = L / 2^(r+1) lanes) over a row pair (x, y),
     * where 0..L-1 name x's lanes and L..2L-1 y's: the pair's first row becomes x's even blocks
     * interleaved with y's, the second x's odd blocks with y's.
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
        // Round 0: swap 8-lane blocks between rows 8 apart.
        { FloatVector x = r0, y = r8; r0 = FIRST0.selectFrom(x, y); r8 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r1, y = r9; r1 = FIRST0.selectFrom(x, y); r9 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r2, y = r10; r2 = FIRST0.selectFrom(x, y); r10 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r3, y = r11; r3 = FIRST0.selectFrom(x, y); r11 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r4, y = r12; r4 = FIRST0.selectFrom(x, y); r12 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r5, y = r13; r5 = FIRST0.selectFrom(x, y); r13 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r6, y = r14; r6 = FIRST0.selectFrom(x, y); r14 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r7, y = r15; r7 = FIRST0.selectFrom(x, y); r15 = SECOND0.selectFrom(x, y); }
        // Round 1: swap 4-lane blocks between rows 4 apart.
        { FloatVector x = r0, y = r4; r0 = FIRST1.selectFrom(x, y); r4 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r1, y = r5; r1 = FIRST1.selectFrom(x, y); r5 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r2, y = r6; r2 = FIRST1.selectFrom(x, y); r6 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r3, y = r7; r3 = FIRST1.selectFrom(x, y); r7 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r8, y = r12; r8 = FIRST1.selectFrom(x, y); r12 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r9, y = r13; r9 = FIRST1.selectFrom(x, y); r13 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r10, y = r14; r10 = FIRST1.selectFrom(x, y); r14 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r11, y = r15; r11 = FIRST1.selectFrom(x, y); r15 = SECOND1.selectFrom(x, y); }
        // Round 2: swap 2-lane blocks between rows 2 apart.
        { FloatVector x = r0, y = r2; r0 = FIRST2.selectFrom(x, y); r2 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r1, y = r3; r1 = FIRST2.selectFrom(x, y); r3 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r4, y = r6; r4 = FIRST2.selectFrom(x, y); r6 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r5, y = r7; r5 = FIRST2.selectFrom(x, y); r7 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r8, y = r10; r8 = FIRST2.selectFrom(x, y); r10 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r9, y = r11; r9 = FIRST2.selectFrom(x, y); r11 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r12, y = r14; r12 = FIRST2.selectFrom(x, y); r14 = SECOND2.selectFrom(x, y); }
        { FloatVector x = r13, y = r15; r13 = FIRST2.selectFrom(x, y); r15 = SECOND2.selectFrom(x, y); }
        // Round 3: swap 1-lane blocks between rows 1 apart.
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
        // Round 0: swap 4-lane blocks between rows 4 apart.
        { FloatVector x = r0, y = r4; r0 = FIRST0.selectFrom(x, y); r4 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r1, y = r5; r1 = FIRST0.selectFrom(x, y); r5 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r2, y = r6; r2 = FIRST0.selectFrom(x, y); r6 = SECOND0.selectFrom(x, y); }
        { FloatVector x = r3, y = r7; r3 = FIRST0.selectFrom(x, y); r7 = SECOND0.selectFrom(x, y); }
        // Round 1: swap 2-lane blocks between rows 2 apart.
        { FloatVector x = r0, y = r2; r0 = FIRST1.selectFrom(x, y); r2 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r1, y = r3; r1 = FIRST1.selectFrom(x, y); r3 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r4, y = r6; r4 = FIRST1.selectFrom(x, y); r6 = SECOND1.selectFrom(x, y); }
        { FloatVector x = r5, y = r7; r5 = FIRST1.selectFrom(x, y); r7 = SECOND1.selectFrom(x, y); }
        // Round 2: swap 1-lane blocks between rows 1 apart.
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
        // On 512-bit machines, whole panels of 8 vectors of a product whose output is full go
        // through k3x8, three rows at a time; the rest of the columns through the four-row kernels.
        int panels = WIDE && shape != OUT_LOWER && shape != OUT_UPPER ? n - n % (8 * L) : 0;
        if (shape == FULL) {
            // Then whole groups of 4 vectors (D or E = 64 at 512 bits) through k6x4, six rows at a time.
            int quads = WIDE ? (n - panels) - (n - panels) % (4 * L) : 0;
            // Inner dimension in chunks, outermost, so that the rows of B one chunk reads stay in
            // cache while every block of rows passes over them (B is the D x E state in the big
            // products).
            int kc = innerChunk(panels > 0 ? panels : n);
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
     * Rows of B per chunk, for products n columns wide: about 16 KiB of B for the four-row kernels,
     * 64 KiB for k3x8 (whose C block is reloaded per chunk, so it gains from longer chunks more than
     * it loses to L2 latency: 103 against 93 GFLOP/s on a 96 x 128 x 128 product here), at least
     * 16 rows. The system property la2.cpu.kc overrides it.
     */
    private static int innerChunk(int n) {
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

    /**
     * Three rows by eight vectors: 24 accumulators, and each B vector feeds three FMAs as soon as it
     * is loaded, so with the three broadcasts 28 of the 32 registers are live. Against k4x4 (16 accumulators, a broadcast
     * for every four FMAs) it cuts the broadcasts per FMA from 1/4 to 1/8: the state products went
     * from 72 to 100 GFLOP/s on one AMD core whose FMA peak is 115 (M=96, N=K=128).
     * It always accumulates onto beta C: the caller zeroes C for an overwriting product. (A choice
     * between loading and zero per accumulator, as the other kernels make, took C2 past its node
     * budget for inlining: boxed vectors, 10x slower.)
     */
    private static void k3x8(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
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

    /** Two rows by eight vectors, for the rows k3x8's groups of three leave: 16 accumulators, as k4x4, with half the B loads per FMA of one-row kernels. */
    private static void k2x8(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
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
    private static void k6x4(float[] a, int ar, int lda, float[] b, int bc, int ldb, float[] c, int cr, int ldc,
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
