package dev.la2.backend.cpu;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * SPEC.md section 2 in fp32: blocks of C tokens, masked C x C tiles inside a block, the D x E state
 * between blocks. Every product goes through {@link Kernels#gemm}. Tensors may store fp32, bf16 or
 * fp16 ({@link TokenRows} converts whole tiles); tiles, states and sums are fp32 either way.
 *
 * <p>Parallelism: sequences (b, h) are independent; when there are fewer of them than threads,
 * each is also cut into segments of whole blocks. Every segment runs from a zero start (the first
 * from the true initial state, the last backward segment from the true dFinalState), the segments'
 * end states are then combined in order (S_in(p+1) = lambda^len S_in(p) + local end), and a
 * correction pass adds each segment's true incoming state: a linear term, lambda^(u+1) q S_in for
 * outputs, dq, and lambda^(len-1-u) for dk and dv. The partition depends only on the shape and the
 * thread count, and every reduction runs in a fixed order, so results are reproducible bit for bit.
 * (With 16-bit storage the corrected rows are rounded twice, once per pass: about 2^-9 relative,
 * far inside SPEC.md's 2e-2.)
 *
 * <p>The backward runs two sweeps per segment: sweep 1 forward in time for dq (rebuilding S block
 * by block), sweep 2 backward in time for dk and dv. When the forward kept its block states
 * ({@link #forwardKeeping}), sweep 2 also computes dq from them and sweep 1 is skipped. Measured
 * on 2 cores, N=1024 to 65536 (eighth session): forward plus backward 11-16% faster than with the
 * states rebuilt, though the keeping forward pays 7-16% for writing them.
 *
 * <p>The decay gradient is SPEC.md's -lambda sum_t &lt;G_t, S_{t-1}&gt;, summed in double from
 * fp32 products. Its terms cancel, so it is summed pair by pair: the per-token identity with
 * absolute positions t that the cuda backend uses for 16-bit storage and TF32 measured 1e-5 of the
 * terms' size here at N=4096, the fp32 tolerance itself.
 * From kept states, sweep 2 splits it per block (see {@link #sweepBackward}), and the segment
 * corrections the same way per segment ({@link #combineKept}); those states and sweep 2's U are
 * then summed in double, since the sum pairs them across the whole sequence. Without them, sweep 1
 * differentiates the state forward, T = -dS/ds, which obeys T_t = lambda (S_{t-1} + T_{t-1}) and
 * gives ds = -(c sum_t q_t T_t dO_t^T + &lt;dS_final, T_{N-1}&gt;), with S and T carried in double;
 * T combines across segments like S does. Measured against the float64 reference (worst of 4 draws
 * of 3 heads, s = 0, 0.001 and 0.004, error over the terms' size): from kept states 1.1-3.5e-7 at
 * N=1000-4096 and D, E from 32 to 256, where states summed in fp32 gave 0.8-2.3e-6 (1.1e-5 relative
 * to dDecay itself at D=E=256); cut into four segments at N=16384, 2.0-3.3e-7 kept or rebuilt.
 */
final class TiledF32 {
    /** Blocks of one segment per correction task: small enough to spread over threads. */
    private static final int CORRECTION_BLOCKS = 4;

    private final Kernels kx;
    private final WorkerPool pool;
    private final int block;
    private final int segmentTokens;
    private final Scratch scratch;
    private final StatePool keptStates;

    TiledF32(Kernels kx, WorkerPool pool, int block, int segmentTokens, Scratch scratch, StatePool keptStates) {
        this.kx = kx;
        this.pool = pool;
        this.block = block;
        this.segmentTokens = segmentTokens;
        this.scratch = scratch;
        this.keptStates = keptStates;
    }

    /** How sequences are cut: {@code segments} pieces of {@code segmentLength} tokens (a multiple of C). */
    record Plan(int sequences, int tokens, int segments, int segmentLength) {
        int start(int p) {
            return p * segmentLength;
        }

        int end(int p) {
            return Math.min(tokens, (p + 1) * segmentLength);
        }
    }

    Plan plan(int sequences, int tokens) {
        int c = block;
        int blocks = (tokens + c - 1) / c;
        int perSegment;
        if (segmentTokens > 0) {
            perSegment = Math.max(1, (segmentTokens + c - 1) / c);
        } else if (sequences >= pool.threads()) {
            perSegment = blocks;
        } else {
            int want = (pool.threads() + sequences - 1) / sequences;
            perSegment = (blocks + want - 1) / want;
        }
        int segments = (blocks + perSegment - 1) / perSegment;
        return new Plan(sequences, tokens, segments, perSegment * c);
    }

    /**
     * A decay weight as float, with magnitudes below 1e-28 flushed to zero. Powers of lambda
     * underflow smoothly into subnormal floats, and products with subnormal operands cost Intel
     * cores a microcode assist each (measured: a segmented call ran 4x slower); a weight that
     * small changes no result by more than 1e-28 of its other terms.
     */
    static float weight(double x) {
        return Math.abs(x) < 1e-28 ? 0f : (float) x;
    }

    /** The same for weights kept in double (subnormal doubles start near 1e-308). */
    static double weight64(double x) {
        return Math.abs(x) < 1e-280 ? 0 : x;
    }

    /**
     * lambda^m and c lambda^m for m = 0..C, in float, from exp(-s m); also rev[j] = lambda^(C-1-j),
     * so that lambda^(l-1-j) for a block of l tokens is rev[C-l+j], and crev[j] = c lambda^(C-1-j).
     * Loops index the reversed tables upwards, which C2 vectorizes (a downward index it does not).
     */
    private record Powers(double s, float[] pow, float[] cpow, float[] rev, float[] crev) {
        static Powers of(double s, double scale, int c) {
            float[] pow = new float[c + 1], cpow = new float[c + 1], rev = new float[c], crev = new float[c];
            for (int m = 0; m <= c; m++) {
                double p = Math.exp(-s * m);
                pow[m] = weight(p);
                cpow[m] = weight(scale * p);
            }
            for (int j = 0; j < c; j++) {
                rev[j] = pow[c - 1 - j];
                crev[j] = cpow[c - 1 - j];
            }
            return new Powers(s, pow, cpow, rev, crev);
        }

        double at(long m) {
            return Math.exp(-s * m);
        }
    }

    private Powers[] powers(HostTensor decay, int heads, double scale) {
        Powers[] p = new Powers[heads];
        for (int h = 0; h < heads; h++) {
            p[h] = Powers.of(decay.get(h), scale, block);
        }
        return p;
    }

    private static MemorySegment seg(Object t) {
        return ((HostTensor) t).segment();
    }

    private TokenRows rows(Object t) {
        return TokenRows.of(t, kx);
    }

    private static float[] state(Object t, int seq, int de) {
        if (t == null) {
            return null;
        }
        float[] s = new float[de];
        MemorySegment.copy(seg(t), Rows.F32, (long) seq * de * 4, s, 0, de);
        return s;
    }

    private static void writeState(float[] s, Object t, int seq) {
        MemorySegment.copy(s, 0, seg(t), Rows.F32, (long) seq * s.length * 4, s.length);
    }

    private void transposeState(float[] src, int rows, int cols, float[] dst) {
        kx.transpose(src, rows, cols, dst, rows);
    }

    /** dst = a * x + b * y elementwise (y may be null). */
    private static void axpby(float[] dst, float a, float[] x, float b, float[] y) {
        for (int i = 0; i < dst.length; i++) {
            dst[i] = a * x[i] + (y == null ? 0f : b * y[i]);
        }
    }

    // ---------------------------------------------------------------- forward

    void forward(ForwardCall call) {
        forward(call, null);
    }

    /**
     * Runs the forward call and returns the states its backward can read instead of sweep 1; for a
     * decay gradient they are summed in double (see {@link Kernels#accumulateWide}), which costs
     * the keeping forward about 5% (one JVM, 2 cores, N=8192).
     */
    BlockStates forwardKeeping(ForwardCall call, boolean forDecayGradient) {
        AttentionShape sh = call.shape();
        BlockStates keep = new BlockStates(plan((int) sh.sequences(), sh.tokens()), block, sh.keyDim(), sh.valueDim(),
                forDecayGradient, keptStates);
        try {
            forward(call, keep);
            return keep;
        } catch (RuntimeException | Error e) {
            keep.close();
            throw e;
        }
    }

    private void forward(ForwardCall call, BlockStates keep) {
        AttentionShape sh = call.shape();
        int d = sh.keyDim(), e = sh.valueDim(), de = d * e;
        int seqs = (int) sh.sequences();
        Plan plan = plan(seqs, sh.tokens());
        Powers[] pw = powers((HostTensor) call.decay(), sh.heads(), call.scale());
        float[][][] ends = new float[seqs][plan.segments()][];
        TokenRows q = rows(call.q()), k = rows(call.k()), v = rows(call.v()), o = rows(call.output());
        long work = scratch.reserve(forwardScratch(d, e, keep != null && keep.forDecayGradient())
                * Math.min(pool.threads(), seqs * plan.segments()));
        try {
            pool.run(seqs * plan.segments(), task -> {
                int seq = task / plan.segments(), p = task % plan.segments();
                float[] s0 = p == 0 ? state(call.initialState(), seq, de) : null;
                ends[seq][p] = forwardSegment(sh, seq, plan.start(p), plan.end(p), pw[seq % sh.heads()],
                        q, k, v, o, s0, keep);
            });
            if (plan.segments() > 1) {
                float[][][] incoming = new float[seqs][][];
                pool.run(seqs, seq -> incoming[seq] = combineStates(plan, pw[seq % sh.heads()], ends[seq]));
                if (keep != null) {
                    for (int seq = 0; seq < seqs; seq++) {
                        for (int p = 1; p < plan.segments(); p++) {
                            float[] t = new float[de];
                            transposeState(incoming[seq][p], d, e, t);
                            keep.putSegmentIn(seq, p, t);
                        }
                    }
                }
                List<int[]> fixes = corrections(plan, seqs, 1, plan.segments());
                pool.run(fixes.size(), i -> {
                    int[] f = fixes.get(i);
                    correctOutput(sh, f[0], plan.start(f[1]), f[2], f[3], pw[f[0] % sh.heads()],
                            incoming[f[0]][f[1]], q, o, d, e);
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
     * state = lambda^l state + A^T B for a block of l tokens, A^T the d x l transposed tile (row pitch
     * C) and B the l x e rows; with {@code wide}, through that double copy of the state, which
     * {@code step} (d x e) carries the product to.
     */
    private void updateState(float[] state, double[] wide, float[] step, boolean zero, Powers pw, int l,
                             float[] aT, float[] b, int d, int e) {
        if (wide == null) {
            kx.gemm(aT, 0, block, b, 0, e, state, 0, e, d, e, l, pw.pow()[l], !zero, Kernels.FULL);
        } else {
            kx.gemm(aT, 0, block, b, 0, e, step, 0, e, d, e, l, 0f, false, Kernels.FULL);
            kx.accumulateWide(wide, weight64(pw.at(l)), step, state, d * e);
        }
    }

    private static double[] widen(float[] x) {
        double[] w = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            w[i] = x[i];
        }
        return w;
    }

    /**
     * Runs tokens [t0, t1) of one sequence from {@code s0} (null: zero), writing their outputs, and
     * returns the state after t1 - 1. With {@code keep}, stores the state entering each block.
     */
    private float[] forwardSegment(AttentionShape sh, int seq, int t0, int t1, Powers pw,
                                   TokenRows q, TokenRows k, TokenRows v, TokenRows o,
                                   float[] s0, BlockStates keep) {
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] qb = new float[c * d], kb = new float[c * d], vb = new float[c * e], ob = new float[c * e];
        float[] kt = new float[d * c], a = new float[c * c];
        float[] st = s0 != null ? s0 : new float[d * e];
        boolean zero = s0 == null;
        double[] wide = keep != null && keep.forDecayGradient() ? widen(st) : null;
        float[] step = wide != null ? new float[d * e] : null;
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
            updateState(st, wide, step, zero, pw, l, kt, vb, d, e);
            zero = false;
        }
        return st;
    }

    /** True incoming states of every segment; ends[p] becomes the true end state of segment p. */
    private static float[][] combineStates(Plan plan, Powers pw, float[][] ends) {
        float[][] in = new float[plan.segments()][];
        for (int p = 1; p < plan.segments(); p++) {
            in[p] = ends[p - 1];
            float decay = weight(pw.at(plan.end(p) - plan.start(p)));
            float[] end = new float[in[p].length];
            axpby(end, decay, in[p], 1f, ends[p]);
            ends[p] = end;
        }
        return in;
    }

    /** Tasks {seq, segment, firstBlockToken, endToken} over segments [pLo, pHi). */
    private List<int[]> corrections(Plan plan, int seqs, int pLo, int pHi) {
        List<int[]> list = new ArrayList<>();
        int span = CORRECTION_BLOCKS * block;
        for (int seq = 0; seq < seqs; seq++) {
            for (int p = pLo; p < pHi; p++) {
                for (int t = plan.start(p); t < plan.end(p); t += span) {
                    list.add(new int[] {seq, p, t, Math.min(plan.end(p), t + span)});
                }
            }
        }
        return list;
    }

    /** o_t += c lambda^(t - segStart + 1) q_t S_in for tokens [t0, t1). */
    private void correctOutput(AttentionShape sh, int seq, int segStart, int t0, int t1, Powers pw,
                               float[] sIn, TokenRows q, TokenRows o, int d, int e) {
        int c = block, b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] qb = new float[c * d], ob = new float[c * e], w = new float[c];
        double scale = pw.cpow()[0];
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            q.load(sh.keyRow(b, h, t), ks, l, d, qb);
            o.load(sh.valueRow(b, h, t), vs, l, e, ob);
            for (int r = 0; r < l; r++) {
                w[r] = weight(scale * pw.at(t + r - segStart + 1));
            }
            kx.gemm(w, 0, qb, 0, d, sIn, 0, e, ob, 0, e, l, e, d, 1f, true, Kernels.FULL);
            o.store(ob, sh.valueRow(b, h, t), vs, l, e);
        }
    }

    // ---------------------------------------------------------------- backward

    /** What a sweep-1 (forward in S) segment leaves for the combine: transposed end states and a ds partial. */
    private record Sweep1(float[] st, double[] stWide, double[] ttWide, double decaySum) {
    }

    /** What a sweep-2 (backward in G) segment leaves: U = lambda G at its first token, and a ds partial. */
    private record Sweep2(float[] u, double[] uWide, double decaySum) {
    }

    void backward(BackwardCall call) {
        AttentionShape sh = call.shape();
        Plan plan = plan((int) sh.sequences(), sh.tokens());
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
            backward(call, plan, wantDecay, kept);
        } finally {
            if (kept != null) {
                kept.endReading();
            }
        }
    }

    private void backward(BackwardCall call, Plan plan, boolean wantDecay, BlockStates kept) {
        AttentionShape sh = call.shape();
        int d = sh.keyDim(), e = sh.valueDim(), de = d * e, heads = sh.heads();
        int seqs = (int) sh.sequences();
        int segs = plan.segments();
        int sweeps = kept == null ? 2 : 1;
        Powers[] pw = powers((HostTensor) call.decay(), heads, call.scale());
        Sweep1[][] s1 = new Sweep1[seqs][segs];
        Sweep2[][] s2 = new Sweep2[seqs][segs];
        TokenRows q = rows(call.q()), k = rows(call.k()), v = rows(call.v()), g = rows(call.dOutput());
        TokenRows dq = rows(call.dq()), dk = rows(call.dk()), dv = rows(call.dv());
        long work = scratch.reserve(backwardScratch(d, e) * Math.min(pool.threads(), (long) sweeps * seqs * segs));
        try {
            pool.run(sweeps * seqs * segs, task -> {
                int sweep = kept == null ? task % 2 : 1, rest = task / sweeps, seq = rest / segs, p = rest % segs;
                Powers w = pw[seq % heads];
                if (sweep == 0) {
                    float[] s0 = p == 0 ? state(call.initialState(), seq, de) : null;
                    s1[seq][p] = sweepForward(sh, seq, plan.start(p), plan.end(p), w, q, k, v, g, dq, s0, wantDecay);
                } else {
                    float[] uEnd = p == segs - 1 ? state(call.dFinalState(), seq, de) : null;
                    DqFromStates dqFused = kept == null ? null
                            : new DqFromStates(kept, p == 0 && call.initialState() != null, dq);
                    s2[seq][p] = sweepBackward(sh, seq, plan.start(p), plan.end(p), w, q, k, v, g, dk, dv, uEnd,
                            wantDecay, dqFused);
                }
            });
            double[] decaySeq = new double[seqs];
            float[][][] sIn = new float[seqs][][];
            float[][][] uIn = new float[seqs][][];
            pool.run(seqs, seq -> {
                float[] dsf = state(call.dFinalState(), seq, de);
                Combined cb = kept == null
                        ? combineBackward(plan, pw[seq % heads], s1[seq], s2[seq], dsf, d, e, wantDecay)
                        : combineKept(plan, pw[seq % heads], kept.segmentIn(seq), s2[seq],
                                state(call.initialState(), seq, de), dsf, d, e, wantDecay);
                sIn[seq] = cb.stIn;
                uIn[seq] = cb.u.in;
                decaySeq[seq] = cb.decaySum;
                writeState(cb.u.start, call.dInitialState(), seq);
            });
            if (segs > 1) {
                List<int[]> fixQ = corrections(plan, seqs, 1, segs);
                List<int[]> fixKv = corrections(plan, seqs, 0, segs - 1);
                double[] partial = new double[fixQ.size() + fixKv.size()];
                pool.run(fixQ.size() + fixKv.size(), i -> {
                    if (i < fixQ.size()) {
                        int[] f = fixQ.get(i);
                        partial[i] = correctDq(sh, f[0], plan.start(f[1]), f[2], f[3], pw[f[0] % heads],
                                sIn[f[0]][f[1]], q, g, dq, wantDecay);
                    } else {
                        int[] f = fixKv.get(i - fixQ.size());
                        partial[i] = correctDkDv(sh, f[0], plan.end(f[1]), f[2], f[3], pw[f[0] % heads],
                                uIn[f[0]][f[1]], k, v, dk, dv, wantDecay && kept != null);
                    }
                });
                for (int i = 0; i < partial.length; i++) {
                    decaySeq[(i < fixQ.size() ? fixQ.get(i) : fixKv.get(i - fixQ.size()))[0]] += partial[i];
                }
            }
            if (wantDecay) {
                HostTensor out = (HostTensor) call.dDecay();
                for (int h = 0; h < heads; h++) {
                    double sum = 0;
                    for (int b = 0; b < sh.batch(); b++) {
                        sum += decaySeq[b * heads + h];
                    }
                    out.set(h, -sum);
                }
            }
        } finally {
            scratch.release(work);
        }
    }

    /**
     * sum_r (first + step r) x_r . y_r over l rows of width {@code width}, in double; a row of
     * weight 0 is skipped, so that a non-finite value there cannot reach the sum.
     */
    private double weightedRowDots(float[] x, float[] y, int l, int width, int first, int step) {
        double sum = 0;
        for (int r = 0; r < l; r++) {
            int w = first + step * r;
            if (w != 0) {
                sum += w * kx.dot(x, r * width, y, r * width, width);
            }
        }
        return sum;
    }

    private long backwardScratch(int d, int e) {
        int c = block, f = Math.max(d, e);
        return 4L * (5L * c * d + 3L * c * e + 4L * f * c + 3L * c * c + 2L * c * f + 6L * d * e);
    }

    /**
     * Sweep 1 over tokens [t0, t1): dq_t = c (sum_{j<=t in block} lambda^(t-j) (dO_t . v_j) k_j
     * + lambda^(a+1) dO_t S_prev^T). Keeps S (and T when the decay gradient is wanted) transposed,
     * E x D, since dq needs dO S^T.
     */
    private Sweep1 sweepForward(AttentionShape sh, int seq, int t0, int t1, Powers pw,
                                TokenRows q, TokenRows k, TokenRows v, TokenRows g,
                                TokenRows dq, float[] s0, boolean wantDecay) {
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] qb = new float[c * d], kb = new float[c * d], vb = new float[c * e], gb = new float[c * e];
        float[] vt = new float[e * c], bt = new float[c * c], dqb = new float[c * d], y = new float[c * d];
        float[] kw = new float[c * d];
        float[] st = new float[e * d];
        boolean zero = true;
        if (s0 != null) {
            transposeState(s0, d, e, st);
            zero = false;
        }
        float[] tt = wantDecay ? new float[e * d] : null;
        boolean tZero = true;
        double[] stD = null, ttD = null;
        float[] dS = null, dT = null;
        if (wantDecay) {
            stD = widen(st);
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
                        decaySum += scale * pw.at(r + 1) * kx.dot(qb, r * d, y, r * d, d);
                    }
                }
            }
            dq.store(dqb, sh.keyRow(b, h, t), ks, l, d);
            float decay = pw.pow()[l];
            if (wantDecay) {
                // T <- lambda^l T + l lambda^l S + sum_j (l-1-j) lambda^(l-1-j) v_j^T k_j, and S as
                // usual, both transposed and carried in double: ds sums terms that grow like N^2 at
                // s = 0 and largely cancel, so fp32 states would cost it digits; per-block increments
                // stay fp32 products.
                for (int r = 0; r < l; r++) {
                    float w = weight((l - 1 - r) * pw.at(l - 1 - r));
                    for (int x = 0; x < d; x++) {
                        kw[r * d + x] = w * kb[r * d + x];
                    }
                }
                kx.gemm(vt, 0, c, kw, 0, d, dT, 0, d, e, d, l, 0f, false, Kernels.FULL);
                Rows.scaleRows(kb, l, d, pw.pow(), l - 1, true, kw);
                kx.gemm(vt, 0, c, kw, 0, d, dS, 0, d, e, d, l, 0f, false, Kernels.FULL);
                double dl = weight64(pw.at(l)), sw = weight64(l * dl);
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
        return new Sweep1(st, stD, ttD, decaySum);
    }

    /**
     * Sweep 1's work done by sweep 2 from kept block states: {@code firstHasState} says whether the
     * segment's first block entered with a state (segment 0 with an initial state).
     */
    private record DqFromStates(BlockStates states, boolean firstHasState, TokenRows dq) {
    }

    /**
     * Sweep 2 over tokens [t0, t1), last block first: with U = lambda G at the block's end,
     * dk = (V dO^T (.) M^T) Q + diag(lambda^(l-1-j)) V U^T and dv = (K Q^T (.) M^T) dO +
     * diag(lambda^(l-1-j)) K U, then U <- lambda^l U + sum_j c lambda^(j+1) q_j^T dO_j. With
     * {@code fused}, also dq = (V dO^T (.) M^T)^T K + c lambda^(a+1) dO S^T from the kept states,
     * reusing the masked tile dk needs.
     *
     * <p>The decay gradient's sum lambda sum_t &lt;G_t, S_{t-1}&gt; splits per block (tokens a, b
     * and t numbered from the block's start, l of them, S the kept state entering it) into pairs
     * inside the block, sum_{a>b} (a-b) c lambda^(a-b) (q_a . k_b)(dO_a . v_b), read off the raw
     * score tiles; sum_a (a+1) q_a . dq_a(from S), since dq's term from S is
     * c lambda^(a+1) dO_a S^T; sum_b (l-1-b) v_b . dv_b(from U), since dv's term from U is
     * lambda^(l-1-b) k_b U; and l lambda^l &lt;U, S&gt;. Sweep 1 computes the same sum with T
     * instead, where no kept states are given.
     */
    private Sweep2 sweepBackward(AttentionShape sh, int seq, int t0, int t1, Powers pw,
                                 TokenRows q, TokenRows k, TokenRows v, TokenRows g,
                                 TokenRows dk, TokenRows dv, float[] uEnd, boolean wantDecay, DqFromStates fused) {
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
        double[] wideU = wantDecay ? widen(u) : null;
        float[] step = wideU != null ? new float[d * e] : null;
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
                    transposeState(entering, d, e, ut);
                    kx.gemm(pw.cpow(), 1, gb, 0, e, ut, 0, d, dqb, 0, d, l, d, e, 0f, false, Kernels.FULL);
                    if (wantDecay) {
                        decaySum += weightedRowDots(qb, dqb, l, d, 1, 1);
                    }
                }
                // Rows l.. of btT come from columns of bt this block did not write; no product reads them.
                kx.transpose(bt, l, c, btT, c);
                kx.gemm(btT, 0, c, kb, 0, d, dqb, 0, d, l, d, l, 1f, fromS, Kernels.K_LOWER);
                fused.dq().store(dqb, sh.keyRow(b, h, t), ks, l, d);
            }
            if (!zero) {
                transposeState(u, d, e, ut);
                kx.gemm(pw.rev(), c - l, vb, 0, e, ut, 0, d, dkb, 0, d, l, d, e, 1f, true, Kernels.FULL);
                // dv's term from U first, for the same reason.
                kx.gemm(pw.rev(), c - l, kb, 0, d, u, 0, e, dvb, 0, e, l, e, d, 0f, false, Kernels.FULL);
                if (wantDecay && fused != null) {
                    decaySum += weightedRowDots(vb, dvb, l, e, l - 1, -1);
                    if (fromS) {
                        decaySum += l * pw.at(l) * kx.dot(u, 0, entering, 0, d * e);
                    }
                }
            }
            kx.gemm(at, 0, c, gb, 0, e, dvb, 0, e, l, e, l, 1f, !zero, Kernels.K_UPPER);
            dk.store(dkb, sh.keyRow(b, h, t), ks, l, d);
            dv.store(dvb, sh.valueRow(b, h, t), vs, l, e);
            kx.scaleColumns(qt, d, l, c, pw.cpow(), 1);
            updateState(u, wideU, step, zero, pw, l, qt, gb, d, e);
            zero = false;
        }
        return new Sweep2(u, wideU, decaySum);
    }

    /** Sweep 1's incoming states (transposed) per segment, sweep 2's joined U, the decay-gradient sum. */
    private record Combined(float[][] stIn, JoinedU u, double decaySum) {
    }

    /** The true U entering each segment from the right ({@code in[p]}, null for the last), and U at token 0. */
    private record JoinedU(float[][] in, float[] start) {
    }

    private static JoinedU combineU(Plan plan, Powers pw, Sweep2[] s2) {
        int segs = plan.segments();
        float[][] uIn = new float[segs][];
        float[] uStart = s2[segs - 1].u();
        for (int p = segs - 2; p >= 0; p--) {
            uIn[p] = uStart;
            float[] next = new float[uStart.length];
            axpby(next, weight(pw.at(plan.end(p) - plan.start(p))), uIn[p], 1f, s2[p].u());
            uStart = next;
        }
        return new JoinedU(uIn, uStart);
    }

    /**
     * Joins one sequence's segments from kept states: their true incoming S (transposed), the true U
     * from the right, and the decay-gradient sums. Sweep 2 summed each segment's pairs from its
     * local states; correctDq and correctDkDv add those of a segment's tokens with S_in and U_in;
     * here come the pairs spanning the whole segment, L lambda^L &lt;U_in, S_in&gt;, where S_in of
     * segment 0 is the initial state and U_in of the last is dS_final (with one segment both are
     * its own, and sweep 2 summed them).
     */
    private static Combined combineKept(Plan plan, Powers pw, float[][] stIn, Sweep2[] s2, float[] s0, float[] dsf,
                                        int d, int e, boolean wantDecay) {
        int segs = plan.segments();
        JoinedU u = combineU(plan, pw, s2);
        double sum = 0;
        if (wantDecay) {
            for (int p = 0; p < segs; p++) {
                sum += s2[p].decaySum();
            }
            for (int p = 0; p < segs && segs > 1; p++) {
                float[] sIn = p == 0 ? s0 : stIn[p], uIn = p < segs - 1 ? u.in[p] : dsf;
                if (sIn == null || uIn == null) {
                    continue;
                }
                int len = plan.end(p) - plan.start(p);
                double dot = 0;
                for (int x = 0; x < d; x++) {
                    for (int y = 0; y < e; y++) {
                        dot += (double) uIn[x * e + y] * (p == 0 ? sIn[x * e + y] : sIn[y * d + x]);
                    }
                }
                sum += len * pw.at(len) * dot;
            }
        }
        return new Combined(stIn, u, sum);
    }

    /**
     * Joins one sequence's segments: true incoming S (transposed) and T for sweep 1, true U from the
     * right for sweep 2, dS0 = U at token 0, and the decay-gradient terms that pair a segment's
     * incoming state with its local sums.
     */
    private static Combined combineBackward(Plan plan, Powers pw, Sweep1[] s1, Sweep2[] s2, float[] dsf,
                                            int d, int e, boolean wantDecay) {
        int segs = plan.segments();
        double sum = 0;
        for (int p = 0; p < segs; p++) {
            sum += s1[p].decaySum() + s2[p].decaySum();
        }
        float[][] stIn = new float[segs][];
        float[] stEnd = s1[0].st();
        // For the decay gradient S, T and sweep 2's U are joined in double, as the sweeps carried
        // them: with fp32 between segments it measured 1.7e-6 of the terms' size (N=16384, four
        // segments), against 3e-7 in one segment.
        double[] sWide = s1[0].stWide(), tWide = s1[0].ttWide();
        for (int p = 1; p < segs; p++) {
            int len = plan.end(p) - plan.start(p);
            float decay = weight(pw.at(len));
            stIn[p] = stEnd;
            if (wantDecay) {
                // c sum_t lambda^(u+1) q_t T_in dO_t^T = <T_in, R_p>, R_p = U_local minus the dS_final part.
                double[] r = s2[p].uWide();
                double dotIn = 0;
                for (int x = 0; x < d; x++) {
                    for (int y = 0; y < e; y++) {
                        double rv = r[x * e + y];
                        if (p == segs - 1 && dsf != null) {
                            rv -= weight64(pw.at(len)) * dsf[x * e + y];
                        }
                        dotIn += tWide[y * d + x] * rv;
                    }
                }
                sum += dotIn;
                double dl = weight64(pw.at(len)), sw = weight64(len * dl);
                double[] tNext = new double[tWide.length], sNext = new double[sWide.length];
                for (int i = 0; i < tNext.length; i++) {
                    tNext[i] = dl * tWide[i] + sw * sWide[i] + s1[p].ttWide()[i];
                    sNext[i] = dl * sWide[i] + s1[p].stWide()[i];
                }
                tWide = tNext;
                sWide = sNext;
                stEnd = new float[sWide.length];
                for (int i = 0; i < sWide.length; i++) {
                    stEnd[i] = (float) sWide[i];
                }
            } else {
                float[] next = new float[stEnd.length];
                axpby(next, decay, stIn[p], 1f, s1[p].st());
                stEnd = next;
            }
        }
        if (wantDecay && dsf != null) {
            double dot = 0;
            for (int x = 0; x < d; x++) {
                for (int y = 0; y < e; y++) {
                    dot += (double) dsf[x * e + y] * tWide[y * d + x];
                }
            }
            sum += dot;
        }
        return new Combined(stIn, combineU(plan, pw, s2), sum);
    }

    /**
     * dq_t += c lambda^(t - segStart + 1) dO_t S_in^T over [t0, t1); returns the matching decay
     * gradient term c sum_t (u+1) lambda^(u+1) q_t S_in dO_t^T.
     */
    private double correctDq(AttentionShape sh, int seq, int segStart, int t0, int t1, Powers pw, float[] stIn,
                             TokenRows q, TokenRows g, TokenRows dq, boolean wantDecay) {
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] gb = new float[c * e], dqb = new float[c * d], w = new float[c];
        float[] y = wantDecay ? new float[c * d] : null, qb = wantDecay ? new float[c * d] : null;
        double scale = pw.cpow()[0], sum = 0;
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            g.load(sh.valueRow(b, h, t), vs, l, e, gb);
            dq.load(sh.keyRow(b, h, t), ks, l, d, dqb);
            for (int r = 0; r < l; r++) {
                w[r] = weight(scale * pw.at(t + r - segStart + 1));
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
     * dk_t += lambda^(segEnd-1-t) U_in v_t^T, dv_t += lambda^(segEnd-1-t) k_t U_in over [t0, t1); with
     * {@code wantDecay}, returns the decay-gradient term sum_t (segEnd-1-t) v_t . (dv_t's correction),
     * the pairs of U_in with the segment's own states (as sweep 2 sums them per block).
     */
    private double correctDkDv(AttentionShape sh, int seq, int segEnd, int t0, int t1, Powers pw, float[] uIn,
                               TokenRows k, TokenRows v, TokenRows dk, TokenRows dv, boolean wantDecay) {
        int c = block, d = sh.keyDim(), e = sh.valueDim();
        int b = seq / sh.heads(), h = seq % sh.heads();
        long ks = sh.keyTokenStride(), vs = sh.valueTokenStride();
        float[] ut = new float[e * d];
        transposeState(uIn, d, e, ut);
        float[] kb = new float[c * d], vb = new float[c * e], dkb = new float[c * d], dvb = new float[c * e];
        float[] w = new float[c];
        float[] y = wantDecay ? new float[c * e] : null;
        double sum = 0;
        for (int t = t0; t < t1; t += c) {
            int l = Math.min(c, t1 - t);
            k.load(sh.keyRow(b, h, t), ks, l, d, kb);
            v.load(sh.valueRow(b, h, t), vs, l, e, vb);
            dk.load(sh.keyRow(b, h, t), ks, l, d, dkb);
            dv.load(sh.valueRow(b, h, t), vs, l, e, dvb);
            for (int r = 0; r < l; r++) {
                w[r] = weight(pw.at(segEnd - 1 - (t + r)));
            }
            kx.gemm(w, 0, vb, 0, e, ut, 0, d, dkb, 0, d, l, d, e, 1f, true, Kernels.FULL);
            if (!wantDecay) {
                kx.gemm(w, 0, kb, 0, d, uIn, 0, e, dvb, 0, e, l, e, d, 1f, true, Kernels.FULL);
            } else {
                // The decay term dots v with dv's correction itself, so it goes through y.
                kx.gemm(w, 0, kb, 0, d, uIn, 0, e, y, 0, e, l, e, d, 0f, false, Kernels.FULL);
                for (int i = 0; i < l * e; i++) {
                    dvb[i] += y[i];
                }
                sum += weightedRowDots(vb, y, l, e, segEnd - 1 - t, -1);
            }
            dk.store(dkb, sh.keyRow(b, h, t), ks, l, d);
            dv.store(dvb, sh.valueRow(b, h, t), vs, l, e);
        }
        return sum;
    }

    // ---------------------------------------------------------------- decode

    void decode(DecodeCall call) {
        int d = call.keyDim(), e = call.valueDim(), de = d * e, heads = call.heads();
        int seqs = call.batch() * heads;
        TokenRows q = rows(call.q()), k = rows(call.k()), v = rows(call.v()), out = rows(call.output());
        MemorySegment state = seg(call.state());
        HostTensor decay = (HostTensor) call.decay();
        float scale = (float) call.scale();
        // Tasks of 4 MiB of state or more: a step is memory-bound and a pool hand-off costs tens of
        // microseconds (JMH DecodeBenchmark, 2 cores, B=1 H=8 D=E=128: 40 us a step in two tasks of
        // 256 KiB, 10 us on the caller's thread; B=16: 177 us in two tasks, a 16 MiB copy 208 us).
        int chunk = Math.max(1, Math.min(seqs, (1 << 20) / Math.max(1, de)));
        int tasks = (seqs + chunk - 1) / chunk;
        IntConsumer body = task -> {
            float[] qb = new float[d], kb = new float[d], vb = new float[e], ob = new float[e];
            for (int seq = task * chunk; seq < Math.min(seqs, (task + 1) * chunk); seq++) {
                q.load((long) seq * d, d, 1, d, qb);
                k.load((long) seq * d, d, 1, d, kb);
                v.load((long) seq * e, e, 1, e, vb);
                float lambda = weight(Math.exp(-decay.get(seq % heads)));
                kx.decodeStep(state, (long) seq * de * 4, d, e, lambda, qb, kb, vb, scale, ob);
                out.store(ob, (long) seq * e, e, 1, e);
            }
        };
        if (tasks == 1) {
            body.accept(0);
        } else {
            pool.run(tasks, body);
        }
    }
}
