package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.TileOps.state;
import static dev.la2.backend.cpu.TileOps.writeState;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.HostTensor;
import java.util.List;

/**
 * The fp32 path's backward: per segment, sweep 1 ({@link DqSweep}) and sweep 2
 * ({@link DkDvSweep}) from zero states, or sweep 2 alone when the forward kept its block states;
 * then the segments joined per sequence ({@link SegmentJoin}), corrected
 * ({@link SegmentCorrections}), and the decay gradient summed over the batch.
 */
final class TiledBackward {
    private final Kernels kx;
    private final int block;
    private final WorkerPool pool;
    private final Scratch scratch;
    private final SegmentCorrections corrections;
    private final DqSweep sweep1;
    private final DkDvSweep sweep2;

    TiledBackward(TileOps tiles, WorkerPool pool, Scratch scratch, SegmentCorrections corrections) {
        this.kx = tiles.kx();
        this.block = tiles.block();
        this.pool = pool;
        this.scratch = scratch;
        this.corrections = corrections;
        this.sweep1 = new DqSweep(tiles);
        this.sweep2 = new DkDvSweep(tiles);
    }

    void run(BackwardCall call, SegmentPlan plan) {
        boolean wantDecay = call.dDecay() != null;
        // Kept block states stand in for sweep 1, except for a decay gradient from states a forward
        // not told of it summed in fp32.
        BlockStates kept = call.residuals() instanceof BlockStates b && (!wantDecay || b.forDecayGradient()) ? b : null;
        if (kept != null && !kept.plan().equals(plan)) {
            throw new IllegalStateException("block states kept for " + kept.plan() + ", backward planned " + plan);
        }
        if (kept != null && !kept.startReading()) {
            throw new IllegalStateException("the kept block states were closed");
        }
        try {
            run(call, plan, wantDecay, kept);
        } finally {
            if (kept != null) {
                kept.endReading();
            }
        }
    }

    private void run(BackwardCall call, SegmentPlan plan, boolean wantDecay, BlockStates kept) {
        AttentionShape sh = call.shape();
        int d = sh.keyDim(), e = sh.valueDim(), de = d * e, heads = sh.heads();
        int seqs = (int) sh.sequences();
        int segs = plan.segments();
        int sweeps = kept == null ? 2 : 1;
        DecayPowers[] pw = DecayPowers.perHead((HostTensor) call.decay(), heads, call.scale(), block);
        DqSweep.Result[][] s1 = new DqSweep.Result[seqs][segs];
        DkDvSweep.Result[][] s2 = new DkDvSweep.Result[seqs][segs];
        BackwardRows io = BackwardRows.of(call, kx);
        long work = scratch.reserve(backwardScratch(d, e) * Math.min(pool.threads(), (long) sweeps * seqs * segs));
        try {
            pool.run(sweeps * seqs * segs, task -> {
                int sweep = kept == null ? task % 2 : 1, rest = task / sweeps, seq = rest / segs, p = rest % segs;
                SegmentWork w = SegmentWork.whole(sh, plan, seq, p, pw[seq % heads]);
                if (sweep == 0) {
                    float[] s0 = p == 0 ? state(call.initialState(), seq, de) : null;
                    s1[seq][p] = sweep1.run(w, io, s0, wantDecay);
                } else {
                    float[] uEnd = p == segs - 1 ? state(call.dFinalState(), seq, de) : null;
                    DkDvSweep.FusedDq dqFused = kept == null ? null
                            : new DkDvSweep.FusedDq(kept, p == 0 && call.initialState() != null);
                    s2[seq][p] = sweep2.run(w, io, uEnd, wantDecay, dqFused);
                }
            });
            double[] decaySeq = new double[seqs];
            float[][][] sIn = new float[seqs][][];
            float[][][] uIn = new float[seqs][][];
            pool.run(seqs, seq -> {
                float[] dsf = state(call.dFinalState(), seq, de);
                SegmentJoin join = new SegmentJoin(plan, pw[seq % heads], d, e, wantDecay);
                SegmentJoin.Joined cb = kept == null
                        ? join.rebuilt(s1[seq], s2[seq], dsf)
                        : join.kept(kept.segmentIn(seq), s2[seq], state(call.initialState(), seq, de), dsf);
                sIn[seq] = cb.stIn();
                uIn[seq] = cb.u().in();
                decaySeq[seq] = cb.decaySum();
                writeState(cb.u().start(), call.dInitialState(), seq);
            });
            if (segs > 1) {
                List<SegmentWork> fixQ = corrections.tasks(plan, sh, pw, 1, segs);
                List<SegmentWork> fixKv = corrections.tasks(plan, sh, pw, 0, segs - 1);
                double[] partial = new double[fixQ.size() + fixKv.size()];
                pool.run(fixQ.size() + fixKv.size(), i -> {
                    if (i < fixQ.size()) {
                        SegmentWork f = fixQ.get(i);
                        partial[i] = corrections.correctDq(f, io, sIn[f.seq()][f.segment()], wantDecay);
                    } else {
                        SegmentWork f = fixKv.get(i - fixQ.size());
                        partial[i] = corrections.correctDkDv(f, io, uIn[f.seq()][f.segment()],
                                wantDecay && kept != null);
                    }
                });
                for (int i = 0; i < partial.length; i++) {
                    decaySeq[(i < fixQ.size() ? fixQ.get(i) : fixKv.get(i - fixQ.size())).seq()] += partial[i];
                }
            }
            if (wantDecay) {
                Rows.writeDecayGradient(decaySeq, sh.batch(), heads, (HostTensor) call.dDecay());
            }
        } finally {
            scratch.release(work);
        }
    }

    private long backwardScratch(int d, int e) {
        int c = block, f = Math.max(d, e);
        return 4L * (5L * c * d + 3L * c * e + 4L * f * c + 3L * c * c + 2L * c * f + 6L * d * e);
    }
}
