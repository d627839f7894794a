package dev.la2.backend.cuda;

import dev.la2.backend.cuda.DeviceContext.Grid;
import dev.la2.backend.cuda.ParamLayouts.DecaySumParams;
import dev.la2.backend.cuda.ParamLayouts.DecaySweepParams;
import dev.la2.spi.AttentionShape;
import java.util.concurrent.atomic.LongAdder;

/**
 * Queues the passes of a sweep: with more than one segment per sequence, mode 0 (segment-local
 * states into scratch), the scan that chains them, then mode 1 (every segment from its incoming
 * state, writing outputs). With a {@link Packing} the same passes run on a packed call's
 * sequences through the kernels' packed entry points (packed.cuh), one launch each for all of
 * them. Called with the backend's lock held.
 */
final class SweepRunner {
    /** Launches of the fused dv + dk pass in this process (CudaFusedBackwardTest proves the route with it). */
    static final LongAdder FUSED_DK_DV = new LongAdder();
    /** Launches of the decay gradient's Hopper sweep (its tests check the route). */
    static final LongAdder HOPPER_DECAY = new LongAdder();
    /** Passes run on the Hopper TF32 sweep (CudaHopperTf32Test checks the route). */
    static final LongAdder HOPPER_TF32 = new LongAdder();
    /** Backwards whose dq, dv and dk passes ran as one chain (runTf32Chain) on the Hopper TF32 sweep. */
    static final LongAdder TF32_CHAIN = new LongAdder();

    private final DeviceContext device;
    private final KernelTable kernels;
    private final DevicePool pool;
    private final SweepPlanner planner;
    private final TensorMaps tensorMaps;

    /** {@code tma}: "cuda.tma"; off, every Hopper pass loads its chunks by cp.async (TensorMaps). */
    SweepRunner(DeviceContext device, KernelTable kernels, DevicePool pool, SweepPlanner planner, boolean tma) {
        this.device = device;
        this.kernels = kernels;
        this.pool = pool;
        this.planner = planner;
        this.tensorMaps = new TensorMaps(tma);
    }

    SweepPlanner planner() {
        return planner;
    }

    /**
     * One pass of the sweep over every sequence of shape {@code s}, packed where {@code packing} is
     * non-null. Where the planner chose the Hopper sweep for a dense pass, its chunks come by TMA
     * when the tensor maps can describe q, k and v (TensorMaps); the backward's reversed passes
     * have entry points of their own (Kernel.reversed). A dense fp32 TF32 pass without a dot
     * product runs the Hopper TF32 sweep where the planner has it and the maps describe its
     * operands, else the wide sweep. Packed calls keep the cp.async loads (a box cannot stop at a
     * sequence's end inside the packed tensor).
     */
    void run(AttentionShape s, Packing packing, PassArgs p) {
        SweepPlan planned = planner.plan(s, packing, p.dk(), p.dv(), p.precision(), p.backward());
        boolean timeOrder = p.backward() || !p.reversed();
        SweepPlan tf32 = packing == null && p.dot() == null && timeOrder ? planner.hopperTf32(planned) : null;
        Kernel tma = packing != null ? null
                : p.split() ? planner.hopperSplit(s.dtype(), p.dk(), p.dv())
                : tf32 != null ? tf32.kernel()
                : timeOrder ? planned.kernel().tma() : null;
        if (tma != null && p.reversed()) {
            tma = tma.reversed();
        }
        byte[] maps = tma == null ? null : tensorMaps.of(s, p);
        if (p.split() && maps == null) {
            throw new IllegalStateException("split products without the Hopper sweep's tensor maps (see splits)");
        }
        SweepPlan plan = maps == null ? planned : (tf32 != null ? tf32 : planned).withKernel(tma);
        segmented(s, packing, plan, maps, (long) p.dk() * p.dv(), 4, Kernel.SCAN,
                (scratch, mode) -> p.params(s, plan, scratch, mode));
        if (maps != null && tf32 != null) {
            HOPPER_TF32.increment();
        }
    }

    /**
     * Whether split passes (PassArgs.split) can run on shape {@code s} with these operands: the
     * planner has the Hopper split kernel for it and the tensor maps describe each operand.
     */
    boolean splits(AttentionShape s, Packing packing, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor dO) {
        return packing == null && planner.hopperSplit(s.dtype(), s.keyDim(), s.valueDim()) != null && described(s, q, k, v, dO);
    }

