package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.la2.spi.HalfFloats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The micro-kernels against plain double loops, on sizes around the vector lengths, so that every
 * tail path (masked columns, single rows, left-over transpose rows) is reached. The surefire run
 * at 256 bits repeats this for the 8-lane kernels.
 */
class KernelsTest {
    /** Extents around every blocking boundary: vectors, four-row groups, k3x8's three rows and k6x4's six, 8-vector panels (128 and 256 columns at 512 bits) and 4-vector ones (64, 192). */
    private static final int[] SIZES = {1, 3, 4, 5, 6, 8, 15, 16, 17, 31, 32, 33, 64, 65, 70, 127, 128, 129, 130, 192, 256, 259};
    private static final int[] SHAPES = {Kernels.FULL, Kernels.OUT_LOWER, Kernels.OUT_UPPER, Kernels.K_LOWER, Kernels.K_UPPER};

    static Stream<Kernels> kernels() {
        return Stream.of(new VectorKernels(), new ScalarKernels("test"));
    }

    @Test
    void speciesFollowsTheVectorBitsProperty() {
        int expected = Integer.getInteger(CpuProvider.VECTOR_BITS_PROPERTY, FloatVector.SPECIES_PREFERRED.vectorBitSize());
        assertThat(Species.F.vectorBitSize()).isEqualTo(expected);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void productsMatchPlainLoopsForEveryShape(Kernels kx) {
        SplittableRandom rng = new SplittableRandom();
        int checked = 0;
        for (int shape : SHAPES) {
            for (int trial = 0; trial < 80; trial++) {
                int m = pick(rng), n = pick(rng), k = pick(rng);
                if (shape == Kernels.K_LOWER || shape == Kernels.K_UPPER) {
                    k = m;
                }
                if (shape == Kernels.OUT_LOWER || shape == Kernels.OUT_UPPER) {
                    n = m;
                }
                checked += checkProduct(kx, rng, shape, m, n, k);
            }
        }
        assertThat(checked).isGreaterThan(1000);
    }

    private static int pick(SplittableRandom rng) {
        return SIZES[rng.nextInt(SIZES.length)];
    }

    private static int checkProduct(Kernels kx, SplittableRandom rng, int shape, int m, int n, int k) {
        int lda = k + rng.nextInt(3), ldb = n + rng.nextInt(3), ldc = n + rng.nextInt(3);
        int ao = rng.nextInt(4), bo = rng.nextInt(4), co = rng.nextInt(4);
        float[] a = random(rng, ao + m * lda), b = random(rng, bo + k * ldb);
        float[] c = random(rng, co + m * ldc), before = c.clone();
        double[][] logicalA = new double[m][k];
        for (int i = 0; i < m; i++) {
            for (int p = 0; p < k; p++) {
                int at = ao + i * lda + p;
                boolean zero = shape == Kernels.K_LOWER && p > i || shape == Kernels.K_UPPER && p < i;
                if (zero) {
                    a[at] = 0f;
                }
                logicalA[i][p] = a[at];
            }
        }
        float beta = rng.nextBoolean() ? 1f : 0.75f;
        boolean accumulate = rng.nextBoolean();
        kx.gemm(a, ao, lda, b, bo, ldb, c, co, ldc, m, n, k, beta, accumulate, shape);
        int checked = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                boolean wanted = shape == Kernels.OUT_LOWER ? j <= i : shape != Kernels.OUT_UPPER || j >= i;
                if (!wanted) {
                    continue;
                }
                double want = accumulate ? beta * (double) before[co + i * ldc + j] : 0;
                for (int p = 0; p < k; p++) {
                    want += logicalA[i][p] * b[bo + p * ldb + j];
                }
                assertThat((double) c[co + i * ldc + j])
                        .as("%s shape %d m=%d n=%d k=%d at (%d, %d)", kx.describe(), shape, m, n, k, i, j)
                        .isCloseTo(want, within(1e-5 * (1 + k)));
                checked++;
            }
        }
        // Padding between rows and before the first element is never written.
        for (int x = 0; x < co; x++) {
            assertThat(c[x]).isEqualTo(before[x]);
        }
        for (int i = 0; i < m; i++) {
            for (int j = n; j < ldc && co + i * ldc + j < c.length; j++) {
                assertThat(c[co + i * ldc + j]).as("padding (%d, %d)", i, j).isEqualTo(before[co + i * ldc + j]);
            }
        }
        return checked;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void transposesMatchPlainLoops(Kernels kx) {
        SplittableRandom rng = new SplittableRandom();
        int[] extents = {1, 7, 8, 9, 15, 16, 17, 32, 33, 64, 128, 130};
        for (int rows : extents) {
            for (int cols : extents) {
                int ldd = rows + rng.nextInt(3);
                float[] src = random(rng, rows * cols), dst = random(rng, cols * ldd), before = dst.clone();
                kx.transpose(src, rows, cols, dst, ldd);
                for (int j = 0; j < cols; j++) {
                    for (int i = 0; i < ldd; i++) {
                        int at = j * ldd + i;
                        float want = i < rows ? src[i * cols + j] : before[at];
                        assertThat(dst[at]).as("%s transpose %dx%d at (%d, %d)", kx.describe(), rows, cols, j, i)
                                .isEqualTo(want);
                    }
                }
            }
        }
    }

