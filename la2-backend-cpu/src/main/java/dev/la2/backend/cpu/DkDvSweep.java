package dev.la2.backend.cpu;

import dev.la2.spi.AttentionShape;

/**
 * Sweep 2 of the backward, backward in time over one segment in U = lambda G, for dk and dv; with
 * the forward's kept block states it also computes dq, and sweep 1 is skipped.
 */
final class DkDvSweep {
    private final TileOps tiles;
    private final Kernels kx;
    private final int block;

    /**
     * What a segment leaves for the join: U = lambda G at its first token (and in double for a decay
     * gradient), G itself for the sequence's first segment, and its part of the decay-gradient sum.
     */
    record Result(float[] u, double[] uWide, double decaySum) {
    }

    /**
     * Sweep 1's work done by sweep 2 from kept block states: {@code firstHasState} says whether the
     * segment's first block entered with a state (segment 0 with an initial state).
     */
    record FusedDq(BlockStates states, boolean firstHasState) {
    }

    DkDvSweep(TileOps tiles) {
        this.tiles = tiles;
        this.kx = tiles.kx();
        this.block = tiles.block();
    }

    /**
     * Runs the work's tokens, last block first, from {@code uEnd} (null: zero), writing their dk and
     * dv (and dq with {@code fused}), and returns U at the first token (G at token 0). With
     * U = lambda G at the block's end, dk = (V dO^T (.) M^T) Q + diag(lambda^(l-1-j)) V U^T and
     * dv = (K Q^T (.) M^T) dO + diag(lambda^(l-1-j)) K U, then U <- lambda^l U + sum_j c lambda^(j+1)
     * q_j^T dO_j. With {@code fused}, also dq = (V dO^T (.) M^T)^T K + c lambda^(a+1) dO S^T from the
     * kept states, reusing the masked tile dk needs.
     *
     * <p>The decay gradient's sum lambda sum_t &lt;G_t, S_{t-1}&gt; splits per block (tokens a, b
     * and t numbered from the block's start, l of them, S the kept state entering it) into pairs
     * inside the block, sum_{a>b} (a-b) c lambda^(a-b) (q_a . k_b)(dO_a . v_b), read off the raw
     * score tiles; sum_a (a+1) q_a . dq_a(from S), since dq's term from S is
     * c lambda^(a+1) dO_a S^T; sum_b (l-1-b) v_b . dv_b(from U), since dv's term from U is
     * lambda^(l-1-b) k_b U; and l lambda^l &lt;U, S&gt;. The dq and dv rows are dotted before their
     * weights, which the tables may flush, and weighted from the unflushed powers. Sweep 1 computes
     * the same sum with T instead, where no kept states are given.
     */
    Result run(SegmentWork work, BackwardRows io, float[] uEnd, boolean wantDecay, FusedDq fused) {
        AttentionShape sh = work.shape();
        int seq = work.seq(), t0 = work.from(), t1 = work.to();
        DecayPowers pw = work.powers();
        TokenRows q = io.q(), k = io.k(), v = io.v(), g = io.g(), dk = io.dk(), dv = io.dv(), dq = io.dq();
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] qb = new float[c * d], kb = new float[c * d], vb = new float[c * e], gb = new float[c * e];
        float[] qt = new float[d * c], gt = new float[e * c], ut = new float[e * d];
        float[] at = new float[c * c], bt = new float[c * c];
        float[] dkb = new float[c * d], dvb = new float[c * e];
        float[] btT = fused != null ? new float[c * c] : null, dqb = fused != null ? new float[c * d] : null;
        float[] entering = fused != null ? new float[d * e] : null;
        float[] u = uEnd != null ? uEnd : new float[d * e];
        boolean zero = uEnd == null;
        // U pairs with the states across the whole sequence in the decay gradient, so it is carried in
        // double as they are.
        CarriedState carried = CarriedState.of(u, wantDecay, d, e);
        double scale = pw.cpow()[0];
        double[] intra = wantDecay ? new double[c] : null;
        if (wantDecay) {
            for (int m = 0; m < c; m++) {
                intra[m] = scale * m * pw.at(m);
            }
        }
        double decaySum = 0;
        int blocks = (t1 - t0 + c - 1) / c;
        for (int i = blocks - 1; i >= 0; i--) {
            int t = t0 + i * c, l = Math.min(c, t1 - t);
            q.load(sh.keyRow(b, h, t), ks, l, d, qb);
            k.load(sh.keyRow(b, h, t), ks, l, d, kb);
            v.load(sh.valueRow(b, h, t), vs, l, e, vb);
            g.load(sh.valueRow(b, h, t), vs, l, e, gb);
            kx.transpose(qb, l, d, qt, c);
            kx.transpose(gb, l, e, gt, c);
            kx.gemm(kb, 0, d, qt, 0, c, at, 0, c, l, l, d, 0f, false, Kernels.OUT_UPPER);
            kx.gemm(vb, 0, e, gt, 0, c, bt, 0, c, l, l, e, 0f, false, Kernels.OUT_UPPER);
            if (wantDecay) {
                // The intra-block part of c sum_t q_t T_t dO_t^T: pairs j < a weighted (a-j) lambda^(a-j).
                for (int j = 0; j < l; j++) {
                    int row = j * c;
                    for (int a = j + 1; a < l; a++) {
                        decaySum += intra[a - j] * ((double) at[row + a] * bt[row + a]);
                    }
                }
            }
            kx.maskUpper(at, c, l, pw.cpow());
            kx.maskUpper(bt, c, l, pw.cpow());
            kx.gemm(bt, 0, c, qb, 0, d, dkb, 0, d, l, d, l, 0f, false, Kernels.K_UPPER);
            boolean fromS = fused != null && (i > 0 || fused.firstHasState());
            if (fused != null) {
                // dq's term from S first, so that the decay gradient can dot it with q alone.
                if (fromS) {
                    fused.states().get(seq, t, entering);
                    tiles.transposeState(entering, d, e, ut);
                    if (wantDecay) {
                        // The decay term takes dO S^T before its flushed weights c lambda^(a+1).
                        kx.gemm(gb, 0, e, ut, 0, d, dqb, 0, d, l, d, e, 0f, false, Kernels.FULL);
                        decaySum += scale * tiles.decayRowDots(qb, dqb, l, d, pw, 1, 1);
                        Rows.scaleRows(dqb, l, d, pw.cpow(), 1, false, dqb);
                    } else {
                        kx.gemm(pw.cpow(), 1, gb, 0, e, ut, 0, d, dqb, 0, d, l, d, e, 0f, false, Kernels.FULL);
                    }
                }
                // Rows l.. of btT come from columns of bt this block did not write; no product reads them.
                kx.transpose(bt, l, c, btT, c);
                kx.gemm(btT, 0, c, kb, 0, d, dqb, 0, d, l, d, l, 1f, fromS, Kernels.K_LOWER);
                dq.store(dqb, sh.keyRow(b, h, t), ks, l, d);
            }
            if (!zero) {
                tiles.transposeState(u, d, e, ut);
                kx.gemm(pw.rev(), c - l, vb, 0, e, ut, 0, d, dkb, 0, d, l, d, e, 1f, true, Kernels.FULL);
                // dv's term from U first, for the same reasons.
                if (wantDecay && fused != null) {
                    kx.gemm(kb, 0, d, u, 0, e, dvb, 0, e, l, e, d, 0f, false, Kernels.FULL);
                    decaySum += tiles.decayRowDots(vb, dvb, l, e, pw, l - 1, -1);
                    Rows.scaleRows(dvb, l, e, pw.rev(), c - l, false, dvb);
                    if (fromS) {
                        decaySum += l * pw.at(l) * kx.dot(u, 0, entering, 0, d * e);
                    }
                } else {
                    kx.gemm(pw.rev(), c - l, kb, 0, d, u, 0, e, dvb, 0, e, l, e, d, 0f, false, Kernels.FULL);
                }
            }
            kx.gemm(at, 0, c, gb, 0, e, dvb, 0, e, l, e, l, 1f, !zero, Kernels.K_UPPER);
            dk.store(dkb, sh.keyRow(b, h, t), ks, l, d);
            dv.store(dvb, sh.valueRow(b, h, t), vs, l, e);
            // The first block of the sequence leaves G_0 = U_0 / lambda, weights lambda^j where U has
            // lambda^(j+1): dS0 = lambda G_0 is formed in double from it (SegmentJoin), and survives a
            // lambda the tables flush.
            int shift = t == 0 ? 0 : 1;
            kx.scaleColumns(qt, d, l, c, pw.cpow(), shift);
            tiles.updateState(carried, zero, pw, l - 1 + shift, l, qt, gb);
            zero = false;
        }
        return new Result(u, carried.wide(), decaySum);
    }
}