    /**
     * Whether the backward's dv and dk passes on shape {@code s}, packed where {@code packing} is
     * non-null, run as one ({@link #runDkDv}): the planner has the fused pass for it.
     */
    boolean fusesDkDv(AttentionShape s, Packing packing) {
        return planner.hopperDkDv(s, packing) != null;
    }

    /**
     * Whether the decay gradient's sweep of a backward on shape {@code s} with these operands runs
     * on Hopper warpgroups ({@link #decaySweep}): a dense call the planner has that sweep for (16-bit
     * storage, D = E = 128, compute capability 9.0), and tensor maps for each operand.
     */
    boolean hopperDecays(AttentionShape s, Packing packing, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor dO) {
        return packing == null && planner.hopperDecay(s) != null && described(s, q, k, v, dO);
    }

    private boolean described(AttentionShape s, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor dO) {
        int d = s.keyDim(), e = s.valueDim();
        return tensorMaps.describes(s, q, d) && tensorMaps.describes(s, k, d) && tensorMaps.describes(s, v, e)
                && tensorMaps.describes(s, dO, e);
    }

    /**
     * The dv pass {@code dv} and the dk pass {@code dk} of a backward as one reversed walk
     * (sweep_hopper_dkdv.cuh), packed where {@code packing} is non-null, where {@link #fusesDkDv}
     * holds. Chunks come by TMA where the tensor maps describe every operand of a dense call, by
     * cp.async otherwise (as {@link #run} decides for one pass). With several segments per sequence
     * the dv pass's mode 0 and the scan run first, as for the dv pass alone; dk's segment states are
     * the transposes of dv's, so the fused mode 1 takes both from dv's scratch.
     */
    void runDkDv(AttentionShape s, Packing packing, PassArgs dv, PassArgs dk) {
        SweepPlan single = planner.plan(s, packing, dv.dk(), dv.dv(), dv.precision(), true);
        SweepPlan fused = planner.hopperDkDv(s, packing);
        // the kernel walks once for both: everything but the outputs must agree (it traps otherwise)
        boolean agree = dv.reversed() && dk.reversed() && dv.dot() == null && dk.dot() == null && dv.dk() == dk.dv()
                && dv.dv() == dk.dk() && dv.alpha() == dk.alpha() && dv.beta() == dk.beta() && dv.kappa() == dk.kappa()
                && dv.ofs0() == dk.ofs0() && dv.decay() == dk.decay();
        if (fused == null || !agree) {
            throw new IllegalStateException("fused dv + dk pass for passes that do not walk together: " + dv + ", " + dk);
        }
        Kernel tma = packing == null ? single.kernel().tma() : null;
        byte[] mv = tma == null ? null : tensorMaps.of(s, dv), mk = tma == null ? null : tensorMaps.of(s, dk);
        boolean byTma = mv != null && mk != null;
        long bh = s.sequences(), nseg = fused.segments(), stateElements = (long) dv.dk() * dv.dv();
        DevicePool.Block scratch = nseg > 1 ? pool.allocate(4 * bh * (nseg - 1) * stateElements) : null;
        try {
            long at = scratch == null ? 0 : scratch.address();
            byte[] last = dv.params(s, fused, at, 1);
            if (nseg > 1) {
                Grid modeZero = new Grid(bh, nseg - 1, single.tiles(), single.threads());
                if (byTma) {
                    device.launch(kernels, tma.reversed(), modeZero, single.smem(), dv.params(s, single, at, 0), mv);
                } else {
                    launch(packing, single.kernel(), modeZero, single.smem(), dv.params(s, single, at, 0));
                }
                launch(packing, Kernel.SCAN, new Grid(bh, (stateElements + 255) / 256, 1, 256), 0, last);
            }
            Grid grid = new Grid(bh, nseg, fused.tiles(), fused.threads());
            byte[] dkParams = dk.params(s, fused, at, 1);
            if (byTma) {
                device.launch(kernels, fused.kernel().tma(), grid, fused.smem(), last, dkParams, mv, mk);
            } else if (packing == null) {
                device.launch(kernels, fused.kernel(), grid, fused.smem(), last, dkParams);
            } else {
                device.launchVariant(kernels, fused.kernel(), grid, fused.smem(), packing.params(), last, dkParams);
            }
            FUSED_DK_DV.increment();
        } finally {
            if (scratch != null) {
                pool.release(scratch);
            }
        }
    }

