package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.TileOps.state;
import static dev.la2.backend.cpu.TileOps.writeState;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import java.util.List;

/**
 * The fp32 path's forward (SPEC.md section 2): every segment block by block from a zero state
 * (the first from the initial state), then the segments' end states joined in order and each
 * later segment's outputs corrected by its true incoming state. With {@link BlockStates}, it also
 * keeps the state entering every block for the backward.
 */
final class TiledForward {
    private final TileOps tiles;
    private final Kernels kx;
    private final int block;
    private final WorkerPool pool;
    private final Scratch scratch;
    private final SegmentCorrections corrections;

    TiledForward(TileOps tiles, WorkerPool pool, Scratch scratch, SegmentCorrections corrections) {
        this.tiles = tiles;
        this.kx = tiles.kx();
        this.block = tiles.block();
        this.pool = pool;
        this.scratch = scratch;
        this.corrections = corrections;
    }

    /** Runs the call cut as {@code plan} says; with {@code keep} (null: none), fills it. */
    void run(ForwardCall call, SegmentPlan plan, BlockStates keep) {
        AttentionShape sh = call.shape();
        int d = sh.keyDim(), e = sh.valueDim(), de = d * e;
        int seqs = (int) sh.sequences();
        DecayPowers[] pw = DecayPowers.perHead((HostTensor) call.decay(), sh.heads(), call.scale(), block);
        float[][][] ends = new float[seqs][plan.segments()][];
        ForwardRows io = ForwardRows.of(call, kx);
        long work = scratch.reserve(forwardScratch(d, e, keep != null && keep.forDecayGradient())
                * Math.min(pool.threads(), seqs * plan.segments()));
        try {
            pool.run(seqs * plan.segments(), task -> {
                int seq = task / plan.segments(), p = task % plan.segments();
                float[] s0 = p == 0 ? state(call.initialState(), seq, de) : null;
                ends[seq][p] = forwardSegment(SegmentWork.whole(sh, plan, seq, p, pw[seq % sh.heads()]), io, s0, keep);
            });
            if (plan.segments() > 1) {
                float[][][] incoming = new float[seqs][][];
                pool.run(seqs, seq -> incoming[seq] = new SegmentJoin(plan, pw[seq % sh.heads()], d, e, false)
                        .states(ends[seq]));
                if (keep != null) {
                    for (int seq = 0; seq < seqs; seq++) {
                        for (int p = 1; p < plan.segments(); p++) {
                            float[] t = new float[de];
                            tiles.transposeState(incoming[seq][p], d, e, t);
                            keep.putSegmentIn(seq, p, t);
                        }
                    }
                }
                List<SegmentWork> fixes = corrections.tasks(plan, sh, pw, 1, plan.segments());
                pool.run(fixes.size(), i -> {
                    SegmentWork f = fixes.get(i);
                    corrections.correctOutput(f, io, incoming[f.seq()][f.segment()]);
                });
            }
            if (call.finalState() != null) {
                for (int seq = 0; seq < seqs; seq++) {
                    writeState(ends[seq][plan.segments() - 1], call.finalState(), seq);
                }
            }
        } finally {
            scratch.release(work);
        }
    }

    private long forwardScratch(int d, int e, boolean wideStates) {
        int c = block;
        return 4L * (3L * c * d + 2L * c * e + (long) d * c + (long) c * c + (wideStates ? 4L : 1L) * d * e);
    }

    /**
     * Runs the work's tokens from {@code s0} (null: zero), writing their outputs, and returns the
     * state after the last. With {@code keep}, stores the state entering each block; for a decay
     * gradient the state is carried in double (see {@link Kernels#accumulateWide}).
     */
    private float[] forwardSegment(SegmentWork work, ForwardRows io, float[] s0, BlockStates keep) {
        AttentionShape sh = work.shape();
        int seq = work.seq(), t0 = work.from(), t1 = work.to();
        DecayPowers pw = work.powers();
        TokenRows q = io.q(), k = io.k(), v = io.v(), o = io.o();
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] qb = new float[c * d], kb = new float[c * d], vb = new float[c * e], ob = new float[c * e];
        float[] kt = new float[d * c], a = new float[c * c];
        float[] st = s0 != null ? s0 : new float[d * e];
        boolean zero = s0 == null;
        CarriedState carried = CarriedState.of(st, keep != null && keep.forDecayGradient(), d, e);
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            if (keep != null && !zero) {
                keep.put(seq, t, st);
            }
            q.load(sh.keyRow(b, h, t), ks, l, d, qb);
            k.load(sh.keyRow(b, h, t), ks, l, d, kb);
            v.load(sh.valueRow(b, h, t), vs, l, e, vb);
            kx.transpose(kb, l, d, kt, c);
            // Intra-block: ((Q K^T) (.) M) V with the scale folded into the mask.
            kx.gemm(qb, 0, d, kt, 0, c, a, 0, c, l, l, d, 0f, false, Kernels.OUT_LOWER);
            kx.maskLower(a, c, l, pw.crev(), c);
            kx.gemm(a, 0, c, vb, 0, e, ob, 0, e, l, e, l, 0f, false, Kernels.K_LOWER);
            // Inter-block: c lambda^(a+1) q_a S.
            if (!zero) {
                kx.gemm(pw.cpow(), 1, qb, 0, d, st, 0, e, ob, 0, e, l, e, d, 1f, true, Kernels.FULL);
            }
            o.store(ob, sh.valueRow(b, h, t), vs, l, e);
            // S <- lambda^l S + (diag(lambda^(l-1-j)) K)^T V.
            kx.scaleColumns(kt, d, l, c, pw.rev(), c - l);
            tiles.updateState(carried, zero, pw, l, kt, vb);
            zero = false;
        }
        return st;
    }
}
