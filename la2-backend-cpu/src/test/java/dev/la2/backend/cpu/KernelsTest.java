package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The micro-kernels against plain double loops, on sizes around the vector lengths, so that every
 * tail path (masked columns, single rows, left-over transpose rows) is reached. The surefire run
 * at 256 bits repeats this for the 8-lane kernels.
 */
class KernelsTest {
    private static final int[] SIZES = {1, 3, 4, 5, 8, 15, 16, 17, 31, 32, 33, 64, 65, 70};
    private static final int[] SHAPES = {Kernels.FULL, Kernels.OUT_LOWER, Kernels.OUT_UPPER, Kernels.K_LOWER, Kernels.K_UPPER};

    static Stream<Kernels> kernels() {
        return Stream.of(new VectorKernels(), new ScalarKernels("test"));
    }

    @Test
    void speciesFollowsTheVectorBitsProperty() {
        int expected = Integer.getInteger(CpuProvider.VECTOR_BITS_PROPERTY, FloatVector.SPECIES_PREFERRED.vectorBitSize());
        assertThat(VectorKernels.F.vectorBitSize()).isEqualTo(expected);
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

    private static float[] random(SplittableRandom rng, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rng.nextGaussian();
        }
        return x;
    }
}
