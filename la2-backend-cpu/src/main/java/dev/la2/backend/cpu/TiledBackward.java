package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.TileOps.state;
import static dev.la2.backend.cpu.TileOps.writeState;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.HostTensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The fp32 path's backward: per segment, sweep 1 ({@link DqSweep}) and sweep 2
 * ({@link DkDvSweep}) from zero states, or sweep 2 alone when the forward kept its block states;
 * then the segments joined per sequence ({@link SegmentJoin}), corrected
 * ({@link SegmentCorrections}), and the decay gradient summed over the batch. 16-bit gradients'
 * rows of the segments the corrections complete are staged in fp32 until then ({@link StagedOutput}).
 */
final class TiledBackward {
    /** Staged outputs per part: dq, dk and dv. */
    private static final int GRADIENTS = 3;

    private final Kernels kx;
    private final int block;
    private final WorkerPool pool;
    private final Scratch scratch;
    private final StatePool buffers;
    private final SegmentCorrections corrections;
    private final DqSweep sweep1;
    private final DkDvSweep sweep2;

    TiledBackward(TileOps tiles, WorkerPool pool, Scratch scratch, StatePool buffers, SegmentCorrections corrections) {
        this.kx = tiles.kx();
        this.block = tiles.block();
        this.pool = pool;
        this.scratch = scratch;
        this.buffers = buffers;
        this.corrections = corrections;
        this.sweep1 = new DqSweep(tiles);
        this.sweep2 = new DkDvSweep(tiles);
    }

    /** A dense backward cut as {@code plan}, from the kept block states its residuals hold where they serve. */
    void run(BackwardCall call, SegmentPlan plan) {
        boolean wantDecay = call.dDecay() != null;
        BlockStates kept = usable(call.residuals() instanceof BlockStates b ? b : null, wantDecay, plan);
        KeptBuffer.reading(kept == null ? null : kept.memory(), () -> {
            double[] decay = run(List.of(new BackwardPart(call, plan, wantDecay, kept)))[0];
            if (wantDecay) {
                Rows.writeDecayGradient(decay, call.shape().batch(), call.shape().heads(), (HostTensor) call.dDecay());
            }
            return null;
        });
    }

    /**
     * {@code kept} where it can stand in for sweep 1 (else null): not for a decay gradient from
     * states a forward not told of it summed in fp32. States kept for another plan are refused.
     */
    static BlockStates usable(BlockStates kept, boolean wantDecay, SegmentPlan plan) {
        if (kept == null || wantDecay && !kept.forDecayGradient()) {
            return null;
        }
        if (!kept.plan().equals(plan)) {
            throw new IllegalStateException("block states kept for " + kept.plan() + ", backward planned " + plan);
        }
        return kept;
    }

    /** Which part a task of a phase belongs to, and its index within that part. */
    private record Task(int part, int local) {
        static Task of(int[] first, int task) {
            int i = ForwardPart.owner(first, task);
            return new Task(i, task - first[i]);
        }
    }

    /**
     * Runs several calls as one, as {@link TiledForward#run(List)} does: each phase (sweeps, joins,
     * corrections) schedules the tasks of every part over the workers at once, and each part
     * computes exactly as it would alone. Writes every gradient but the decay's and returns, per
     * part, its sequences' decay-gradient sums (see {@link Rows#writeDecayGradient}), null where
     * not wanted. The caller holds the parts' kept states for reading.
     */
    double[][] run(List<BackwardPart> parts) {
        int n = parts.size();
        DecayPowers[][] pw = new DecayPowers[n][];
        BackwardRows[] io = new BackwardRows[n];
        DqSweep.Result[][][] s1 = new DqSweep.Result[n][][];
        DkDvSweep.Result[][][] s2 = new DkDvSweep.Result[n][][];
        int[] sweepFirst = new int[n + 1];
        int[] seqFirst = new int[n + 1];
        List<StagedOutput> outputs = new ArrayList<>(GRADIENTS * n);
        long perTask = 0;
        for (int i = 0; i < n; i++) {
            BackwardPart part = parts.get(i);
            AttentionShape sh = part.call().shape();
            int seqs = (int) sh.sequences(), segs = part.plan().segments();
            pw[i] = DecayPowers.perHead((HostTensor) part.call().decay(), sh.heads(), part.call().scale(), block);
            io[i] = BackwardRows.of(part.call(), kx);
            // dq of segments 1.. and dk, dv of all but the last: those the corrections complete.
            outputs.add(StagedOutput.of(io[i].dq(), sh, part.plan(), true, 1, segs));
            outputs.add(StagedOutput.of(io[i].dk(), sh, part.plan(), true, 0, segs - 1));
            outputs.add(StagedOutput.of(io[i].dv(), sh, part.plan(), false, 0, segs - 1));
            s1[i] = new DqSweep.Result[seqs][segs];
            s2[i] = new DkDvSweep.Result[seqs][segs];
            sweepFirst[i + 1] = sweepFirst[i] + (part.kept() == null ? 2 : 1) * seqs * segs;
            seqFirst[i + 1] = seqFirst[i] + seqs;
            perTask = Math.max(perTask, backwardScratch(sh.keyDim(), sh.valueDim()));
        }
        long work = scratch.reserve(perTask * Math.min(pool.threads(), sweepFirst[n]));
        try (Staging staging = new Staging(buffers, outputs)) {
            List<StagedOutput> staged = staging.outputs();
            pool.run(sweepFirst[n], task -> {
                Task at = Task.of(sweepFirst, task);
                sweep(parts.get(at.part()), at.local(), pw[at.part()], io[at.part()], staged.subList(
                        GRADIENTS * at.part(), GRADIENTS * (at.part() + 1)), s1[at.part()], s2[at.part()]);
            });
            double[][] decaySeq = new double[n][];
            float[][][][] sIn = new float[n][][][];
            float[][][][] uIn = new float[n][][][];
            for (int i = 0; i < n; i++) {
                int seqs = seqFirst[i + 1] - seqFirst[i];
                decaySeq[i] = new double[seqs];
                sIn[i] = new float[seqs][][];
                uIn[i] = new float[seqs][][];
            }
            pool.run(seqFirst[n], task -> {
                Task at = Task.of(seqFirst, task);
                int i = at.part(), seq = at.local();
                BackwardPart part = parts.get(i);
                BackwardCall call = part.call();
                AttentionShape sh = call.shape();
                int d = sh.keyDim(), e = sh.valueDim(), de = d * e;
                float[] dsf = state(call.dFinalState(), seq, de);
                SegmentJoin join = new SegmentJoin(part.plan(), pw[i][seq % sh.heads()], d, e, part.wantDecay());
                SegmentJoin.Joined cb = part.kept() == null
                        ? join.rebuilt(s1[i][seq], s2[i][seq], dsf)
                        : join.kept(part.kept().segmentIn(seq), s2[i][seq], state(call.initialState(), seq, de), dsf);
                sIn[i][seq] = cb.stIn();
                uIn[i][seq] = cb.u().in();
                decaySeq[i][seq] = cb.decaySum();
                writeState(cb.u().start(), call.dInitialState(), seq);
            });
            correct(parts, pw, io, staged, sIn, uIn, decaySeq);
            for (int i = 0; i < n; i++) {
                if (!parts.get(i).wantDecay()) {
                    decaySeq[i] = null;
                }
            }
            return decaySeq;
        } finally {
            scratch.release(work);
        }
    }

