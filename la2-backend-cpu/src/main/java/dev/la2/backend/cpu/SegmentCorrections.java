package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.DecayPowers.scaledWeight;
import static dev.la2.backend.cpu.DecayPowers.weight;

import dev.la2.spi.AttentionShape;
import java.util.ArrayList;
import java.util.List;

/**
 * The correction pass of a call cut into segments (see {@link TiledF32}): every segment ran from a
 * zero state, so each adds the linear term of its true incoming state, lambda^(u+1) q S_in for
 * outputs and dq, and lambda^(len-1-u) U_in for dk and dv, in tasks of a few blocks. Each reads the
 * partial rows from those its segment wrote ({@code partial}: fp32 rows staged for a 16-bit output,
 * see {@link StagedOutput}) and stores the completed rows in the output.
 */
final class SegmentCorrections {
    /** Blocks of one segment per correction task: small enough to spread over threads. */
    private static final int CORRECTION_BLOCKS = 4;

    private final TileOps tiles;
    private final Kernels kx;
    private final int block;

    SegmentCorrections(TileOps tiles) {
        this.tiles = tiles;
        this.kx = tiles.kx();
        this.block = tiles.block();
    }

    /** Tasks of up to CORRECTION_BLOCKS blocks over segments [pLo, pHi) of every sequence. */
    List<SegmentWork> tasks(SegmentPlan plan, AttentionShape sh, DecayPowers[] pw, int pLo, int pHi) {
        List<SegmentWork> list = new ArrayList<>();
        int span = CORRECTION_BLOCKS * block;
        for (int seq = 0; seq < plan.sequences(); seq++) {
            for (int p = pLo; p < pHi; p++) {
                for (int t = plan.start(p); t < plan.end(p); t += span) {
                    int end = Math.min(plan.end(p), t + span);
                    list.add(new SegmentWork(sh, plan, seq, p, t, end, pw[seq % sh.heads()]));
                }
            }
        }
        return list;
    }

