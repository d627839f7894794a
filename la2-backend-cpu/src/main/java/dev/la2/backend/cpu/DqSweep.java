package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.DecayPowers.weight;
import static dev.la2.backend.cpu.DecayPowers.weight64;

import dev.la2.spi.AttentionShape;

/**
 * Sweep 1 of the backward, forward in time over one segment, rebuilding S block by block:
 * dq_t = c (sum_{j<=t in block} lambda^(t-j) (dO_t . v_j) k_j + lambda^(a+1) dO_t S_prev^T). Keeps
 * S (and T when the decay gradient is wanted) transposed, E x D, since dq needs dO S^T.
 *
 * <p>For the decay gradient it differentiates the state forward, T = -dS/ds, which obeys
 * T_t = lambda (S_{t-1} + T_{t-1}) and gives ds = -(c sum_t q_t T_t dO_t^T + &lt;dS_final, T_{N-1}&gt;),
 * with S and T carried in double. T is carried as T' = T / lambda (T'_t = S_{t-1} + lambda T'_{t-1}),
 * whose leading term has weight 1 as the tables' flush assumes ({@link DecayPowers#weight}); T's own
 * leading term has weight lambda, which the tables flush where lambda is below their threshold. The
 * sums take the factor lambda back from the unflushed powers.
 */
final class DqSweep {
    private final TileOps tiles;
    private final Kernels kx;
    private final int block;

    /**
     * What a segment leaves for the join: its end state transposed, and with a decay gradient S
     * and T' = T / lambda in double (transposed) and its part of the sum.
     */
    record Result(float[] st, double[] stWide, double[] ttWide, double decaySum) {
    }

    DqSweep(TileOps tiles) {
        this.tiles = tiles;
        this.kx = tiles.kx();
        this.block = tiles.block();
    }

    /**
     * Runs the work's tokens from {@code s0} (null: zero), writing their dq, and returns the
     * transposed end state (and T' = T / lambda, and their double copies, for a decay gradient).
     */
    Result run(SegmentWork work, BackwardRows io, float[] s0, boolean wantDecay) {
        AttentionShape sh = work.shape();
        int seq = work.seq(), t0 = work.from(), t1 = work.to();
        DecayPowers pw = work.powers();
        TokenRows q = io.q(), k = io.k(), v = io.v(), g = io.g(), dq = io.dq();
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] qb = new float[c * d], kb = new float[c * d], vb = new float[c * e], gb = new float[c * e];
        float[] vt = new float[e * c], bt = new float[c * c], dqb = new float[c * d], y = new float[c * d];
        float[] kw = new float[c * d];
        float[] st = new float[e * d];
        boolean zero = true;
        if (s0 != null) {
            tiles.transposeState(s0, d, e, st);
            zero = false;
        }
        float[] tt = wantDecay ? new float[e * d] : null;
        boolean tZero = true;
        double[] stD = null, ttD = null;
        float[] dS = null, dT = null;
        if (wantDecay) {
            stD = CarriedState.widen(st);
            ttD = new double[e * d];
            dS = new float[e * d];
            dT = new float[e * d];
        }
        double scale = pw.cpow()[0];
        double decaySum = 0;
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            if (wantDecay) {
                q.load(sh.keyRow(b, h, t), ks, l, d, qb); // only the decay terms read q here
            }
            k.load(sh.keyRow(b, h, t), ks, l, d, kb);
            v.load(sh.valueRow(b, h, t), vs, l, e, vb);
            g.load(sh.valueRow(b, h, t), vs, l, e, gb);
            kx.transpose(vb, l, e, vt, c);
            kx.gemm(gb, 0, e, vt, 0, c, bt, 0, c, l, l, e, 0f, false, Kernels.OUT_LOWER);
            kx.maskLower(bt, c, l, pw.crev(), c);
            kx.gemm(bt, 0, c, kb, 0, d, dqb, 0, d, l, d, l, 0f, false, Kernels.K_LOWER);
            if (!zero && !wantDecay) {
                kx.gemm(pw.cpow(), 1, gb, 0, e, st, 0, d, dqb, 0, d, l, d, e, 1f, true, Kernels.FULL);
            } else if (!zero) {
                // The decay terms need dO S^T (and dO T^T) themselves, so they go through y.
                kx.gemm(gb, 0, e, st, 0, d, y, 0, d, l, d, e, 0f, false, Kernels.FULL);
                for (int r = 0; r < l; r++) {
                    float w = pw.cpow()[r + 1];
                    int at = r * d;
                    for (int x = 0; x < d; x++) {
                        dqb[at + x] = Math.fma(w, y[at + x], dqb[at + x]);
                    }
                    decaySum += scale * (r + 1) * pw.at(r + 1) * kx.dot(qb, at, y, at, d);
                }
                if (!tZero) {
                    kx.gemm(gb, 0, e, tt, 0, d, y, 0, d, l, d, e, 0f, false, Kernels.FULL);
                    for (int r = 0; r < l; r++) {
                        decaySum += scale * pw.at(r + 2) * kx.dot(qb, r * d, y, r * d, d);
                    }
                }
            }
            dq.store(dqb, sh.keyRow(b, h, t), ks, l, d);
            float decay = pw.pow()[l];
            if (wantDecay) {
                // T' <- lambda^l T' + l lambda^(l-1) S + sum_j (l-1-j) lambda^(l-2-j) v_j^T k_j, and S
                // as usual, both transposed and carried in double: ds sums terms that grow like N^2 at
                // s = 0 and largely cancel, so fp32 states would cost it digits; per-block increments
                // stay fp32 products.
                for (int r = 0; r < l; r++) {
                    float w = r == l - 1 ? 0f : weight((l - 1 - r) * pw.at(l - 2 - r));
                    for (int x = 0; x < d; x++) {
                        kw[r * d + x] = w * kb[r * d + x];
                    }
                }
                kx.gemm(vt, 0, c, kw, 0, d, dT, 0, d, e, d, l, 0f, false, Kernels.FULL);
                Rows.scaleRows(kb, l, d, pw.pow(), l - 1, true, kw);
                kx.gemm(vt, 0, c, kw, 0, d, dS, 0, d, e, d, l, 0f, false, Kernels.FULL);
                double dl = weight64(pw.at(l)), sw = weight64(l * pw.at(l - 1));
                for (int i = 0; i < ttD.length; i++) {
                    ttD[i] = dl * ttD[i] + sw * stD[i] + dT[i];
                    tt[i] = (float) ttD[i];
                }
                kx.accumulateWide(stD, dl, dS, st, st.length);
                tZero = false;
            } else {
                Rows.scaleRows(kb, l, d, pw.pow(), l - 1, true, kw);
                kx.gemm(vt, 0, c, kw, 0, d, st, 0, d, e, d, l, decay, !zero, Kernels.FULL);
            }
            zero = false;
        }
        return new Result(st, stD, ttD, decaySum);
    }
}
