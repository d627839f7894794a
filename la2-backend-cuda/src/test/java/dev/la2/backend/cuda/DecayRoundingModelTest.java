package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.DType;
import dev.la2.api.Precision;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import dev.la2.spi.HalfFloats;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The decay gradient's identity (DecayRoute) through a model of the Hopper sweep's dq and dv passes
 * (runs without a GPU). The model walks chunks of 64 tokens as the kernels do and rounds where they
 * round: every product's accumulator to fp32 (modelled as the exact sum rounded once), and the three
 * intermediates a 16-bit pass rounds to its storage type (the masked scores, the state copy the
 * next chunk reads, the weighted keys of the state update), either plainly, as the fixed-decay
 * passes do, or as hi + lo pairs, as the split products do (sweep_hopper.cuh, SPLIT).
 *
 * <p>It shows why a decay gradient takes the split products: rounded plainly, the intermediates'
 * errors, amplified by the identity's cancellation, miss the 16-bit tolerance itself on heads that
 * forget most of a chunk, while the split products stay inside DecayRoute's envelope for
 * {@link DecayRoute#SPLIT_EPSILON} at every rate.
 */
class DecayRoundingModelTest {
    private static final int C = 64, N = 2048, D = 64, E = 64;
    private static final long SEED = new SplittableRandom().nextLong();

    private enum Rounding {
        /** Double throughout: the identity's exact value. */
        EXACT,
        /** fp32 accumulators, intermediates rounded to the storage type. */
        PLAIN,
        /** fp32 accumulators, intermediates carried as hi + lo, both of the storage type. */
        SPLIT
    }

    @Test
    void splitProductsStayInsideTheEnvelopeWherePlainRoundingMissesTheTolerance() {
        double tolerance = DecayRoute.identityTolerance(DType.BF16, Precision.STRICT);
        int draw = 0;
        for (DType dtype : new DType[] {DType.BF16, DType.FP16}) {
            for (double rate : new double[] {0x1p-8, 0.25, 1}) {
                Draw p = Draw.draw(dtype, rate, new SplittableRandom(SEED + draw++));
                double truth = p.identity(Rounding.EXACT);
                ReferenceMath.Backward ref = p.reference();
                double direct = ref.dDecay()[0], terms = ref.dDecayScale()[0];
                assertThat(Math.abs(truth - direct)).as("the identity against -lambda sum <G_t, S_t-1>, seed %d", SEED)
                        .isLessThanOrEqualTo(1e-9 * terms);
                double scale = Math.max(Math.abs(truth), terms);
                double split = Math.abs(p.identity(Rounding.SPLIT) - truth) / scale;
                double plain = Math.abs(p.identity(Rounding.PLAIN) - truth) / scale;
                double envelope = DecayRoute.identityError(DecayRoute.SPLIT_EPSILON, rate, N, E);
                System.out.printf("%s s=%-9.4g dDecay error: split %.2e (envelope %.2e), plain 16-bit %.2e (tolerance %.0e)%n",
                        dtype, rate, split, envelope, plain, tolerance);
                // DecayRoute's rule: a route serves where three times its envelope is within the tolerance
                assertThat(split).as("split, %s s=%s, seed %d", dtype, rate, SEED).isLessThanOrEqualTo(3 * envelope);
            }
        }
        // plain bf16 at s = 1: one draw's error varies widely (0.015 to 0.22 seen) and can fall under the
        // tolerance, so the claim is held on the root mean square of five draws
        double sumSquares = 0;
        for (int i = 0; i < PLAIN_DRAWS; i++) {
            Draw p = Draw.draw(DType.BF16, 1, new SplittableRandom(SEED + draw++));
            double truth = p.identity(Rounding.EXACT);
            ReferenceMath.Backward ref = p.reference();
            double plain = Math.abs(p.identity(Rounding.PLAIN) - truth) / Math.max(Math.abs(truth), ref.dDecayScale()[0]);
            sumSquares += plain * plain;
        }
        double rms = Math.sqrt(sumSquares / PLAIN_DRAWS);
        System.out.printf("BF16 s=1 plain 16-bit dDecay error, root mean square of %d draws: %.2e (tolerance %.0e)%n", PLAIN_DRAWS, rms,
                tolerance);
        assertThat(rms).as("plain bf16 at s=1, root mean square of %d draws, seed %d", PLAIN_DRAWS, SEED).isGreaterThan(tolerance);
    }

    private static final int PLAIN_DRAWS = 5;

    /** One head's inputs, rounded to the storage type: q, k ~ N(0, 1/D), v, dO ~ N(0, 1). */
    private record Draw(DType dtype, double rate, double[][] q, double[][] k, double[][] v, double[][] dO) {
        static Draw draw(DType dtype, double rate, SplittableRandom rng) {
            return new Draw(dtype, rate, normal(rng, D, 1 / Math.sqrt(D), dtype), normal(rng, D, 1 / Math.sqrt(D), dtype),
                    normal(rng, E, 1, dtype), normal(rng, E, 1, dtype));
        }

        /**
         * sum_t t (v_t . dv_t - dO_t . o_t) with S0 = dS_final = 0 and scale 1: the dv pass sums
         * t v_t . dv_t, the dq pass t q_t . dq_t (equal to t dO_t . o_t), as Backward runs them.
         */
        double identity(Rounding r) {
            double accO = sweep(new Pass(dO, v, k, q, false, 1, 1, 1, 1), r);
            double accV = sweep(new Pass(k, q, dO, v, true, 1, 1, 1, 0), r);
            return accV - accO;
        }

        /**
         * The sweep function of ALGORITHM.md 3.2 over chunks of 64 tokens with its dot product
         * sum_t t &lt;o_t, w_t&gt; (t the token's index in memory), rounded as {@code r} says.
         */
        private double sweep(Pass p, Rounding r) {
            double lambda = Math.exp(-rate);
            double[][] state = new double[p.q[0].length][p.v[0].length];
            double dot = 0;
            for (int t0 = 0; t0 < N; t0 += C) {
                int cc = Math.min(C, N - t0), ofs = t0 == 0 ? p.ofs0 : 1;
                int[] row = new int[cc];
                for (int a = 0; a < cc; a++) {
                    row[a] = p.rev ? N - 1 - (t0 + a) : t0 + a;
                }
                double[][] copy = new double[state.length][];
                for (int i = 0; i < state.length; i++) {
                    copy[i] = state[i].clone();
                    for (int j = 0; j < copy[i].length; j++) {
                        copy[i][j] = intermediate(copy[i][j], r);
                    }
                }
                for (int a = 0; a < cc; a++) {
                    double[] qa = p.q[row[a]];
                    double f = fp32(p.beta * fp32(Math.pow(lambda, a + ofs), r), r);
                    double[] out = new double[p.v[0].length];
                    for (int c = 0; c < out.length; c++) {
                        double sum = 0;
                        for (int i = 0; i < qa.length; i++) {
                            sum += qa[i] * copy[i][c];
                        }
                        out[c] = fp32(fp32(sum, r) * f, r);
                    }
                    double[] pv = new double[out.length];
                    for (int b = 0; b <= a; b++) {
                        double score = fp32(dotOf(qa, p.k[row[b]]), r);
                        double masked = intermediate(fp32(fp32(p.alpha * fp32(Math.pow(lambda, a - b), r), r) * score, r), r);
                        double[] vb = p.v[row[b]];
                        for (int c = 0; c < out.length; c++) {
                            pv[c] += masked * vb[c];
                        }
                    }
                    for (int c = 0; c < out.length; c++) {
                        out[c] = fp32(out[c] + pv[c], r);
                    }
                    dot += (double) row[a] * dotOf(out, p.w[row[a]]);
                }
                double carry = fp32(Math.pow(lambda, cc - 1 + ofs), r);
                double[][] update = new double[state.length][state[0].length];
                for (int b = 0; b < cc; b++) {
                    double weight = fp32(p.kappa * fp32(Math.pow(lambda, cc - 1 - b), r), r);
                    double[] kb = p.k[row[b]], vb = p.v[row[b]];
                    for (int i = 0; i < kb.length; i++) {
                        double wk = intermediate(fp32(weight * kb[i], r), r);
                        for (int c = 0; c < vb.length; c++) {
                            update[i][c] += wk * vb[c];
                        }
                    }
                }
                for (int i = 0; i < state.length; i++) {
                    for (int c = 0; c < state[i].length; c++) {
                        state[i][c] = fp32(fp32(carry * state[i][c], r) + update[i][c], r);
                    }
                }
            }
            return dot;
        }

        /**
         * The float64 reference's backward of this head (scale 1, no S0, no dS_final): its dDecay,
         * -lambda sum_t &lt;G_t, S_{t-1}&gt;, and the size of its terms (SPEC.md section 3's scale).
         */
        ReferenceMath.Backward reference() {
            return ReferenceMath.backward(new Problem(1, 1, N, D, E), flat(q), flat(k), flat(v), new double[] {rate}, null, flat(dO),
                    null, 1.0);
        }

        private double intermediate(double x, Rounding r) {
            return switch (r) {
                case EXACT -> x;
                case PLAIN -> stored(x, dtype);
                case SPLIT -> {
                    double hi = stored(x, dtype);
                    yield hi + stored(fp32(x - hi, r), dtype);
                }
            };
        }
    }

    private record Pass(double[][] q, double[][] k, double[][] v, double[][] w, boolean rev, double alpha, double beta, double kappa,
            int ofs0) {
    }

    private static double fp32(double x, Rounding r) {
        return r == Rounding.EXACT ? x : (float) x;
    }

    private static double stored(double x, DType dtype) {
        return dtype == DType.BF16 ? HalfFloats.fromBf16(HalfFloats.toBf16(x)) : HalfFloats.fromFp16(HalfFloats.toFp16(x));
    }

    private static double dotOf(double[] a, double[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }

    private static double[] flat(double[][] m) {
        double[] f = new double[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) {
            System.arraycopy(m[i], 0, f, i * m[i].length, m[i].length);
        }
        return f;
    }

    private static double[][] normal(SplittableRandom rng, int cols, double sd, DType dtype) {
        double[][] x = new double[N][cols];
        for (double[] row : x) {
            for (int i = 0; i < cols; i++) {
                row[i] = stored(sd * gaussian(rng), dtype);
            }
        }
        return x;
    }

    private static double gaussian(SplittableRandom rng) {
        double u = 1 - rng.nextDouble(), w = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
    }
}
