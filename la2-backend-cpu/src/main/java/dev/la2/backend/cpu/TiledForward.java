package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.TileOps.state;
import static dev.la2.backend.cpu.TileOps.writeState;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The fp32 path's forward (SPEC.md section 2): every segment block by block from a zero state
 * (the first from the initial state), then the segments' end states joined in order and each
 * later segment's outputs corrected by its true incoming state; a 16-bit output's rows of those
 * segments are staged in fp32 until then ({@link StagedOutput}). With {@link BlockStates}, it also
 * keeps the state entering every block for the backward.
 */
final class TiledForward {
    private final TileOps tiles;
    private final Kernels kx;
    private final int block;
    private final WorkerPool pool;
    private final Scratch scratch;
    private final StatePool buffers;
    private final SegmentCorrections corrections;

    TiledForward(TileOps tiles, WorkerPool pool, Scratch scratch, StatePool buffers, SegmentCorrections corrections) {
        this.tiles = tiles;
        this.kx = tiles.kx();
        this.block = tiles.block();
        this.pool = pool;
        this.scratch = scratch;
        this.buffers = buffers;
        this.corrections = corrections;
    }

    /** Runs the call cut as {@code plan} says; with {@code keep} (null: none), fills it. */
    void run(ForwardCall call, SegmentPlan plan, BlockStates keep) {
        run(List.of(new ForwardPart(call, plan, keep)));
    }

    /**
     * Runs several calls as one: each phase (segments, joins, corrections) schedules the tasks of
     * every part over the workers at once, so short parts share the threads instead of each
     * waiting for its own slowest task. Each part computes exactly as it would alone.
     */
    void run(List<ForwardPart> parts) {
        int n = parts.size();
        DecayPowers[][] pw = new DecayPowers[n][];
        ForwardRows[] io = new ForwardRows[n];
        float[][][][] ends = new float[n][][][];
        int[] first = new int[n + 1];
        List<StagedOutput> outputs = new ArrayList<>(n);
        long perTask = 0;
        for (int i = 0; i < n; i++) {
            ForwardPart part = parts.get(i);
            AttentionShape sh = part.call().shape();
            pw[i] = DecayPowers.perHead((HostTensor) part.call().decay(), sh.heads(), part.call().scale(), block);
            io[i] = ForwardRows.of(part.call(), kx);
            outputs.add(StagedOutput.of(io[i].o(), sh, part.plan(), false, 1, part.plan().segments()));
            ends[i] = new float[(int) sh.sequences()][part.plan().segments()][];
            first[i + 1] = first[i] + (int) sh.sequences() * part.plan().segments();
            perTask = Math.max(perTask, forwardScratch(sh.keyDim(), sh.valueDim(),
                    part.keep() != null && part.keep().forDecayGradient()));
        }
        long work = scratch.reserve(perTask * Math.min(pool.threads(), first[n]));
        try (Staging staging = new Staging(buffers, outputs)) {
            List<StagedOutput> staged = staging.outputs();
            pool.run(first[n], task -> {
                int i = ForwardPart.owner(first, task), local = task - first[i];
                ForwardPart part = parts.get(i);
                SegmentPlan plan = part.plan();
                AttentionShape sh = part.call().shape();
                int seq = local / plan.segments(), p = local % plan.segments();
                float[] s0 = p == 0 ? state(part.call().initialState(), seq, sh.keyDim() * sh.valueDim()) : null;
                ForwardRows rows = io[i].writingTo(staged.get(i).rows(seq, p));
                ends[i][seq][p] = forwardSegment(SegmentWork.whole(sh, plan, seq, p, pw[i][seq % sh.heads()]), rows, s0,
                        part.keep());
            });
            join(parts, pw, io, staged, ends);
            for (int i = 0; i < n; i++) {
                ForwardCall call = parts.get(i).call();
                if (call.finalState() != null) {
                    int last = parts.get(i).plan().segments() - 1;
                    for (int seq = 0; seq < ends[i].length; seq++) {
                        writeState(ends[i][seq][last], call.finalState(), seq);
                    }
                }
            }
        } finally {
            scratch.release(work);
        }
    }

    /** The parts cut into segments: their end states joined in order, and the later segments corrected. */
    private void join(List<ForwardPart> parts, DecayPowers[][] pw, ForwardRows[] io, List<StagedOutput> staged,
                      float[][][][] ends) {
        record Sequence(int part, int seq) {
        }
        record Fix(int part, SegmentWork work) {
        }
        List<Sequence> cut = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            if (parts.get(i).plan().segments() > 1) {
                for (int seq = 0; seq < ends[i].length; seq++) {
                    cut.add(new Sequence(i, seq));
                }
            }
        }
        if (cut.isEmpty()) {
            return;
        }
        float[][][][] incoming = new float[parts.size()][][][];
        List<Fix> fixes = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            ForwardPart part = parts.get(i);
            if (part.plan().segments() > 1) {
                incoming[i] = new float[ends[i].length][][];
                for (SegmentWork f : corrections.tasks(part.plan(), part.call().shape(), pw[i], 1, part.plan().segments())) {
                    fixes.add(new Fix(i, f));
                }
            }
        }
        pool.run(cut.size(), j -> {
            Sequence c = cut.get(j);
            ForwardPart part = parts.get(c.part());
            AttentionShape sh = part.call().shape();
            incoming[c.part()][c.seq()] = new SegmentJoin(part.plan(), pw[c.part()][c.seq() % sh.heads()], sh.keyDim(),
                    sh.valueDim(), false).states(ends[c.part()][c.seq()]);
        });
        for (Sequence c : cut) {
            ForwardPart part = parts.get(c.part());
            if (part.keep() != null) {
                int d = part.call().shape().keyDim(), e = part.call().shape().valueDim();
                for (int p = 1; p < part.plan().segments(); p++) {
                    float[] t = new float[d * e];
                    tiles.transposeState(incoming[c.part()][c.seq()][p], d, e, t);
                    part.keep().putSegmentIn(c.seq(), p, t);
                }
            }
        }
        pool.run(fixes.size(), j -> {
            Fix f = fixes.get(j);
            int seq = f.work().seq(), p = f.work().segment();
            ForwardRows partial = io[f.part()].writingTo(staged.get(f.part()).rows(seq, p));
            corrections.correctOutput(f.work(), io[f.part()], partial, incoming[f.part()][seq][p]);
        });
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
            tiles.updateState(carried, zero, pw, l, l, kt, vb);
            zero = false;
        }
        return st;
    }
}
