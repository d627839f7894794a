package dev.la2.backend.cpu;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;

/**
 * FP64 by the recurrent definition, one task per sequence: O(N D E) and exact to float64
 * rounding, which is what gradient checks need; speed is the fp32 path's job.
 *
 * <p>Backward: the G sweep (dk, dv, dS0) needs no state, and the decay gradient comes from the
 * forward-mode tangent T = -dS/ds (T_t = lambda (S_{t-1} + T_{t-1})) carried along the S sweep:
 * ds = -(c sum_t q_t T_t dO_t^T + &lt;dS_final, T_{N-1}&gt;).
 */
final class Recurrent64 {
    private final WorkerPool pool;
    private final Scratch scratch;

    Recurrent64(WorkerPool pool, Scratch scratch) {
        this.pool = pool;
        this.scratch = scratch;
    }

    private static MemorySegment seg(Object t) {
        return ((HostTensor) t).segment();
    }

    /** The rows of sequence (b, h) as a dense [N, F] array. */
    private static double[] rows(AttentionShape sh, MemorySegment m, int seq, int f, boolean key) {
        int b = seq / sh.heads(), h = seq % sh.heads();
        double[] out = new double[sh.tokens() * f];
        long first = key ? sh.keyRow(b, h, 0) : sh.valueRow(b, h, 0);
        Rows.load(m, first, key ? sh.keyTokenStride() : sh.valueTokenStride(), sh.tokens(), f, out);
        return out;
    }

    private static void writeRows(AttentionShape sh, double[] data, MemorySegment m, int seq, int f, boolean key) {
        int b = seq / sh.heads(), h = seq % sh.heads();
        long first = key ? sh.keyRow(b, h, 0) : sh.valueRow(b, h, 0);
        Rows.store(data, m, first, key ? sh.keyTokenStride() : sh.valueTokenStride(), sh.tokens(), f);
    }

    private static double[] state(Object t, int seq, int de) {
        double[] s = new double[de];
        if (t != null) {
            MemorySegment.copy(seg(t), Rows.F64, (long) seq * de * 8, s, 0, de);
        }
        return s;
    }

    private static void writeState(double[] s, Object t, int seq) {
        MemorySegment.copy(s, 0, seg(t), Rows.F64, (long) seq * s.length * 8, s.length);
    }

    private long sequenceBytes(AttentionShape sh, int arrays) {
        return 8L * arrays * sh.tokens() * (sh.keyDim() + sh.valueDim()) + 16L * sh.keyDim() * sh.valueDim();
    }

    void forward(ForwardCall call) {
        AttentionShape sh = call.shape();
        int n = sh.tokens(), d = sh.keyDim(), e = sh.valueDim(), de = d * e;
        int seqs = (int) sh.sequences();
        HostTensor decay = (HostTensor) call.decay();
        double c = call.scale();
        long work = scratch.reserve(sequenceBytes(sh, 2) * Math.min(seqs, pool.threads()));
        try {
            pool.run(seqs, seq -> {
                double lambda = Math.exp(-decay.get(seq % sh.heads()));
                double[] q = rows(sh, seg(call.q()), seq, d, true), k = rows(sh, seg(call.k()), seq, d, true);
                double[] v = rows(sh, seg(call.v()), seq, e, false), o = new double[n * e];
                double[] s = state(call.initialState(), seq, de);
                for (int t = 0; t < n; t++) {
                    step(s, lambda, k, t * d, v, t * e, d, e);
                    for (int y = 0; y < e; y++) {
                        double acc = 0;
                        for (int x = 0; x < d; x++) {
                            acc += q[t * d + x] * s[x * e + y];
                        }
                        o[t * e + y] = c * acc;
                    }
                }
                writeRows(sh, o, seg(call.output()), seq, e, false);
                if (call.finalState() != null) {
                    writeState(s, call.finalState(), seq);
                }
            });
        } finally {
            scratch.release(work);
        }
    }

