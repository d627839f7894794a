package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.Precision;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The decay gradient's route choice (runs without a GPU): the identity's error envelope against
 * the identity itself evaluated in double with injected rounding, and the routes it picks.
 */
class DecayRouteTest {
    private static final DecayRoute.Options BOTH = new DecayRoute.Options(true, true);
    private static final int E = 128, CHUNK = 32;

    @Test
    void theErrorModelMatchesTheIdentityWithRoundedSums() {
        double eps = 0x1p-17;
        long seed = new SplittableRandom().nextLong();
        record Point(double rate, int tokens, int keyDim, int valueDim) {
        }
        for (Point p : new Point[] {new Point(0.25, 1024, 128, 128), new Point(2, 1024, 128, 128), new Point(5, 1024, 128, 128),
                new Point(0.5, 2048, 128, 128), new Point(0.25, 1024, 64, 256), new Point(2, 1024, 64, 64)}) {
            double sumSq = 0;
            int runs = 8;
            for (int r = 0; r < runs; r++) {
                Identity id = Identity.of(p.rate(), p.tokens(), p.keyDim(), p.valueDim(), new SplittableRandom(seed + r));
                assertThat(Math.abs(id.exact() - id.truth())).as("identity without rounding, %s", p)
                        .isLessThanOrEqualTo(1e-9 * id.scale());
                double err = Math.abs(id.rounded(eps, new SplittableRandom(~seed - r)) - id.truth()) / id.scale();
                sumSq += err * err;
            }
            double rms = Math.sqrt(sumSq / runs);
            double model = DecayRoute.identityError(eps, p.rate(), p.tokens(), p.valueDim());
            // the model is an upper fit (slow heads sit near it, fast ones below); 8 draws vary
            assertThat(rms).as("%s, seed %d", p, seed).isLessThanOrEqualTo(2 * model).isGreaterThan(model / 6);
        }
    }

    @Test
    void aliBiSlopesKeepTheFastRoutes() {
        double slowest = Arrays.stream(DecaySlopes.alibi(32)).min().orElseThrow();
        for (long n : new long[] {1024, 32768, 1 << 20}) {
            assertThat(DecayRoute.choose(DType.BF16, Precision.STRICT, BOTH, slowest, n, E)).isEqualTo(DecayRoute.SPLIT);
            assertThat(DecayRoute.choose(DType.FP16, Precision.STRICT, BOTH, slowest, n, E)).isEqualTo(DecayRoute.SPLIT);
            assertThat(DecayRoute.choose(DType.FP32, Precision.TF32, BOTH, slowest, n, E)).isEqualTo(DecayRoute.FP32_COPIES);
        }
        assertThat(DecayRoute.choose(DType.BF16, Precision.STRICT, new DecayRoute.Options(false, true), slowest, 32768, E))
                .isEqualTo(DecayRoute.FP32_COPIES);
    }

    @Test
    void fastHeadsEverywhereTakeAMoreExactRoute() {
        // every head at s = 2: split products fail the 16-bit bound at 16k tokens, fp32 copies do not
        assertThat(DecayRoute.choose(DType.BF16, Precision.STRICT, BOTH, 2, 16384, E)).isEqualTo(DecayRoute.FP32_COPIES);
        assertThat(DecayRoute.choose(DType.FP32, Precision.TF32, BOTH, 2, 16384, E)).isEqualTo(DecayRoute.DECAY_SWEEP);
        for (DType dtype : new DType[] {DType.BF16, DType.FP16}) {
            assertThat(DecayRoute.choose(dtype, Precision.STRICT, BOTH, 66, 70, E)).isEqualTo(DecayRoute.DECAY_SWEEP);
            assertThat(DecayRoute.choose(dtype, Precision.STRICT, BOTH, 6, 1000, E)).isEqualTo(DecayRoute.DECAY_SWEEP);
        }
        assertThat(DecayRoute.choose(DType.FP32, Precision.TF32, BOTH, 66, 70, E)).isEqualTo(DecayRoute.DECAY_SWEEP);
    }

    @Test
    void fp32AndFp64PromisesAlwaysTakeTheDecaySweep() {
        for (Precision p : new Precision[] {Precision.STRICT, Precision.TF32X3}) {
            assertThat(DecayRoute.choose(DType.FP32, p, BOTH, 0, 1024, E)).isEqualTo(DecayRoute.DECAY_SWEEP);
        }
        for (Precision p : Precision.values()) {
            assertThat(DecayRoute.choose(DType.FP64, p, BOTH, 0, 1024, E)).isEqualTo(DecayRoute.DECAY_SWEEP);
        }
        assertThat(DecayRoute.choose(DType.BF16, Precision.STRICT, new DecayRoute.Options(false, false), 0, 64, E))
                .isEqualTo(DecayRoute.DECAY_SWEEP);
    }