    /**
     * Whether the backward's passes {@code dq}, {@code dv} and {@code dk} on shape {@code s}, packed
     * where {@code packing} is non-null, run as one chain ({@link #runTf32Chain}): a dense call whose
     * passes the planner puts on the Hopper TF32 sweep (SweepPlanner.hopperTf32Chain), dq in forward
     * time and dv and dk reversed, none with a dot product, every operand described by a tensor map.
     */
    boolean chainsTf32(AttentionShape s, Packing packing, PassArgs dq, PassArgs dv, PassArgs dk) {
        return packing == null && dq.precision() == dv.precision() && dv.precision() == dk.precision()
                && !dq.reversed() && dv.reversed() && dk.reversed()
                && planner.hopperTf32Chain(s, dq.precision()) != null && chainMaps(s, dq, dv, dk) != null;
    }

    /**
     * The backward's dq pass (forward in time), dv and dk passes (reversed) as one launch where
     * {@link #chainsTf32} holds: each block walks its segment of the three passes one after the
     * other (sweep_hopper_tf32_entries.cuh), so it waits for a first chunk once. With several
     * segments per sequence the chain runs twice, mode 0 (each pass's segment states into its own
     * scratch) and, after each pass's scan, mode 1; each pass's outputs are those it writes alone.
     */
    void runTf32Chain(AttentionShape s, PassArgs dq, PassArgs dv, PassArgs dk) {
        if (!chainsTf32(s, null, dq, dv, dk)) {
            throw new IllegalStateException("a TF32 chain for passes that do not chain: " + dq + ", " + dv + ", " + dk);
        }
        SweepPlan plan = planner.hopperTf32Chain(s, dq.precision());
        byte[][] maps = chainMaps(s, dq, dv, dk);
        PassArgs[] passes = {dq, dv, dk};
        long bh = s.sequences(), nseg = plan.segments();
        DevicePool.Block[] scratch = new DevicePool.Block[3];
        try {
            long[] at = new long[3];
            if (nseg > 1) {
                for (int i = 0; i < 3; i++) {
                    scratch[i] = pool.allocate(4 * bh * (nseg - 1) * passes[i].dk() * passes[i].dv());
                    at[i] = scratch[i].address();
                }
            }
            for (int mode = nseg > 1 ? 0 : 1; mode <= 1; mode++) {
                byte[][] params = new byte[3][];
                for (int i = 0; i < 3; i++) {
                    params[i] = passes[i].params(s, plan, at[i], mode);
                    if (mode == 1 && nseg > 1) {
                        long state = (long) passes[i].dk() * passes[i].dv();
                        device.launch(kernels, Kernel.SCAN, new Grid(bh, (state + 255) / 256, 1, 256), 0, params[i]);
                    }
                }
                device.launch(kernels, plan.kernel(), new Grid(bh, mode == 0 ? nseg - 1 : nseg, plan.tiles(), plan.threads()),
                        plan.smem(), params[0], params[1], params[2], maps[0], maps[1], maps[2]);
            }
            HOPPER_TF32.add(3);
            TF32_CHAIN.increment();
        } finally {
            for (DevicePool.Block b : scratch) {
                if (b != null) {
                    // Safe to reuse at once: every later use is queued behind these kernels on the stream.
                    pool.release(b);
                }
            }
        }
    }

    /** The tensor maps of the chained passes' operands, or null where one cannot be described. */
    private byte[][] chainMaps(AttentionShape s, PassArgs dq, PassArgs dv, PassArgs dk) {
        if (dq.dot() != null || dv.dot() != null || dk.dot() != null) {
            return null;
        }
        byte[][] maps = {tensorMaps.of(s, dq), tensorMaps.of(s, dv), tensorMaps.of(s, dk)};
        return maps[0] == null || maps[1] == null || maps[2] == null ? null : maps;
    }

