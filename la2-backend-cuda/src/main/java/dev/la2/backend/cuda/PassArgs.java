package dev.la2.backend.cuda;

import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.backend.cuda.ParamLayouts.SweepParams;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.ForwardCall;

/**
 * The arguments of one pass of the sweep (common.cuh gives the function it computes): which
 * tensors are its operands q, k, v and its output, its states, coefficients and direction. One
 * factory per pass of the forward and the backward binds the call's tensors to those roles.
 *
 * @param q the sweep's query-like operand, [seq][token][dk]
 * @param k the sweep's key-like operand, [seq][token][dk]
 * @param v the sweep's value-like operand, [seq][token][dv]
 * @param out the output, [seq][token][dv]; with {@code writeOut} false a valid base only
 * @param writeOut whether the output is written
 * @param dot where the pass accumulates sum_t t &lt;out_t, w_t&gt; per sequence, or null
 * @param decay the per-head decay rates
 * @param s0 the incoming state, or null for zero
 * @param sfinal the device address of the final state, or 0 when it is not wanted
 * @param dk the sweep's key dimension (rows of its state)
 * @param dv the sweep's value dimension (columns of its state)
 * @param transposedStates whether s0 and sfinal are stored as dv x dk (the state's transpose)
 * @param alpha factor of the intra-chunk sum
 * @param beta factor of the inter-chunk term q R
 * @param kappa factor of the state update's k^T v
 * @param ofs0 the first chunk's lambda offset: 1 for a state before token 0, 0 for one at token 0
 * @param finalPow the final state is lambda^finalPow R
 * @param reversed whether the pass walks the sequence from its last token
 * @param precision the arithmetic the pass is held to
 * @param backward a pass of the backward: tensor-core sweeps without the forward's non-finite re-sum
 * @param split a backward pass on 16-bit storage whose products keep about fp32 accuracy (the Hopper
 *              sweep's SPLIT entry point, Kernel.hopperSplit): the decay gradient's sums
 */