    void backward(BackwardCall call) {
        AttentionShape sh = call.shape();
        int n = sh.tokens(), d = sh.keyDim(), e = sh.valueDim(), de = d * e, heads = sh.heads();
        int seqs = (int) sh.sequences();
        HostTensor decay = (HostTensor) call.decay();
        double c = call.scale();
        boolean wantDecay = call.dDecay() != null;
        double[] decaySeq = new double[seqs];
        long work = scratch.reserve(sequenceBytes(sh, 4) * Math.min(seqs, pool.threads()));
        try {
            pool.run(seqs, seq -> {
                double lambda = Math.exp(-decay.get(seq % heads));
                double[] q = rows(sh, seg(call.q()), seq, d, true), k = rows(sh, seg(call.k()), seq, d, true);
                double[] v = rows(sh, seg(call.v()), seq, e, false), g = rows(sh, seg(call.dOutput()), seq, e, false);
                double[] grad = new double[n * d];
                // Sweep in S: dq_t = c dO_t S_t^T, and the tangent T for the decay gradient.
                double[] s = state(call.initialState(), seq, de);
                double[] tan = wantDecay ? new double[de] : null;
                double sum = 0;
                for (int t = 0; t < n; t++) {
                    if (wantDecay) {
                        for (int i = 0; i < de; i++) {
                            tan[i] = lambda * (s[i] + tan[i]);
                        }
                        double acc = 0;
                        for (int x = 0; x < d; x++) {
                            double row = 0;
                            for (int y = 0; y < e; y++) {
                                row += tan[x * e + y] * g[t * e + y];
                            }
                            acc += q[t * d + x] * row;
                        }
                        sum += c * acc;
                    }
                    step(s, lambda, k, t * d, v, t * e, d, e);
                    for (int x = 0; x < d; x++) {
                        double acc = 0;
                        for (int y = 0; y < e; y++) {
                            acc += g[t * e + y] * s[x * e + y];
                        }
                        grad[t * d + x] = c * acc;
                    }
                }
                double[] dsf = call.dFinalState() == null ? null : state(call.dFinalState(), seq, de);
                if (wantDecay && dsf != null) {
                    for (int i = 0; i < de; i++) {
                        sum += dsf[i] * tan[i];
                    }
                }
                decaySeq[seq] = sum;
                writeRows(sh, grad, seg(call.dq()), seq, d, true);
                // Sweep in G, last token first: G_t = c q_t^T dO_t + lambda G_{t+1}, G_{N-1} includes dS_final.
                double[] gs = dsf != null ? dsf : new double[de];
                double[] dkv = new double[n * e];
                for (int t = n - 1; t >= 0; t--) {
                    if (t < n - 1) {
                        for (int i = 0; i < de; i++) {
                            gs[i] *= lambda;
                        }
                    }
                    for (int x = 0; x < d; x++) {
                        double qx = c * q[t * d + x];
                        for (int y = 0; y < e; y++) {
                            gs[x * e + y] += qx * g[t * e + y];
                        }
                    }
                    for (int x = 0; x < d; x++) {
                        double acc = 0;
                        for (int y = 0; y < e; y++) {
                            acc += gs[x * e + y] * v[t * e + y];
                        }
                        grad[t * d + x] = acc;
                    }
                    for (int y = 0; y < e; y++) {
                        double acc = 0;
                        for (int x = 0; x < d; x++) {
                            acc += k[t * d + x] * gs[x * e + y];
                        }
                        dkv[t * e + y] = acc;
                    }
                }
                writeRows(sh, grad, seg(call.dk()), seq, d, true);
                writeRows(sh, dkv, seg(call.dv()), seq, e, false);
                for (int i = 0; i < de; i++) {
                    gs[i] *= lambda;
                }
                writeState(gs, call.dInitialState(), seq);
            });
            if (wantDecay) {
                Rows.writeDecayGradient(decaySeq, sh.batch(), heads, (HostTensor) call.dDecay());
            }
        } finally {
            scratch.release(work);
        }
    }

    void decode(DecodeCall call) {
        int d = call.keyDim(), e = call.valueDim(), de = d * e, heads = call.heads();
        int seqs = call.batch() * heads;
        HostTensor decay = (HostTensor) call.decay();
        double c = call.scale();
        pool.run(seqs, seq -> {
            double[] s = state(call.state(), seq, de), q = new double[d], k = new double[d], v = new double[e];
            MemorySegment.copy(seg(call.q()), Rows.F64, (long) seq * d * 8, q, 0, d);
            MemorySegment.copy(seg(call.k()), Rows.F64, (long) seq * d * 8, k, 0, d);
            MemorySegment.copy(seg(call.v()), Rows.F64, (long) seq * e * 8, v, 0, e);
            step(s, Math.exp(-decay.get(seq % heads)), k, 0, v, 0, d, e);
            double[] o = new double[e];
            for (int y = 0; y < e; y++) {
                double acc = 0;
                for (int x = 0; x < d; x++) {
                    acc += q[x] * s[x * e + y];
                }
                o[y] = c * acc;
            }
            writeState(s, call.state(), seq);
            MemorySegment.copy(o, 0, seg(call.output()), Rows.F64, (long) seq * e * 8, e);
        });
    }

    private static void step(double[] s, double lambda, double[] k, int ko, double[] v, int vo, int d, int e) {
        for (int x = 0; x < d; x++) {
            double kx = k[ko + x];
            for (int y = 0; y < e; y++) {
                s[x * e + y] = lambda * s[x * e + y] + kx * v[vo + y];
            }
        }
    }
}
