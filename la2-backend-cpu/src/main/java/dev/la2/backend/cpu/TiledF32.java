package dev.la2.backend.cpu;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.PackedBackwardCall;
import dev.la2.spi.PackedForwardCall;
import java.util.ArrayList;
import java.util.List;

/**
 * SPEC.md section 2 in fp32: blocks of C tokens, masked C x C tiles inside a block, the D x E state
 * between blocks. Every product goes through {@link Kernels#gemm}. Tensors may store fp32, bf16 or
 * fp16 ({@link TokenRows} converts a block's rows); tiles, states and sums are fp32 either way.
 *
 * <p>Parallelism: sequences (b, h) are independent; when there are fewer of them than threads,
 * each is also cut into segments of whole blocks ({@link SegmentPlan}). Every segment runs from a
 * zero start (the first from the true initial state, the last backward segment from the true
 * dFinalState), the segments' end states are then joined in order ({@link SegmentJoin}), and a
 * correction pass ({@link SegmentCorrections}) adds each segment's true incoming state. The
 * partition depends only on the shape and the thread count, and every reduction runs in a fixed
 * order, so results are reproducible bit for bit. With 16-bit storage the rows the correction pass
 * completes are staged in fp32 until then ({@link StagedOutput}), so every element is rounded to 16
 * bits once, from its final value, cut or not: a partial sum beyond FP16's 65504 never reaches the
 * tensor where the completed value fits.
 *
 * <p>The backward runs two sweeps per segment: sweep 1 ({@link DqSweep}) forward in time for dq,
 * rebuilding S block by block, and sweep 2 ({@link DkDvSweep}) backward in time for dk and dv. When
 * the forward kept its block states ({@link #forwardKeeping}), sweep 2 also computes dq from them
 * and sweep 1 is skipped: the backward then saves more than the keeping forward pays for writing
 * the states.
 *
 * <p>The decay gradient is SPEC.md's -lambda sum_t &lt;G_t, S_{t-1}&gt;, summed in double from
 * fp32 products. Its terms cancel, so it is summed pair by pair: the per-token identity with
 * absolute positions t that the cuda backend uses for 16-bit storage and TF32 loses about as much
 * as the whole fp32 tolerance at N=4096. From kept states, sweep 2 splits it per block and the
 * segment join per segment; without them, sweep 1 carries the tangent T = -dS/ds. The states, T
 * and sweep 2's U are carried and joined in double, since the sum pairs them across the whole
 * sequence: summed in fp32 they cost the gradient about a digit (at D = E = 256 enough to reach the
 * tolerance), while in double it stays within about 3.5e-7 of the terms' size, cut into segments or not.
 */
final class TiledF32 {
    private final int block;
    private final int segmentTokens;
    private final WorkerPool pool;
    private final StatePool keptStates;
    private final TiledForward forward;
    private final TiledBackward backward;
    private final DecodeF32 decode;

    TiledF32(Kernels kx, WorkerPool pool, int block, int segmentTokens, Scratch scratch, StatePool keptStates) {
        this.block = block;
        this.segmentTokens = segmentTokens;
        this.pool = pool;
        this.keptStates = keptStates;
        TileOps tiles = new TileOps(kx, block);
        SegmentCorrections corrections = new SegmentCorrections(tiles);
        this.forward = new TiledForward(tiles, pool, scratch, keptStates, corrections);
        this.backward = new TiledBackward(tiles, pool, scratch, keptStates, corrections);
        this.decode = new DecodeF32(kx, pool);
    }

    SegmentPlan plan(AttentionShape shape) {
        return plan(shape, pool.threads());
    }

    private SegmentPlan plan(AttentionShape shape, int threads) {
        return SegmentPlan.of((int) shape.sequences(), shape.tokens(), block, segmentTokens, threads);
    }

    void forward(ForwardCall call) {
        forward.run(call, plan(call.shape()), null);
    }

    /**
     * Runs the forward call and returns the states its backward can read instead of sweep 1; for a
     * decay gradient they are summed in double (see {@link Kernels#accumulateWide}).
     */
    BlockStates forwardKeeping(ForwardCall call, boolean forDecayGradient) {
        AttentionShape sh = call.shape();
        BlockStates keep = new BlockStates(plan(sh), block, sh.keyDim(), sh.valueDim(), forDecayGradient, keptStates);
        try {
            forward.run(call, keep.plan(), keep);
            return keep;
        } catch (RuntimeException | Error e) {
            keep.close();
            throw e;
        }
    }