record PassArgs(CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor out, boolean writeOut, DotSum dot, CudaTensor decay,
                CudaTensor s0, long sfinal, int dk, int dv, boolean transposedStates, double alpha, double beta, double kappa,
                int ofs0, int finalPow, boolean reversed, Precision precision, boolean backward, boolean split) {

    /** acc[seq] += sum_t t &lt;out_t, weights_t&gt;, in double at {@code acc} (one per sequence). */
    record DotSum(CudaTensor weights, long acc) {
    }

    /** o = forward(q, k, v), from the initial state and to the final state when the call has them. */
    static PassArgs forward(ForwardCall call) {
        AttentionShape s = call.shape();
        return new PassArgs(t(call.q()), t(call.k()), t(call.v()), t(call.output()), true, null, t(call.decay()),
                t(call.initialState()), address(t(call.finalState())), s.keyDim(), s.valueDim(), false,
                call.scale(), call.scale(), 1, 1, 0, false, call.precision(), false, false);
    }

    /**
     * The forward writing no output, from {@code s0} to the final state at {@code sfinal}: advances
     * states by tokens whose outputs were computed before (a commit of draft tokens). q' = k.
     */
    static PassArgs advance(CudaTensor k, CudaTensor v, CudaTensor decay, CudaTensor s0, long sfinal, int dk, int dv) {
        return new PassArgs(k, k, v, v, false, null, decay, s0, sfinal, dk, dv, false, 1, 1, 1, 1, 0, false,
                Precision.STRICT, false, false);
    }

    /** dq: q' = dO, k' = v, v' = k, forward in time over S^T (E x D). */
    static PassArgs dq(BackwardCall call) {
        return dq(call, null, 0, false);
    }

    /**
     * dq, and with {@code dot} the sum t &lt;dq_t, q_t&gt; (which equals t &lt;dO_t, o_t&gt;: o_t is
     * linear in q_t) and at {@code sfinal} (0 for none) its final state, S_final: the decay
     * gradient's sums without a recompute of the forward. {@code split}: see the record.
     */
    static PassArgs dq(BackwardCall call, DotSum dot, long sfinal, boolean split) {
        AttentionShape s = call.shape();
        double c = call.scale();
        return new PassArgs(t(call.dOutput()), t(call.v()), t(call.k()), t(call.dq()), true, dot, t(call.decay()),
                t(call.initialState()), sfinal, s.valueDim(), s.keyDim(), true, c, c, 1, 1, 0, false, call.precision(), true, split);
    }

    /**
     * dv: q' = k, k' = q, v' = dO, backward in time over G (D x E) from dS_final; its end is
     * dS0 = lambda G_0. The operands are the call's or fp32 copies of them (Backward), and with
     * {@code dot} the pass also sums t &lt;dv_t, v_t&gt; for the decay gradient.
     */
    static PassArgs dv(BackwardCall call, CudaTensor q, CudaTensor k, CudaTensor dO, CudaTensor dv, DotSum dot,
                       Precision precision, boolean split) {
        AttentionShape s = call.shape();
        double c = call.scale();
        return new PassArgs(k, q, dO, dv, true, dot, t(call.decay()), t(call.dFinalState()), address(t(call.dInitialState())),
                s.keyDim(), s.valueDim(), false, c, 1, c, 0, 1, true, precision, true, split);
    }

    /** dk: q' = v, k' = dO, v' = q, backward in time over G^T (E x D). */
    static PassArgs dk(BackwardCall call) {
        AttentionShape s = call.shape();
        double c = call.scale();
        return new PassArgs(t(call.v()), t(call.dOutput()), t(call.q()), t(call.dk()), true, null, t(call.decay()),
                t(call.dFinalState()), 0, s.valueDim(), s.keyDim(), true, c, 1, c, 0, 0, true, call.precision(), true, false);
    }

    /**
     * The forward again, writing no output, for the decay gradient's sum t &lt;dO_t, o_t&gt; (into
     * {@code dot}, whose weights are dO) and S_final (at {@code sfinal}, 0 for none), on 3xTF32.
     */
    static PassArgs recompute(BackwardCall call, CudaTensor q, CudaTensor k, CudaTensor v, DotSum dot, long sfinal) {
        AttentionShape s = call.shape();
        double c = call.scale();
        return new PassArgs(q, k, v, dot.weights(), false, dot, t(call.decay()), t(call.initialState()), sfinal,
                s.keyDim(), s.valueDim(), false, c, c, 1, 1, 0, false, Precision.TF32X3, true, false);
    }

    /** The SweepParams of this pass in {@code mode} (0: segment-local states, 1: outputs) under {@code plan}. */
    byte[] params(AttentionShape s, SweepPlan plan, long scratch, int mode) {
        long[] ks = strides(s, dk), vs = strides(s, dv);
        // element (i, j) of a stored state at i * rowStride + j * columnStride
        long rowStride = transposedStates ? 1 : dv, columnStride = transposedStates ? dk : 1;
        return KernelArgs.of(SweepParams.class)
                .ptr(SweepParams.Q, q).ptr(SweepParams.K, k).ptr(SweepParams.V, v).ptr(SweepParams.O, out)
                .ptr(SweepParams.W, dot == null ? null : dot.weights()).ptr(SweepParams.S0, s0).ptr(SweepParams.SFINAL, sfinal)
                .ptr(SweepParams.SCRATCH, scratch).ptr(SweepParams.DECAY, decay).ptr(SweepParams.ACC, dot == null ? 0 : dot.acc())
                .i64(SweepParams.N, s.tokens()).i64(SweepParams.H, s.heads()).i64(SweepParams.BH, s.sequences())
                .i64(SweepParams.DK, dk).i64(SweepParams.DV, dv).i64(SweepParams.ET, plan.valueTile())
                .i64(SweepParams.C, plan.chunk()).i64(SweepParams.L, plan.segmentLength()).i64(SweepParams.NSEG, plan.segments())
                .i64(SweepParams.MODE, mode).i64(SweepParams.REV, reversed ? 1 : 0).i64(SweepParams.OFS0, ofs0)
                .i64(SweepParams.FINAL_POW, finalPow).i64(SweepParams.WRITE_OUT, writeOut ? 1 : 0)
                .i64(SweepParams.K_B, ks[0]).i64(SweepParams.K_H, ks[1]).i64(SweepParams.K_T, ks[2])
                .i64(SweepParams.V_B, vs[0]).i64(SweepParams.V_H, vs[1]).i64(SweepParams.V_T, vs[2])
                .i64(SweepParams.S0I, rowStride).i64(SweepParams.S0J, columnStride)
                .i64(SweepParams.FI, rowStride).i64(SweepParams.FJ, columnStride)
                .f64(SweepParams.ALPHA, alpha).f64(SweepParams.BETA, beta).f64(SweepParams.KAPPA, kappa)
                .bytes();
    }

    /** Element strides (batch, head, token) of a sequence tensor with {@code f} features. */
    static long[] strides(AttentionShape s, int f) {
        long n = s.tokens(), h = s.heads();
        return s.layout() == Layout.BHND
                ? new long[] {h * n * f, n * f, f}
                : new long[] {n * h * f, f, h * f};
    }

    static CudaTensor t(dev.la2.api.Tensor x) {
        return (CudaTensor) x;
    }

    private static long address(CudaTensor x) {
        return x == null ? 0 : x.address();
    }
}
