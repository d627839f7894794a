package dev.la2.reference;

/**
 * SPEC.md sections 1 and 2 in float64, straight from the definitions: the closed form (O(N^2)
 * per sequence) and the recurrent form (O(N D E)), which check each other, and the backward pass
 * of the recurrent form. Powers of lambda are exp(-s m), never repeated products.
 */
public final class ReferenceMath {

    /** Tokens between stored states in {@link #backward}: bounds memory to O((N/C + C) D E). */
    private static final int CHECKPOINT = 64;

    private ReferenceMath() {
    }

    /** @param output [B,H,N,E]; @param finalState [B,H,D,E] */
    public record Forward(double[] output, double[] finalState) {
    }

    /**
     * Gradients; {@code dDecay} [H] is summed over the batch. {@code dDecayScale} [H] is
     * {@code lambda * sum_t |<G_t, S_{t-1}>|}, the size of the signed terms dDecay adds up: they can cancel,
     * so rounding error in dDecay is bounded relative to this, not to dDecay itself.
     */
    public record Backward(double[] dq, double[] dk, double[] dv, double[] dInitialState, double[] dDecay,
                           double[] dDecayScale) {
    }

    /**
     * {@code o_t = c [ sum_{j<=t} lambda^(t-j) (q_t . k_j) v_j + lambda^(t+1) q_t S0 ]},
     * final = lambda^N S0 + sum_j lambda^(N-1-j) k_j^T v_j.
     *
     * @param initialState [B,H,D,E] or null for zero
     */
    public static Forward forwardClosed(Problem p, double[] q, double[] k, double[] v, double[] decay,
                                        double[] initialState, double scale) {
        check(p, q, k, v, decay, initialState);
        int n = p.tokens(), d = p.keyDim(), e = p.valueDim();
        double[] out = new double[p.values()];
        double[] fin = new double[p.states()];
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < p.heads(); h++) {
                double s = decay[h];
                int seq = b * p.heads() + h;
                int kq = seq * n * d, kv = seq * n * e, ks = seq * d * e;
                for (int t = 0; t < n; t++) {
                    double[] acc = new double[e];
                    for (int j = 0; j <= t; j++) {
                        double dot = 0;
                        for (int x = 0; x < d; x++) {
                            dot += q[kq + t * d + x] * k[kq + j * d + x];
                        }
                        double w = Math.exp(-s * (t - j)) * dot;
                        for (int y = 0; y < e; y++) {
                            acc[y] += w * v[kv + j * e + y];
                        }
                    }
                    if (initialState != null) {
                        double w = Math.exp(-s * (t + 1));
                        for (int x = 0; x < d; x++) {
                            double qx = w * q[kq + t * d + x];
                            for (int y = 0; y < e; y++) {
                                acc[y] += qx * initialState[ks + x * e + y];
                            }
                        }
                    }
                    for (int y = 0; y < e; y++) {
                        out[kv + t * e + y] = scale * acc[y];
                    }
                }
                for (int x = 0; x < d; x++) {
                    for (int y = 0; y < e; y++) {
                        double acc = initialState == null ? 0 : Math.exp(-s * n) * initialState[ks + x * e + y];
                        for (int j = 0; j < n; j++) {
                            acc += Math.exp(-s * (n - 1 - j)) * k[kq + j * d + x] * v[kv + j * e + y];
                        }
                        fin[ks + x * e + y] = acc;
                    }
                }
            }
        }
        return new Forward(out, fin);
    }

    /** S_t = lambda S_{t-1} + k_t^T v_t, o_t = c q_t S_t, starting from S0 (or zero). */
    public static Forward forwardRecurrent(Problem p, double[] q, double[] k, double[] v, double[] decay,
                                           double[] initialState, double scale) {
        check(p, q, k, v, decay, initialState);
        int n = p.tokens(), d = p.keyDim(), e = p.valueDim();
        double[] out = new double[p.values()];
        double[] fin = new double[p.states()];
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < p.heads(); h++) {
                double lambda = Math.exp(-decay[h]);
                int seq = b * p.heads() + h;
                int kq = seq * n * d, kv = seq * n * e, ks = seq * d * e;
                double[] state = new double[d * e];
                if (initialState != null) {
                    System.arraycopy(initialState, ks, state, 0, d * e);
                }
                for (int t = 0; t < n; t++) {
                    step(state, lambda, k, kq + t * d, v, kv + t * e, d, e);
                    readOut(state, q, kq + t * d, scale, out, kv + t * e, d, e);
                }
                System.arraycopy(state, 0, fin, ks, d * e);
            }
        }
        return new Forward(out, fin);
    }

    /**
     * SPEC.md section 2's backward, by the recurrence: G_t = c q_t^T dO_t + lambda G_{t+1} with
     * G_{N-1} including dS_final; dq_t = c dO_t S_t^T; dk_t = G_t v_t^T; dv_t = k_t G_t;
     * dS0 = lambda G_0; {@code ds_h = -lambda sum_t <G_t, S_{t-1}>} summed over the batch. States are
     * recomputed from checkpoints every {@value #CHECKPOINT} tokens, exactly as the forward made them.
     *
     * @param dFinalState [B,H,D,E] or null for zero
     */
    public static Backward backward(Problem p, double[] q, double[] k, double[] v, double[] decay,
                                    double[] initialState, double[] dOutput, double[] dFinalState, double scale) {
        check(p, q, k, v, decay, initialState);
        requireLength("dOutput", dOutput, p.values());
        if (dFinalState != null) {
            requireLength("dFinalState", dFinalState, p.states());
        }
        int n = p.tokens(), d = p.keyDim(), e = p.valueDim(), de = d * e;
        double[] dq = new double[p.keys()];
        double[] dk = new double[p.keys()];
        double[] dv = new double[p.values()];
        double[] ds0 = new double[p.states()];
        double[] dDecay = new double[p.heads()];
        double[] dDecayScale = new double[p.heads()];
        int segments = (n + CHECKPOINT - 1) / CHECKPOINT;
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < p.heads(); h++) {
                double lambda = Math.exp(-decay[h]);
                int seq = b * p.heads() + h;
                int kq = seq * n * d, kv = seq * n * e, ks = seq * de;
                // Forward sweep: dq, and the state before each segment.
                double[][] before = new double[segments][];
                double[] state = new double[de];
                if (initialState != null) {
                    System.arraycopy(initialState, ks, state, 0, de);
                }
                for (int t = 0; t < n; t++) {
                    if (t % CHECKPOINT == 0) {
                        before[t / CHECKPOINT] = state.clone();
                    }
                    step(state, lambda, k, kq + t * d, v, kv + t * e, d, e);
                    for (int x = 0; x < d; x++) {
                        double acc = 0;
                        for (int y = 0; y < e; y++) {
                            acc += dOutput[kv + t * e + y] * state[x * e + y];
                        }
                        dq[kq + t * d + x] = scale * acc;
                    }
                }
                // Backward sweep: G runs from the last token to the first.
                double[] g = new double[de];
                if (dFinalState != null) {
                    System.arraycopy(dFinalState, ks, g, 0, de);
                }
                double decaySum = 0;
                double decayAbs = 0;
                boolean first = true;
                for (int seg = segments - 1; seg >= 0; seg--) {
                    int lo = seg * CHECKPOINT, hi = Math.min(n, lo + CHECKPOINT);
                    double[][] prev = new double[hi - lo][];
                    double[] s = before[seg].clone();
                    for (int t = lo; t < hi; t++) {
                        prev[t - lo] = s.clone();
                        step(s, lambda, k, kq + t * d, v, kv + t * e, d, e);
                    }
                    for (int t = hi - 1; t >= lo; t--) {
                        if (!first) {
                            for (int i = 0; i < de; i++) {
                                g[i] *= lambda;
                            }
                        }
                        first = false;
                        for (int x = 0; x < d; x++) {
                            double qx = scale * q[kq + t * d + x];
                            for (int y = 0; y < e; y++) {
                                g[x * e + y] += qx * dOutput[kv + t * e + y];
                            }
                        }
                        for (int x = 0; x < d; x++) {
                            double acc = 0;
                            for (int y = 0; y < e; y++) {
                                acc += g[x * e + y] * v[kv + t * e + y];
                            }
                            dk[kq + t * d + x] = acc;
                        }
                        for (int y = 0; y < e; y++) {
                            double acc = 0;
                            for (int x = 0; x < d; x++) {
                                acc += k[kq + t * d + x] * g[x * e + y];
                            }
                            dv[kv + t * e + y] = acc;
                        }
                        double[] sPrev = prev[t - lo];
                        double dot = 0;
                        for (int i = 0; i < de; i++) {
                            dot += g[i] * sPrev[i];
                        }
                        decaySum += dot;
                        decayAbs += Math.abs(dot);
                    }
                }
                for (int i = 0; i < de; i++) {
                    ds0[ks + i] = lambda * g[i];
                }
                dDecay[h] += -lambda * decaySum;
                dDecayScale[h] += lambda * decayAbs;
            }
        }
        return new Backward(dq, dk, dv, ds0, dDecay, dDecayScale);
    }

    /** One decode step per sequence: the state advances in place and o = c q S. */
    public static double[] decode(int batch, int heads, int keyDim, int valueDim, double[] q, double[] k,
                                  double[] v, double[] decay, double[] state, double scale) {
        double[] out = new double[batch * heads * valueDim];
        int de = keyDim * valueDim;
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                int seq = b * heads + h;
                double[] s = new double[de];
                System.arraycopy(state, seq * de, s, 0, de);
                step(s, Math.exp(-decay[h]), k, seq * keyDim, v, seq * valueDim, keyDim, valueDim);
                readOut(s, q, seq * keyDim, scale, out, seq * valueDim, keyDim, valueDim);
                System.arraycopy(s, 0, state, seq * de, de);
            }
        }
        return out;
    }

    private static void step(double[] state, double lambda, double[] k, int kOff, double[] v, int vOff, int d, int e) {
        for (int x = 0; x < d; x++) {
            double kx = k[kOff + x];
            for (int y = 0; y < e; y++) {
                state[x * e + y] = lambda * state[x * e + y] + kx * v[vOff + y];
            }
        }
    }

    private static void readOut(double[] state, double[] q, int qOff, double scale, double[] out, int oOff, int d, int e) {
        for (int y = 0; y < e; y++) {
            double acc = 0;
            for (int x = 0; x < d; x++) {
                acc += q[qOff + x] * state[x * e + y];
            }
            out[oOff + y] = scale * acc;
        }
    }

    private static void check(Problem p, double[] q, double[] k, double[] v, double[] decay, double[] s0) {
        requireLength("q", q, p.keys());
        requireLength("k", k, p.keys());
        requireLength("v", v, p.values());
        requireLength("decay", decay, p.heads());
        if (s0 != null) {
            requireLength("initialState", s0, p.states());
        }
    }

    private static void requireLength(String name, double[] a, int length) {
        if (a == null || a.length != length) {
            throw new IllegalArgumentException(name + ": got " + (a == null ? "null" : a.length + " elements")
                    + "; expected " + length);
        }
    }
}