    /** A packed forward: every sequence's (head, segment) tasks scheduled together (see {@link PackedSequences}). */
    void forwardPacked(PackedForwardCall call) {
        List<ForwardPart> parts = new ArrayList<>();
        for (ForwardCall c : PackedSequences.forward(call)) {
            parts.add(new ForwardPart(c, packedPlan(c.shape(), call.shape().tokens()), null));
        }
        forward.run(parts);
    }

    /**
     * {@link #forwardPacked} keeping every sequence's block states, as {@link #forwardKeeping}
     * does, in one buffer for all of them; each sequence computes as in {@link #forwardPacked}.
     */
    PackedBlockStates forwardPackedKeeping(PackedForwardCall call, boolean forDecayGradient) {
        List<ForwardCall> calls = PackedSequences.forward(call);
        int n = calls.size();
        List<SegmentPlan> plans = new ArrayList<>(n);
        // Sequence i's states take bytes [at[i], at[i + 1]) of the one buffer.
        long[] at = new long[n + 1];
        for (int i = 0; i < n; i++) {
            AttentionShape sh = calls.get(i).shape();
            plans.add(packedPlan(sh, call.shape().tokens()));
            at[i + 1] = at[i] + BlockStates.stateBytes(plans.get(i), block, sh.keyDim(), sh.valueDim());
        }
        KeptBuffer memory = KeptBuffer.acquire(keptStates, at[n]);
        try {
            List<ForwardPart> parts = new ArrayList<>(n);
            List<BlockStates> kept = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                AttentionShape sh = calls.get(i).shape();
                kept.add(new BlockStates(plans.get(i), block, sh.keyDim(), sh.valueDim(), forDecayGradient, memory,
                        at[i]));
                parts.add(new ForwardPart(calls.get(i), plans.get(i), kept.get(i)));
            }
            forward.run(parts);
            return new PackedBlockStates(memory, List.copyOf(kept));
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * A packed backward: every sequence's sweeps, joins and corrections scheduled together, cut as
     * the packed forward cuts them, from the states {@link #forwardPackedKeeping} kept where given.
     * dDecay is each sequence's as its own call writes it (fp32), summed in double in order, as
     * the SPI's per-sequence default sums them.
     */
    void backwardPacked(PackedBackwardCall call) {
        boolean wantDecay = call.dDecay() != null;
        List<BackwardCall> calls = PackedSequences.backward(call);
        PackedBlockStates kept = call.residuals() instanceof PackedBlockStates p ? p : null;
        if (kept != null && kept.parts().size() != calls.size()) {
            throw new IllegalStateException("block states kept for " + kept.parts().size() + " sequences, backward of "
                    + calls.size());
        }
        List<BackwardPart> parts = new ArrayList<>(calls.size());
        for (int i = 0; i < calls.size(); i++) {
            SegmentPlan plan = packedPlan(calls.get(i).shape(), call.shape().tokens());
            BlockStates states = kept == null ? null : TiledBackward.usable(kept.parts().get(i), wantDecay, plan);
            parts.add(new BackwardPart(calls.get(i), plan, wantDecay, states));
        }
        double[][] decay = KeptBuffer.reading(kept == null ? null : kept.memory(), () -> backward.run(parts));
        if (wantDecay) {
            double[] sum = new double[call.shape().heads()];
            for (double[] perHead : decay) {
                for (int h = 0; h < sum.length; h++) {
                    sum[h] += (float) -perHead[h];
                }
            }
            call.dDecay().copyFrom(sum);
        }
    }

    void backward(BackwardCall call) {
        backward.run(call, plan(call.shape()));
    }

    /** How a packed call cuts a sequence of {@code total} tokens: by its share of the threads. */
    private SegmentPlan packedPlan(AttentionShape sh, int total) {
        return plan(sh, PackedSequences.threadShare(pool.threads(), sh.tokens(), total));
    }

    void decode(DecodeCall call) {
        decode.run(call);
    }
}