    /**
     * The decay gradient's sweep carrying T = -dS/ds (decay.cuh), then its sum over the batch into
     * {@code dDecay}; {@code acc} holds one zeroed double per sequence for the per-sequence sums.
     * Where it runs on Hopper warpgroups ({@link #hopperDecays}) it also writes the backward's dq
     * into {@code dq}, which must then be given, and null otherwise.
     */
    void decaySweep(AttentionShape s, Packing packing, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor dO, CudaTensor dq,
                    CudaTensor decay, CudaTensor s0, CudaTensor dSf, long acc, CudaTensor dDecay, double scale) {
        SweepPlan hopper = hopperDecays(s, packing, q, k, v, dO) ? planner.hopperDecay(s) : null;
        byte[] maps = hopper == null ? null : tensorMaps.of(s, q, k, v, dO);
        if ((maps != null) != (dq != null)) {
            throw new IllegalStateException("dq " + (dq == null ? "missing from" : "given to") + " a decay sweep that "
                    + (maps != null ? "writes it (Hopper warpgroups)" : "does not write it"));
        }
        SweepPlan plan = maps != null ? hopper : planner.decayPlan(s, packing);
        int d = s.keyDim(), e = s.valueDim();
        long[] ks = PassArgs.strides(s, d), vs = PassArgs.strides(s, e);
        segmented(s, packing, plan, maps, (long) d * e, 16, Kernel.DECAY_SCAN, (scratch, mode) -> KernelArgs.of(DecaySweepParams.class)
                .ptr(DecaySweepParams.Q, q).ptr(DecaySweepParams.K, k).ptr(DecaySweepParams.V, v).ptr(DecaySweepParams.D_O, dO)
                .ptr(DecaySweepParams.D_Q, dq).ptr(DecaySweepParams.S0, s0).ptr(DecaySweepParams.D_SF, dSf)
                .ptr(DecaySweepParams.SCRATCH, scratch)
                .ptr(DecaySweepParams.DECAY, decay).ptr(DecaySweepParams.ACC, acc)
                .i64(DecaySweepParams.N, s.tokens()).i64(DecaySweepParams.H, s.heads()).i64(DecaySweepParams.DK, d)
                .i64(DecaySweepParams.DV, e).i64(DecaySweepParams.ET, plan.valueTile()).i64(DecaySweepParams.C, plan.chunk())
                .i64(DecaySweepParams.L, plan.segmentLength()).i64(DecaySweepParams.NSEG, plan.segments())
                .i64(DecaySweepParams.MODE, mode)
                .i64(DecaySweepParams.K_B, ks[0]).i64(DecaySweepParams.K_H, ks[1]).i64(DecaySweepParams.K_T, ks[2])
                .i64(DecaySweepParams.V_B, vs[0]).i64(DecaySweepParams.V_H, vs[1]).i64(DecaySweepParams.V_T, vs[2])
                .f64(DecaySweepParams.SCALE, scale).bytes());
        if (maps != null) {
            HOPPER_DECAY.increment();
        }
        device.launch(kernels, Kernel.DECAY_SUM, new Grid(1, 1, 1, (int) Math.min(1024, s.heads())), 0,
                KernelArgs.of(DecaySumParams.class).ptr(DecaySumParams.ACC, acc).ptr(DecaySumParams.D_DECAY, dDecay)
                        .i64(DecaySumParams.B, s.batch()).i64(DecaySumParams.H, s.heads()).bytes());
    }

    /** A pass's parameters for a scratch address and a mode. */
    @FunctionalInterface
    private interface Params {
        byte[] of(long scratch, int mode);
    }

    /**
     * Modes 0 and 1 of a sweep with the scan between them, or mode 1 alone for one segment. A
     * segment's scratch holds {@code scratchBytes} per element of the dk x dv state
     * ({@code stateElements}): one fp32 state, or S and T in double. {@code maps}: the tensor maps
     * the sweep kernel takes after its parameters, or null.
     */
    private void segmented(AttentionShape s, Packing packing, SweepPlan plan, byte[] maps, long stateElements, int scratchBytes,
                           Kernel scan, Params params) {
        long bh = s.sequences(), nseg = plan.segments();
        DevicePool.Block scratch = nseg > 1 ? pool.allocate(scratchBytes * bh * (nseg - 1) * stateElements) : null;
        try {
            for (int mode = 0; mode <= 1; mode++) {
                if (mode == 0 && nseg == 1) {
                    continue;
                }
                byte[] bytes = params.of(scratch == null ? 0 : scratch.address(), mode);
                if (mode == 1 && nseg > 1) {
                    launch(packing, scan, new Grid(bh, (stateElements + 255) / 256, 1, 256), 0, bytes);
                }
                Grid grid = new Grid(bh, mode == 0 ? nseg - 1 : nseg, plan.tiles(), plan.threads());
                if (maps != null) {
                    device.launch(kernels, plan.kernel(), grid, plan.smem(), bytes, maps);
                } else {
                    launch(packing, plan.kernel(), grid, plan.smem(), bytes);
                }
            }
        } finally {
            if (scratch != null) {
                // Safe to reuse at once: every later use is queued behind these kernels on the stream.
                pool.release(scratch);
            }
        }
    }

    /** The kernel, or its packed entry point with the call's PackedParams. */
    void launch(Packing packing, Kernel kernel, Grid grid, int smem, byte[] params) {
        if (packing == null) {
            device.launch(kernels, kernel, grid, smem, params);
        } else {
            device.launchVariant(kernels, kernel, grid, smem, packing.params(), params);
        }
    }
}