    /** The rows segment {@code p} of sequence {@code seq} writes, given a part's staged dq, dk and dv. */
    private static BackwardRows written(BackwardRows io, List<StagedOutput> staged, int seq, int p) {
        return io.writingTo(staged.get(0).rows(seq, p), staged.get(1).rows(seq, p), staged.get(2).rows(seq, p));
    }

    /** Task {@code local} of a part's sweeps: sweep 1 or 2 of one segment of one sequence. */
    private void sweep(BackwardPart part, int local, DecayPowers[] pw, BackwardRows io, List<StagedOutput> staged,
                       DqSweep.Result[][] s1, DkDvSweep.Result[][] s2) {
        BackwardCall call = part.call();
        AttentionShape sh = call.shape();
        BlockStates kept = part.kept();
        int de = sh.keyDim() * sh.valueDim(), segs = part.plan().segments(), sweeps = kept == null ? 2 : 1;
        int sweep = kept == null ? local % 2 : 1, rest = local / sweeps, seq = rest / segs, p = rest % segs;
        SegmentWork w = SegmentWork.whole(sh, part.plan(), seq, p, pw[seq % sh.heads()]);
        BackwardRows rows = written(io, staged, seq, p);
        if (sweep == 0) {
            float[] s0 = p == 0 ? state(call.initialState(), seq, de) : null;
            s1[seq][p] = sweep1.run(w, rows, s0, part.wantDecay());
        } else {
            float[] uEnd = p == segs - 1 ? state(call.dFinalState(), seq, de) : null;
            DkDvSweep.FusedDq dqFused = kept == null ? null
                    : new DkDvSweep.FusedDq(kept, p == 0 && call.initialState() != null);
            s2[seq][p] = sweep2.run(w, rows, uEnd, part.wantDecay(), dqFused);
        }
    }

    /**
     * The correction pass of the parts cut into segments, all parts' tasks together; their
     * decay-gradient terms are added per part in the order a part alone adds them.
     */
    private void correct(List<BackwardPart> parts, DecayPowers[][] pw, BackwardRows[] io, List<StagedOutput> staged,
                         float[][][][] sIn, float[][][][] uIn, double[][] decaySeq) {
        record Fix(int part, SegmentWork work, boolean dq) {
        }
        List<Fix> fixes = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            SegmentPlan plan = parts.get(i).plan();
            int segs = plan.segments();
            if (segs > 1) {
                AttentionShape sh = parts.get(i).call().shape();
                for (SegmentWork f : corrections.tasks(plan, sh, pw[i], 1, segs)) {
                    fixes.add(new Fix(i, f, true));
                }
                for (SegmentWork f : corrections.tasks(plan, sh, pw[i], 0, segs - 1)) {
                    fixes.add(new Fix(i, f, false));
                }
            }
        }
        double[] partial = new double[fixes.size()];
        pool.run(fixes.size(), j -> {
            Fix f = fixes.get(j);
            BackwardPart part = parts.get(f.part());
            int i = f.part(), seq = f.work().seq(), p = f.work().segment();
            BackwardRows rows = written(io[i], staged.subList(GRADIENTS * i, GRADIENTS * (i + 1)), seq, p);
            partial[j] = f.dq()
                    ? corrections.correctDq(f.work(), io[i], rows, sIn[i][seq][p], part.wantDecay())
                    : corrections.correctDkDv(f.work(), io[i], rows, uIn[i][seq][p],
                            part.wantDecay() && part.kept() != null);
        });
        for (int j = 0; j < partial.length; j++) {
            Fix f = fixes.get(j);
            decaySeq[f.part()][f.work().seq()] += partial[j];
        }
    }

    private long backwardScratch(int d, int e) {
        int c = block, f = Math.max(d, e);
        return 4L * (5L * c * d + 3L * c * e + 4L * f * c + 3L * c * c + 2L * c * f + 6L * d * e);
    }
}