    /** o_t = partial o_t + c lambda^(t - segStart + 1) q_t S_in for the work's tokens. */
    void correctOutput(SegmentWork work, ForwardRows io, ForwardRows partial, float[] sIn) {
        AttentionShape sh = work.shape();
        int seq = work.seq(), segStart = work.segmentStart(), t0 = work.from(), t1 = work.to();
        int d = sh.keyDim(), e = sh.valueDim();
        DecayPowers pw = work.powers();
        TokenRows q = io.q(), o = io.o();
        int c = block, b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] qb = new float[c * d], ob = new float[c * e], w = new float[c];
        double scale = pw.cpow()[0];
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            q.load(sh.keyRow(b, h, t), ks, l, d, qb);
            partial.o().load(sh.valueRow(b, h, t), vs, l, e, ob);
            for (int r = 0; r < l; r++) {
                w[r] = scaledWeight(scale, pw.at(t + r - segStart + 1));
            }
            kx.gemm(w, 0, qb, 0, d, sIn, 0, e, ob, 0, e, l, e, d, 1f, true, Kernels.FULL);
            o.store(ob, sh.valueRow(b, h, t), vs, l, e);
        }
    }

    /**
     * dq_t = partial dq_t + c lambda^(t - segStart + 1) dO_t S_in^T over the work's tokens,
     * S_in^T = stIn; returns the matching decay gradient term c sum_t (u+1) lambda^(u+1) q_t S_in dO_t^T.
     */
    double correctDq(SegmentWork work, BackwardRows io, BackwardRows partial, float[] stIn, boolean wantDecay) {
        AttentionShape sh = work.shape();
        int seq = work.seq(), segStart = work.segmentStart(), t0 = work.from(), t1 = work.to();
        DecayPowers pw = work.powers();
        TokenRows q = io.q(), g = io.g(), dq = io.dq();
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] gb = new float[c * e], dqb = new float[c * d], w = new float[c];
        float[] y = wantDecay ? new float[c * d] : null, qb = wantDecay ? new float[c * d] : null;
        double scale = pw.cpow()[0], sum = 0;
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            g.load(sh.valueRow(b, h, t), vs, l, e, gb);
            partial.dq().load(sh.keyRow(b, h, t), ks, l, d, dqb);
            for (int r = 0; r < l; r++) {
                w[r] = scaledWeight(scale, pw.at(t + r - segStart + 1));
            }
            if (!wantDecay) {
                kx.gemm(w, 0, gb, 0, e, stIn, 0, d, dqb, 0, d, l, d, e, 1f, true, Kernels.FULL);
            } else {
                // The decay term needs dO S_in^T itself, so it goes through y.
                q.load(sh.keyRow(b, h, t), ks, l, d, qb);
                kx.gemm(gb, 0, e, stIn, 0, d, y, 0, d, l, d, e, 0f, false, Kernels.FULL);
                for (int r = 0; r < l; r++) {
                    int u = t + r - segStart;
                    for (int x = 0; x < d; x++) {
                        dqb[r * d + x] = Math.fma(w[r], y[r * d + x], dqb[r * d + x]);
                    }
                    sum += scale * (u + 1) * pw.at(u + 1) * kx.dot(qb, r * d, y, r * d, d);
                }
            }
            dq.store(dqb, sh.keyRow(b, h, t), ks, l, d);
        }
        return sum;
    }

    /**
     * dk_t = partial dk_t + lambda^(segEnd-1-t) U_in v_t^T, dv_t = partial dv_t + lambda^(segEnd-1-t)
     * k_t U_in over the work's tokens; with {@code wantDecay}, returns the decay-gradient term
     * sum_t (segEnd-1-t) lambda^(segEnd-1-t) v_t . (k_t U_in), the pairs of U_in with the segment's own
     * states (as sweep 2 sums them per block), from the unflushed powers.
     */
    double correctDkDv(SegmentWork work, BackwardRows io, BackwardRows partial, float[] uIn, boolean wantDecay) {
        AttentionShape sh = work.shape();
        int seq = work.seq(), segEnd = work.segmentEnd(), t0 = work.from(), t1 = work.to();
        DecayPowers pw = work.powers();
        TokenRows k = io.k(), v = io.v(), dk = io.dk(), dv = io.dv();
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] ut = new float[e * d];
        tiles.transposeState(uIn, d, e, ut);
        float[] kb = new float[c * d], vb = new float[c * e], dkb = new float[c * d], dvb = new float[c * e];
        float[] w = new float[c];
        float[] y = wantDecay ? new float[c * e] : null;
        double sum = 0;
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            k.load(sh.keyRow(b, h, t), ks, l, d, kb);
            v.load(sh.valueRow(b, h, t), vs, l, e, vb);
            partial.dk().load(sh.keyRow(b, h, t), ks, l, d, dkb);
            partial.dv().load(sh.valueRow(b, h, t), vs, l, e, dvb);
            for (int r = 0; r < l; r++) {
                w[r] = weight(pw.at(segEnd - 1 - (t + r)));
            }
            kx.gemm(w, 0, vb, 0, e, ut, 0, d, dkb, 0, d, l, d, e, 1f, true, Kernels.FULL);
            if (!wantDecay) {
                kx.gemm(w, 0, kb, 0, d, uIn, 0, e, dvb, 0, e, l, e, d, 1f, true, Kernels.FULL);
            } else {
                // The decay term dots v with k U_in before the flushed weights, so it goes through y.
                kx.gemm(kb, 0, d, uIn, 0, e, y, 0, e, l, e, d, 0f, false, Kernels.FULL);
                sum += tiles.decayRowDots(vb, y, l, e, work.powers(), segEnd - 1 - t, -1);
                for (int r = 0; r < l; r++) {
                    for (int x = 0; x < e; x++) {
                        dvb[r * e + x] = Math.fma(w[r], y[r * e + x], dvb[r * e + x]);
                    }
                }
            }
            dk.store(dkb, sh.keyRow(b, h, t), ks, l, d);
            dv.store(dvb, sh.valueRow(b, h, t), vs, l, e);
        }
        return sum;
    }
}