    /** The decay masks and column weights against plain loops, on every row and column tail; padding untouched. */
    @ParameterizedTest
    @MethodSource("kernels")
    void masksAndColumnWeightsMatchPlainLoops(Kernels kx) {
        SplittableRandom rng = new SplittableRandom();
        for (int n : new int[] {1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65}) {
            int c = n + rng.nextInt(3), lda = n + rng.nextInt(3);
            float[] coef = random(rng, c + 1), coefRev = new float[c];
            for (int m = 0; m < c; m++) {
                coefRev[m] = coef[c - 1 - m];
            }
            float[] lower = random(rng, n * lda), upper = random(rng, n * lda), cols = random(rng, n * lda);
            float[] before = lower.clone(), beforeUpper = upper.clone(), beforeCols = cols.clone();
            int wo = rng.nextInt(2);
            kx.maskLower(lower, lda, n, coefRev, c);
            kx.maskUpper(upper, lda, n, coef);
            kx.scaleColumns(cols, n, n, lda, coef, wo);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < lda; j++) {
                    int at = i * lda + j;
                    String where = kx.describe() + " n=" + n + " at (" + i + ", " + j + ")";
                    boolean inside = j < n;
                    assertThat(lower[at]).as("lower %s", where)
                            .isEqualTo(!inside ? before[at] : j <= i ? before[at] * coef[i - j] : 0f);
                    assertThat(upper[at]).as("upper %s", where)
                            .isEqualTo(!inside ? beforeUpper[at] : j >= i ? beforeUpper[at] * coef[j - i] : 0f);
                    assertThat(cols[at]).as("columns %s", where)
                            .isEqualTo(!inside ? beforeCols[at] : beforeCols[at] * coef[wo + j]);
                }
            }
        }
    }

    /** Dots in double against exact sums (BigDecimal), on every tail and offset. */
    @ParameterizedTest
    @MethodSource("kernels")
    void dotsAreExactToDoublePrecision(Kernels kx) {
        SplittableRandom rng = new SplittableRandom();
        for (int n : new int[] {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 127, 128, 130, 16384}) {
            int xo = rng.nextInt(3), yo = rng.nextInt(3);
            float[] x = random(rng, xo + n), y = random(rng, yo + n);
            java.math.BigDecimal exact = java.math.BigDecimal.ZERO;
            double size = 0;
            for (int i = 0; i < n; i++) {
                exact = exact.add(new java.math.BigDecimal(x[xo + i]).multiply(new java.math.BigDecimal(y[yo + i])));
                size += Math.abs((double) x[xo + i] * y[yo + i]);
            }
            assertThat(kx.dot(x, xo, y, yo, n)).as("%s dot n=%d", kx.describe(), n)
                    .isCloseTo(exact.doubleValue(), within(1e-15 * (1 + size) * Math.sqrt(1 + n)));
        }
    }

    /** The double-carried state update against a plain double loop, on every tail; nothing past n touched. */
    @ParameterizedTest
    @MethodSource("kernels")
    void wideAccumulationMatchesDoubleLoop(Kernels kx) {
        SplittableRandom rng = new SplittableRandom();
        for (int n : SIZES) {
            double decay = rng.nextDouble();
            float[] add = random(rng, n + 1), rounded = random(rng, n + 1);
            double[] acc = new double[n + 1];
            for (int i = 0; i <= n; i++) {
                acc[i] = rng.nextGaussian() * 100;
            }
            double[] before = acc.clone();
            float guard = rounded[n];
            kx.accumulateWide(acc, decay, add, rounded, n);
            for (int i = 0; i < n; i++) {
                double want = decay * before[i] + add[i];
                String where = kx.describe() + " n=" + n + " at " + i;
                assertThat(acc[i]).as("acc %s", where).isCloseTo(want, within(1e-15 * (Math.abs(want) + Math.abs(add[i]))));
                assertThat(rounded[i]).as("rounded %s", where).isEqualTo((float) acc[i]);
            }
            assertThat(acc[n]).as("acc past n").isEqualTo(before[n]);
            assertThat(rounded[n]).as("rounded past n").isEqualTo(guard);
        }
    }

    /** The in-place decode step against double loops, on every column tail; bytes around the state untouched. */
    @ParameterizedTest
    @MethodSource("kernels")
    void decodeStepMatchesPlainLoops(Kernels kx) {
        SplittableRandom rng = new SplittableRandom();
        try (Arena arena = Arena.ofConfined()) {
            for (int d : new int[] {1, 5, 16, 33, 128}) {
                for (int e : SIZES) {
                    long offset = 4L * rng.nextInt(3);
                    int pad = 2;
                    MemorySegment state = arena.allocate(offset + 4L * (d * e + pad), 4);
                    state.fill((byte) 0x5A);
                    float[] before = random(rng, d * e);
                    MemorySegment.copy(before, 0, state, Rows.F32, offset, d * e);
                    float[] q = random(rng, d), k = random(rng, d), v = random(rng, e), o = random(rng, e + 1);
                    float lambda = (float) rng.nextDouble(0.5, 1.0), scale = (float) rng.nextDouble(0.5, 2.0);
                    float guard = o[e];
                    kx.decodeStep(state, offset, d, e, lambda, q, k, v, scale, o);
                    String what = kx.describe() + " decode d=" + d + " e=" + e;
                    for (int j = 0; j < e; j++) {
                        double want = 0;
                        for (int x = 0; x < d; x++) {
                            double sNew = (double) lambda * before[x * e + j] + (double) k[x] * v[j];
                            assertThat((double) state.get(Rows.F32, offset + 4L * (x * e + j)))
                                    .as("%s state (%d, %d)", what, x, j).isCloseTo(sNew, within(1e-5 * (1 + Math.abs(sNew))));
                            want += q[x] * sNew;
                        }
                        assertThat((double) o[j]).as("%s o[%d]", what, j).isCloseTo(scale * want, within(1e-5 * (1 + d)));
                    }
                    assertThat(o[e]).as("%s: o past E", what).isEqualTo(guard);
                    assertUntouched(state, 0, offset, what);
                    assertUntouched(state, offset + 4L * d * e, state.byteSize(), what);
                }
            }
        }
    }

    /** Values where rounding to 16 bits has a decision to make. */
    private static final int[] SPECIAL_BITS = {
        0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF, 0x7F800000, 0xFF800000, 0x00000000, 0x80000000,
        0x7F7FFFFF, 0x00000001, 0x807FFFFF, 0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0x477FF000,
        0x477FEFFF, 0x38800000, 0x33800000, 0x33000000, 0x3F801000, 0x3F803000};

    /**
     * bf16 and fp16 rows in and out, bit for bit against {@link HalfFloats} and the JDK's fp16
     * conversions (NaN payloads, infinities, ties, overflow and subnormals included), on every
     * tail length; bytes next to the run are never touched.
     */
    @ParameterizedTest
    @MethodSource("kernels")
    void halfConversionsMatchTheScalarDefinitions(Kernels kx) {
        SplittableRandom rng = new SplittableRandom();
        try (Arena arena = Arena.ofConfined()) {
            for (int n : new int[] {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 127, 128, 130}) {
                int at = rng.nextInt(3), pad = 3;
                long offset = 2L * rng.nextInt(4);
                MemorySegment seg = arena.allocate(offset + 2L * (n + pad), 2);
                float[] src = new float[at + n];
                for (int i = 0; i < n; i++) {
                    src[at + i] = rng.nextInt(4) == 0
                            ? Float.intBitsToFloat(SPECIAL_BITS[rng.nextInt(SPECIAL_BITS.length)])
                            : (float) (rng.nextGaussian() * Math.pow(2, rng.nextInt(-30, 30)));
                }
                for (boolean bf16 : new boolean[] {true, false}) {
                    String what = kx.describe() + (bf16 ? " bf16" : " fp16") + " n=" + n;
                    seg.fill((byte) 0x5A);
                    if (bf16) {
                        kx.narrowBf16(src, at, seg, offset, n);
                    } else {
                        kx.narrowFp16(src, at, seg, offset, n);
                    }
                    for (int i = 0; i < n; i++) {
                        short want = bf16 ? HalfFloats.toBf16(src[at + i]) : Float.floatToFloat16(src[at + i]);
                        assertThat(seg.get(Rows.HALF, offset + 2L * i)).as("%s narrow %s [%d]", what,
                                Integer.toHexString(Float.floatToRawIntBits(src[at + i])), i).isEqualTo(want);
                    }
                    assertUntouched(seg, 0, offset, what);
                    assertUntouched(seg, offset + 2L * n, seg.byteSize(), what);

                    for (int i = 0; i < n; i++) {
                        seg.set(Rows.HALF, offset + 2L * i, (short) rng.nextInt());
                    }
                    float[] dst = random(rng, at + n + pad), before = dst.clone();
                    if (bf16) {
                        kx.widenBf16(seg, offset, dst, at, n);
                    } else {
                        kx.widenFp16(seg, offset, dst, at, n);
                    }
                    for (int i = 0; i < dst.length; i++) {
                        int want;
                        if (i < at || i >= at + n) {
                            want = Float.floatToRawIntBits(before[i]);
                        } else {
                            short h = seg.get(Rows.HALF, offset + 2L * (i - at));
                            want = Float.floatToRawIntBits(bf16 ? HalfFloats.fromBf16(h) : Float.float16ToFloat(h));
                        }
                        assertThat(Float.floatToRawIntBits(dst[i])).as("%s widen [%d]", what, i).isEqualTo(want);
                    }
                }
            }
        }
    }

    private static void assertUntouched(MemorySegment seg, long from, long to, String what) {
        for (long x = from; x < to; x++) {
            assertThat(seg.get(ValueLayout.JAVA_BYTE, x)).as("%s byte %d", what, x).isEqualTo((byte) 0x5A);
        }
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rng.nextGaussian();
        }
        return x;
    }
}
