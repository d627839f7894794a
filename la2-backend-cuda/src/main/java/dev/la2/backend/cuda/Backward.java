package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.Driver.check;
import static dev.la2.backend.cuda.PassArgs.t;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;

import dev.la2.api.DType;
import dev.la2.api.Precision;
import dev.la2.backend.cuda.DeviceContext.Grid;
import dev.la2.backend.cuda.ParamLayouts.ConvertParams;
import dev.la2.backend.cuda.ParamLayouts.DecayGradParams;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The backward's passes (SPEC.md section 2): dq forward in time over S, dv and dk backward in time
 * over G (PassArgs.dq, dv, dk). Where the Hopper sweep runs a 16-bit call (dense or packed) and the
 * dv pass sums no dot product, dv and dk run as one fused pass (SweepRunner.runDkDv); where the
 * Hopper TF32 sweep runs all three of a dense fp32 call, they run as one launch whose blocks walk
 * them one after the other (SweepRunner.runTf32Chain). The decay gradient takes one of three routes.
 *
 * <p>With 16-bit storage or TF32 (tolerances 2e-2 and 3e-3), where a tensor-core sweep fits the
 * shape, it avoids a fourth state sweep through the identity (derived from the closed form;
 * lambda-power terms of S0 and dS_final cancel)
 *
 * <pre>ds = sum_t t (v_t . dv_t - dO_t . o_t) - &lt;dS0, S0&gt; - (N-1) &lt;dS_final, S_final&gt;</pre>
 *
 * whose dot products are accumulated in float64 inside the passes. The two sums cancel (by a
 * factor of 10 to 100 on random inputs), so the passes that produce them need products of about
 * fp32 accuracy: with 16-bit or TF32 tensor-core intermediates the decay gradient misses the
 * storage tolerances. Two ways to get them:
 * <ul>
 *   <li>split (16-bit storage on the Hopper sweep, dense calls): the dq pass sums
 *       t &lt;dq_t, q_t&gt;, which equals t &lt;dO_t, o_t&gt; because o_t is linear in q_t, and
 *       writes S_final; the dv pass sums t &lt;v_t, dv_t&gt;. Both run the Hopper sweep's split
 *       products on the call's own tensors, so the decay gradient adds no pass.</li>
 *   <li>fp32 copies (other tensor-core shapes): the dv pass and a forward recompute that writes
 *       no output (PassArgs.recompute) run on the 3xTF32 sweep over fp32 copies of the
 *       operands.</li>
 * </ul>
 *
 * <p>Where fp32's 1e-5 is promised (STRICT, TF32X3), for shapes without a tensor-core sweep, and
 * where every head decays so fast that the cancellation would cost too many digits
 * ({@link DecayRoute#choose}), a fourth sweep carries T = -dS/ds beside S, both in double, and
 * sums the gradient term by term (decay.cuh, decaySweep). Nothing cancels there, so 16-bit
 * products serve 16-bit storage at every rate: where the Hopper sweep runs a dense 16-bit call
 * (SweepPlanner.hopperDecay), the fourth sweep runs on warpgroups (decay_hopper.cuh), is taken
 * before the identity and computes dq on the same walk over S (it needs dO S^T for its sums anyway),
 * so the backward is that sweep and the fixed decay's fused dv and dk pass.
 */
final class Backward {
    private final CudaBackend backend;
    private final DeviceContext device;
    private final KernelTable kernels;
    private final DevicePool pool;
    private final SweepRunner sweeps;

    Backward(CudaBackend backend, DeviceContext device, KernelTable kernels, DevicePool pool, SweepRunner sweeps) {
        this.backend = backend;
        this.device = device;
        this.kernels = kernels;
        this.pool = pool;
        this.sweeps = sweeps;
    }

    /** The decay tensor whose slowest rate was last read, its version then and that rate. */
    private WeakReference<CudaTensor> ratesOf = new WeakReference<>(null);
    private long ratesVersion;
    private double slowestRate;

    /**
     * With the backend's lock held. With {@code packing} non-null the call is a packed one (its
     * shape has batch S, layout BNHD over the T tokens) and every pass, of either decay-gradient
     * route, runs packed.
     */
    void run(BackwardCall call, Packing packing) {
        AttentionShape s = call.shape();
        int d = s.keyDim(), e = s.valueDim();
        CudaTensor q = t(call.q()), k = t(call.k()), v = t(call.v()), dO = t(call.dOutput());
        DecayRoute route = call.dDecay() == null ? DecayRoute.NONE : decayRoute(call, packing);
        // Every pass's plan before the first launch (dq and dk sweep E x D states, dv D x E): a
        // shape whose tiles fit one way only is refused before any gradient is written.
        sweeps.planner().plan(s, packing, e, d, call.precision(), true);
        sweeps.planner().plan(s, packing, d, e, call.precision(), true);
        if (route == DecayRoute.DECAY_SWEEP) {
            sweeps.planner().decayPlan(s, packing);
        }
        long bh = s.sequences();
        List<DevicePool.Block> temps = new ArrayList<>();
        List<CudaTensor> copies = new ArrayList<>();
        try {
            DevicePool.Block acc = null;
            long sfinal = 0;
            if (route != DecayRoute.NONE) {
                // accV then accO, one double per sequence each
                acc = pool.allocate(16L * bh);
                temps.add(acc);
                check(cuMemsetD32Async(acc.ptr(), 0, 4L * bh, device.stream), "cuMemsetD32Async");
                if (route != DecayRoute.DECAY_SWEEP && call.dFinalState() != null) {
                    DevicePool.Block sfin = pool.allocate(4L * bh * d * e);
                    temps.add(sfin);
                    sfinal = sfin.address();
                }
            }
            long accV = acc == null ? 0 : acc.address(), accO = accV + 8L * bh;
            CudaTensor dv = t(call.dv());
            // the dk pass runs after the switch unless it ran fused with the dv pass or in the TF32
            // chain; the decay gradient's Hopper sweep writes dq
            boolean dkDone = false;
            boolean dqInDecaySweep = route == DecayRoute.DECAY_SWEEP && sweeps.hopperDecays(s, packing, q, k, v, dO);
            switch (route) {
                case SPLIT -> {
                    sweeps.run(s, packing, PassArgs.dq(call, new PassArgs.DotSum(q, accO), sfinal, true));
                    sweeps.run(s, packing, PassArgs.dv(call, q, k, dO, dv, new PassArgs.DotSum(v, accV), call.precision(), true));
                }
                case FP32_COPIES -> {
                    sweeps.run(s, packing, PassArgs.dq(call));
                    // the dv pass and the recompute on 3xTF32 over fp32 operands
                    AttentionShape exactShape = new AttentionShape(s.batch(), s.heads(), s.tokens(), d, e, s.layout(), DType.FP32);
                    CudaTensor qx = widened(q, copies), kx = widened(k, copies), vx = widened(v, copies), dOx = widened(dO, copies);
                    CudaTensor dvx = s.dtype() != DType.FP32 ? scratchFp32(dv, copies) : dv;
                    sweeps.run(exactShape, packing, PassArgs.dv(call, qx, kx, dOx, dvx, new PassArgs.DotSum(vx, accV), Precision.TF32X3,
                            false));
                    if (dvx != dv) {
                        convert(dvx, dv);
                    }
                    // accO = sum_t t <dO_t, o_t>, and S_final when dS_final is given
                    sweeps.run(exactShape, packing, PassArgs.recompute(call, qx, kx, vx, new PassArgs.DotSum(dOx, accO), sfinal));
                }
                case NONE, DECAY_SWEEP -> {
                    PassArgs dqPass = PassArgs.dq(call), dvPass = PassArgs.dv(call, q, k, dO, dv, null, call.precision(), false);
                    PassArgs dkPass = PassArgs.dk(call);
                    if (!dqInDecaySweep && sweeps.chainsTf32(s, packing, dqPass, dvPass, dkPass)) {
                        sweeps.runTf32Chain(s, dqPass, dvPass, dkPass);
                        dkDone = true;
                    } else {
                        if (!dqInDecaySweep) {
                            sweeps.run(s, packing, dqPass);
                        }
                        if (sweeps.fusesDkDv(s, packing)) {
                            sweeps.runDkDv(s, packing, dvPass, dkPass);
                            dkDone = true;
                        } else {
                            sweeps.run(s, packing, dvPass);
                        }
                    }
                }
            }
            if (!dkDone) {
                sweeps.run(s, packing, PassArgs.dk(call));
            }
            if (route == DecayRoute.DECAY_SWEEP) {
                sweeps.decaySweep(s, packing, q, k, v, dO, dqInDecaySweep ? t(call.dq()) : null, t(call.decay()),
                        t(call.initialState()), t(call.dFinalState()), accV, t(call.dDecay()), call.scale());
            } else if (route != DecayRoute.NONE) {
                sweeps.launch(packing, Kernel.DECAY_GRAD, new Grid(s.heads(), 1, 1, 256), 0, KernelArgs.of(DecayGradParams.class)
                        .ptr(DecayGradParams.ACC_V, accV).ptr(DecayGradParams.ACC_O, accO)
                        .ptr(DecayGradParams.D_S0, t(call.dInitialState())).ptr(DecayGradParams.S0, t(call.initialState()))
                        .ptr(DecayGradParams.D_SF, t(call.dFinalState())).ptr(DecayGradParams.SFIN, sfinal)
                        .ptr(DecayGradParams.D_DECAY, t(call.dDecay()))
                        .i64(DecayGradParams.B, s.batch()).i64(DecayGradParams.H, s.heads()).i64(DecayGradParams.N, s.tokens())
                        .i64(DecayGradParams.DK_DV, (long) d * e).bytes());
            }
        } finally {
            for (DevicePool.Block b : temps) {
                pool.release(b);
            }
            // Safe to release at once, as the blocks above: later uses queue behind these kernels.
            copies.forEach(CudaTensor::close);
        }
    }

    /** The decay gradient's route for {@code call} (DecayRoute#choose). */
    private DecayRoute decayRoute(BackwardCall call, Packing packing) {
        AttentionShape s = call.shape();
        if (DecayRoute.identityTolerance(s.dtype(), call.precision()) == 0
                || sweeps.hopperDecays(s, packing, t(call.q()), t(call.k()), t(call.v()), t(call.dOutput()))) {
            return DecayRoute.DECAY_SWEEP;
        }
        var can = new DecayRoute.Options(
                s.dtype() != DType.FP32 && sweeps.splits(s, packing, t(call.q()), t(call.k()), t(call.v()), t(call.dOutput())),
                sweeps.planner().tensorCore(DType.FP32, Precision.TF32X3, s.keyDim(), s.valueDim(), true) != null);
        if (!can.splitAvailable() && !can.copiesAvailable()) {
            return DecayRoute.DECAY_SWEEP;
        }
        long tokens = packing == null ? s.tokens() : packing.maxLength();
        return DecayRoute.choose(s.dtype(), call.precision(), can, slowestRate(t(call.decay())), tokens, s.valueDim());
    }

    /**
     * The smallest rate in {@code decay}, read back (H numbers, waiting for the stream) only when
     * the tensor or its version differs from the last call's: a training step reads it once.
     */
    private double slowestRate(CudaTensor decay) {
        if (decay != ratesOf.get() || decay.version() != ratesVersion) {
            double[] rates = new double[(int) decay.elementCount()];
            decay.copyTo(rates);
            slowestRate = Arrays.stream(rates).min().orElse(0);
            ratesOf = new WeakReference<>(decay);
            ratesVersion = decay.version();
        }
        return slowestRate;
    }

    /** x itself when it is fp32, else an fp32 copy of it (added to {@code copies}). */
    private CudaTensor widened(CudaTensor x, List<CudaTensor> copies) {
        if (x.dtype() == DType.FP32) {
            return x;
        }
        CudaTensor wide = scratchFp32(x, copies);
        convert(x, wide);
        return wide;
    }

    /** An uninitialised fp32 tensor of x's shape (added to {@code copies}). */
    private CudaTensor scratchFp32(CudaTensor x, List<CudaTensor> copies) {
        CudaTensor wide = t(backend.allocate(DType.FP32, x.shape()));
        copies.add(wide);
        return wide;
    }

    /** dst = src element for element, between fp32 and bf16 or fp16 (nearest even). */
    private void convert(CudaTensor src, CudaTensor dst) {
        boolean widen = dst.dtype() == DType.FP32;
        DType half = widen ? src.dtype() : dst.dtype();
        if (half == DType.FP32 || half == DType.FP64) {
            throw new IllegalStateException("convert " + src.dtype() + " to " + dst.dtype());
        }
        long n = src.elementCount();
        dst.written();
        device.launch(kernels, Kernel.convert(half, widen), Grid.elementwise(n, device.smCount), 0,
                KernelArgs.of(ConvertParams.class).ptr(ConvertParams.SRC, src).ptr(ConvertParams.DST, dst)
                        .i64(ConvertParams.N, n).bytes());
    }
}