    /**
     * One head in double: the true ds (term by term through T = -dS/ds), the SPEC's scale
     * max(|ds|, terms), and what the identity's ingredients give exact or rounded by a relative
     * error of up to eps per element, as the passes that produce them would round.
     */
    private record Identity(double truth, double scale, int n, int e, double[] v, double[] dO, double[] o, double[] dv,
                            double[] s0, double[] dS0, double[] dSf, double[] sFinal) {
        static Identity of(double s, int n, int d, int e, SplittableRandom rng) {
            double lambda = Math.exp(-s);
            double[] q = gaussian(rng, n * d, 1 / Math.sqrt(d)), k = gaussian(rng, n * d, 1 / Math.sqrt(d));
            double[] v = gaussian(rng, n * e, 1), dO = gaussian(rng, n * e, 1);
            double[] s0 = gaussian(rng, d * e, 1), dSf = gaussian(rng, d * e, 1);
            // forward: S_t = lambda S_{t-1} + k_t v_t^T, o_t = q_t S_t; T_t = lambda (S_{t-1} + T_{t-1})
            double[] st = s0.clone(), tt = new double[d * e], o = new double[n * e];
            double[][] entering = new double[(n + CHUNK - 1) / CHUNK][];
            // Loops run row by row (j outer, c inner), each sum still over j in order: the values are
            // those of the element-wise formulas, in the order a column-by-column loop adds them.
            double dsByT = 0;
            double[] tc = new double[e];
            for (int t = 0; t < n; t++) {
                if (t % CHUNK == 0) {
                    entering[t / CHUNK] = st.clone();
                }
                for (int j = 0; j < d; j++) {
                    double kj = k[t * d + j];
                    for (int c = 0, i = j * e; c < e; c++, i++) {
                        tt[i] = lambda * (st[i] + tt[i]);
                        st[i] = lambda * st[i] + kj * v[t * e + c];
                    }
                }
                Arrays.fill(tc, 0);
                for (int j = 0; j < d; j++) {
                    double qj = q[t * d + j];
                    for (int c = 0; c < e; c++) {
                        o[t * e + c] += qj * st[j * e + c];
                        tc[c] += qj * tt[j * e + c];
                    }
                }
                for (int c = 0; c < e; c++) {
                    dsByT -= tc[c] * dO[t * e + c];
                }
            }
            for (int i = 0; i < d * e; i++) {
                dsByT -= dSf[i] * tt[i];
            }
            // backward: G_t = q_t^T dO_t + lambda G_{t+1} (G_{N-1} adds dS_final), dv_t = G_t^T k_t;
            // terms = lambda sum_t |<G_t, S_{t-1}>|, S_{t-1} rebuilt per chunk from the state entering it
            double[] g = dSf.clone(), dv = new double[n * e];
            double[][] sPrev = new double[CHUNK][];
            double terms = 0;
            for (int t = n - 1; t >= 0; t--) {
                if (t == n - 1 || t % CHUNK == CHUNK - 1) {
                    int c0 = t / CHUNK * CHUNK;
                    double[] x = entering[t / CHUNK].clone();
                    for (int u = c0; u <= t; u++) {
                        sPrev[u - c0] = x.clone();
                        for (int j = 0; j < d; j++) {
                            double kj = k[u * d + j];
                            for (int c = 0, i = j * e; c < e; c++, i++) {
                                x[i] = lambda * x[i] + kj * v[u * e + c];
                            }
                        }
                    }
                }
                double[] before = sPrev[t % CHUNK];
                double dot = 0;
                for (int j = 0; j < d; j++) {
                    double qj = q[t * d + j];
                    for (int c = 0, i = j * e; c < e; c++, i++) {
                        g[i] = (t == n - 1 ? g[i] : lambda * g[i]) + qj * dO[t * e + c];
                        dot += g[i] * before[i];
                    }
                }
                terms += Math.abs(dot);
                for (int j = 0; j < d; j++) {
                    double kj = k[t * d + j];
                    for (int c = 0; c < e; c++) {
                        dv[t * e + c] += kj * g[j * e + c];
                    }
                }
            }
            double[] dS0 = g.clone();
            for (int i = 0; i < d * e; i++) {
                dS0[i] *= lambda;
            }
            return new Identity(dsByT, Math.max(Math.abs(dsByT), lambda * terms), n, e, v, dO, o, dv, s0, dS0, dSf, st);
        }

        double exact() {
            return sum(o, dv, dS0, sFinal);
        }

        double rounded(double eps, SplittableRandom rng) {
            return sum(round(o, eps, rng), round(dv, eps, rng), round(dS0, eps, rng), round(sFinal, eps, rng));
        }

        /** ds = sum_t t (v_t . dv_t - dO_t . o_t) - &lt;dS0, S0&gt; - (N-1) &lt;dS_final, S_final&gt;. */
        private double sum(double[] o, double[] dv, double[] dS0, double[] sFinal) {
            double acc = 0;
            for (int t = 0; t < n; t++) {
                double x = 0;
                for (int c = 0; c < e; c++) {
                    x += v[t * e + c] * dv[t * e + c] - dO[t * e + c] * o[t * e + c];
                }
                acc += t * x;
            }
            for (int i = 0; i < s0.length; i++) {
                acc -= dS0[i] * s0[i] + (n - 1) * dSf[i] * sFinal[i];
            }
            return acc;
        }

        private static double[] round(double[] x, double eps, SplittableRandom rng) {
            double[] y = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                y[i] = x[i] * (1 + eps * (2 * rng.nextDouble() - 1));
            }
            return y;
        }

        private static double[] gaussian(SplittableRandom rng, int n, double sd) {
            double[] x = new double[n];
            for (int i = 0; i < n; i++) {
                double u = 1 - rng.nextDouble(), w = rng.nextDouble();
                x[i] = sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
            }
            return x;
        }
    }
}
