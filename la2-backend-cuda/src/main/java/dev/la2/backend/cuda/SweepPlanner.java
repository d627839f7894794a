package dev.la2.backend.cuda;

import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Precision;
import dev.la2.spi.AttentionShape;

/**
 * Chooses how a pass runs on one device: a tensor-core sweep where one covers the dtype,
 * precision and dimensions and fits the device's shared memory, else the fp32-FMA sweep with the
 * widest value tile and longest chunk that fit; then the segments that fill the device.
 */
final class SweepPlanner {
    static final int SWEEP_THREADS = 256;
    static final int WIDE_THREADS = 512;
    private static final int TC_CHUNK = 64;
    static final int HOPPER_THREADS = 256;
    /** The compute capability whose sm_90a code the Hopper sweep is (la2_kernels.fatbin has it for no other). */
    static final int HOPPER_CC = 90;
    /** Ring stages of the Hopper sweep (sweep_hopper.cuh, hopper::STAGES). */
    private static final int HOPPER_STAGES = 3;
    /** Ring stages of the fused dv + dk pass (sweep_hopper_dkdv.cuh, dkdv::STAGES). */
    private static final int DKDV_STAGES = 2;
    /** Ring stages of the Hopper TF32 sweep's fp16 chunks (sweep_hopper_tf32.cuh); three warpgroups. */
    private static final int HOPPER_TF32_STAGES = 2, HOPPER_TF32_THREADS = 384;
    /** The decay gradient's Hopper sweep: two ring stages of q, k, v and dO; three warpgroups. */
    private static final int DECAY_STAGES = 2, DECAY_THREADS = 384;

    private final DeviceLimits device;
    private final Kernels kernels;

    /**
     * Which kernel families the planner may choose; each switch off is a property "false" of the
     * backend (CudaBackend), for comparisons.
     *
     * @param tensorCores "cuda.tensorCores": off forces the fp32-FMA sweeps
     * @param hopper "cuda.hopper": off keeps 16-bit and fp32 TF32 Dk = Dv = 128 passes on the wide
     *               sweep on compute capability 9.0
     * @param fusedDkDv "cuda.fusedDkDv": off runs the backward's dv and dk passes apart where the
     *                  fused pass ({@link #hopperDkDv}) would run them together
     * @param tf32Chain "cuda.tf32Chain": off launches the backward's dq, dv and dk passes apart where
     *                  the Hopper TF32 sweep would walk them in one launch (SweepRunner.runTf32Chain)
     */
    record Kernels(boolean tensorCores, boolean hopper, boolean fusedDkDv, boolean tf32Chain) {
        static final Kernels ALL = new Kernels(true, true, true, true);
    }

    SweepPlanner(DeviceLimits device, Kernels kernels) {
        this.device = device;
        this.kernels = kernels;
    }

    /** A tensor-core sweep kernel and its launch shape. */
    record TensorCoreSweep(Kernel kernel, int threads, int valueTile, int smem, int blocksPerSm) {
    }

    /**
     * The plan of one pass of shape {@code s} whose sweep has dimensions dk x dv; with
     * {@code packing} non-null, of a packed call whose sequences it lists (s then has batch S).
     */
    SweepPlan plan(AttentionShape s, Packing packing, int dk, int dv, Precision precision, boolean backward) {
        TensorCoreSweep tc = tensorCore(s.dtype(), precision, dk, dv, backward);
        if (tc != null) {
            int tiles = (dv + tc.valueTile() - 1) / tc.valueTile();
            return split(s, packing, tc.kernel(), tc.threads(), tc.valueTile(), TC_CHUNK, tc.smem(), tiles, tc.blocksPerSm());
        }
        int widest = Math.min(dv, 64);
        FmaTiles f = fmaTiles(dk, widest, "state tile", false);
        return split(s, packing, Kernel.sweep(s.dtype()), SWEEP_THREADS, f.valueTile(), f.chunk(), f.smem(),
                (dv + f.valueTile() - 1) / f.valueTile(), Integer.MAX_VALUE);
    }

    /**
     * The Hopper backward with split products (Kernel.hopperSplit) for a dense 16-bit pass of
     * dimensions dk x dv where the planner routes such passes to the Hopper sweep, else null. Its
     * launch shape is the Hopper sweep's, so the plan {@link #plan} makes for the pass holds for it.
     */
    Kernel hopperSplit(DType dtype, int dk, int dv) {
        TensorCoreSweep tc = dtype == DType.BF16 || dtype == DType.FP16 ? tensorCore(dtype, Precision.STRICT, dk, dv, true) : null;
        return tc != null && tc.kernel().name().startsWith("SWEEP_HOPPER_") ? Kernel.hopperSplit(dtype) : null;
    }

    /**
     * The plan of the fused dv + dk pass (Kernel.hopperDkDv) for a 16-bit backward of shape
     * {@code s}, packed where {@code packing} is non-null, whose passes the planner routes to the
     * Hopper sweep, else null: the dv pass's plan (whose kernel runs the dv pass's mode 0 where
     * there are several segments) with the fused kernel and its shared memory.
     */
    SweepPlan hopperDkDv(AttentionShape s, Packing packing) {
        int d = s.keyDim(), e = s.valueDim();
        long smem = SharedMemory.hopperDkDv(DKDV_STAGES);
        if (!kernels.fusedDkDv() || hopperSplit(s.dtype(), d, e) == null || smem > device.smemPerBlock()) {
            return null;
        }
        SweepPlan hopper = plan(s, packing, d, e, Precision.STRICT, true);
        return new SweepPlan(Kernel.hopperDkDv(s.dtype()), hopper.threads(), hopper.valueTile(), hopper.chunk(), (int) smem,
                hopper.tiles(), hopper.segmentLength(), hopper.segments());
    }

    /**
     * The plan of the decay gradient's Hopper sweep (Kernel.decaySweepHopper) for a dense 16-bit
     * call of shape {@code s} whose passes the planner routes to the Hopper sweep, else null: one
     * block of three warpgroups per sequence segment, the segments those of the Hopper sweep's plan.
     */
    SweepPlan hopperDecay(AttentionShape s) {
        int d = s.keyDim(), e = s.valueDim();
        long smem = SharedMemory.hopperDecay(DECAY_STAGES);
        if (hopperSplit(s.dtype(), d, e) == null || smem > device.smemPerBlock()) {
            return null;
        }
        SweepPlan hopper = plan(s, null, d, e, Precision.STRICT, true);
        return new SweepPlan(Kernel.decaySweepHopper(s.dtype()), DECAY_THREADS, e, TC_CHUNK, (int) smem, 1, hopper.segmentLength(),
                hopper.segments());
    }

    /**
     * The Hopper TF32 sweep's launch (Kernel.hopperTf32, sweep_hopper_tf32.cuh) in place of
     * {@code planned}, the wide TF32 sweep's plan of a Dk = Dv = 128 pass, on compute capability
     * 9.0, else null: the same segments (both run one block per multiprocessor), its own threads and
     * shared memory. It has TMA entry points only, so the caller runs it where the tensor maps
     * describe the pass's operands and keeps {@code planned} elsewhere.
     */
    SweepPlan hopperTf32(SweepPlan planned) {
        boolean backward = planned.kernel() == Kernel.SWEEP_WIDE_TF32_D128_BWD;
        long smem = SharedMemory.hopperTf32(HOPPER_TF32_STAGES);
        if ((planned.kernel() != Kernel.SWEEP_WIDE_TF32_D128 && !backward) || !kernels.hopper()
                || device.computeCapability() != HOPPER_CC || smem > device.smemPerBlock()) {
            return null;
        }
        return new SweepPlan(Kernel.hopperTf32(backward), HOPPER_TF32_THREADS, planned.valueTile(), planned.chunk(), (int) smem,
                planned.tiles(), planned.segmentLength(), planned.segments());
    }

    /**
     * The plan of the backward's dq, dv and dk passes walked in one launch on the Hopper TF32 sweep
     * (Kernel.SWEEP_HOPPER_TMA_TF32_D128_BWD_CHAIN, SweepRunner.runTf32Chain) for a dense call of
     * shape {@code s} in {@code precision}, where the planner puts each of them on that sweep, else
     * null: the passes' segments, the Hopper TF32 sweep's threads and shared memory.
     */
    SweepPlan hopperTf32Chain(AttentionShape s, Precision precision) {
        // the Hopper TF32 sweep has Dk = Dv = 128 only, so the dq pass's plan is dv's and dk's
        SweepPlan dq = hopperTf32(plan(s, null, s.valueDim(), s.keyDim(), precision, true));
        return kernels.tf32Chain() && dq != null ? dq.withKernel(Kernel.SWEEP_HOPPER_TMA_TF32_D128_BWD_CHAIN) : null;
    }

    /** The plan of the decay gradient's sweep carrying T (decay.cuh), both states in double. */
    SweepPlan decayPlan(AttentionShape s, Packing packing) {
        int d = s.keyDim(), e = s.valueDim();
        FmaTiles f = fmaTiles(d, Math.min(e, 32), "decay-gradient state tiles", true);
        return split(s, packing, Kernel.decaySweep(s.dtype()), SWEEP_THREADS, f.valueTile(), f.chunk(), f.smem(),
                (e + f.valueTile() - 1) / f.valueTile(), Integer.MAX_VALUE);
    }

    /**
     * The tensor-core sweep for this pass, or null where only the fp32-FMA one applies. 16-bit
     * rows are padded by 8 elements, fp32 rows by 4 (q, k, scores) or 8 (mma.cuh, PADK and PADA).
     * Blocks per multiprocessor are what registers allow.
     */
    TensorCoreSweep tensorCore(DType dtype, Precision precision, int dk, int dv, boolean backward) {
        if (!kernels.tensorCores() || dv % 64 != 0 || (dk != 64 && dk != 128)) {
            return null;
        }
        TensorCoreSweep k = switch (dtype) {
            case BF16, FP16 -> {
                String type = Kernel.tensorCoreType(dtype, precision);
                // Dk = Dv = 128 on compute capability 9.0: warpgroup products (sweep_hopper.cuh),
                // for every pass; its 226 KB of shared memory leave one block per multiprocessor
                if (kernels.hopper() && device.computeCapability() == HOPPER_CC && dk == 128 && dv == 128) {
                    yield new TensorCoreSweep(Kernel.tensorCore(Kernel.TensorCore.HOPPER, type, dk, backward), HOPPER_THREADS, 128,
                            (int) SharedMemory.hopperSweep(HOPPER_STAGES), 1);
                }
                // Dv = 128: one 16-warp block per sequence, double-buffered (sweep_wide.cuh), where
                // the device has the shared memory for it (an H100/H200 has, an A100 not)
                int wideSmem = (int) SharedMemory.tensorCoreSweep(2, dk, 128, 8, 8, 2, 2, 2);
                yield dv == 128 && wideSmem <= device.smemPerBlock()
                        ? new TensorCoreSweep(Kernel.tensorCore(Kernel.TensorCore.WIDE, type, dk, backward), WIDE_THREADS, 128,
                                wideSmem, 1)
                        : new TensorCoreSweep(Kernel.tensorCore(Kernel.TensorCore.TC1, type, dk, backward), SWEEP_THREADS, 64,
                                (int) SharedMemory.tensorCoreSweep(2, dk, 64, 8, 8, 1, 1, 1), 2);
            }
            // STRICT stays on fp32 FMAs; TF32X3 is three TF32 products per fp32 product (mma.cuh,
            // MmaF32x3), within the fp32 tolerance. TF32 with Dv = 128 runs the wide sweep too: one
            // chunk buffer of q and k, two of v, one state copy.
            case FP32 -> {
                if (precision == Precision.STRICT) {
                    yield null;
                }
                String type = Kernel.tensorCoreType(dtype, precision);
                int wideSmem = (int) SharedMemory.tensorCoreSweep(4, dk, 128, 4, 4, 1, 2, 1);
                yield precision == Precision.TF32 && dv == 128 && wideSmem <= device.smemPerBlock()
                        ? new TensorCoreSweep(Kernel.tensorCore(Kernel.TensorCore.WIDE, type, dk, backward), WIDE_THREADS, 128,
                                wideSmem, 1)
                        : new TensorCoreSweep(Kernel.tensorCore(Kernel.TensorCore.TC, type, dk, backward), SWEEP_THREADS, 64,
                                (int) SharedMemory.tensorCoreSweep(4, dk, 64, 4, 4, 1, 1, 1), 1);
            }
            case FP64 -> null;
        };
        return k == null || k.smem() > device.smemPerBlock() ? null : k;
    }

    /** The value tile, chunk and shared memory of an fp32-FMA kernel. */
    private record FmaTiles(int valueTile, int chunk, int smem) {
    }

    /**
     * The widest value tile (from {@code widest}, halving) and then the longest chunk (64,
     * halving) whose shared memory fits a block, for the fp32-FMA sweep or the decay sweep.
     */
    private FmaTiles fmaTiles(int dk, int widest, String what, boolean decay) {
        for (int tile = widest; ; tile = (tile + 1) / 2) {
            for (int chunk = 64; chunk >= 1; chunk /= 2) {
                long b = decay ? SharedMemory.decaySweep(dk, tile, chunk) : SharedMemory.fmaSweep(dk, tile, chunk);
                if (b <= device.smemPerBlock()) {
                    return new FmaTiles(tile, chunk, (int) b);
                }
            }
            if (tile == 1) {
                throw new La2ArgumentException("q", "key dimension " + dk, "a key dimension whose " + what + " fits in "
                        + device.smemPerBlock() + " bytes of shared memory on " + device.name());
            }
        }
    }

    /**
     * Tokens per segment (a multiple of the chunk) for one wave of resident blocks: each block
     * walks its segment serially, and every extra segment costs a state-only pass over its k and
     * v, so a sequence is split only to fill the device.
     */
    private SweepPlan split(AttentionShape s, Packing packing, Kernel kernel, int threads, int valueTile, int chunk, int smem,
                            int tiles, int blocksPerSmCap) {
        int perSm = Math.min(blocksPerSmCap, Math.max(1, Math.min(2048 / threads, device.smemPerSm() / (smem + 1024))));
        if (packing != null) {
            return packedSplit(packing, s.heads(), (long) device.smCount() * perSm,
                    new SweepPlan(kernel, threads, valueTile, chunk, smem, tiles, 0, 0));
        }
        // in long: a sequence of nearly 2^31 tokens rounded up to whole chunks passes 2^31 - 1
        long n = s.tokens();
        long blocksPerSegment = s.sequences() * tiles;
        long nChunks = Math.ceilDiv(n, chunk);
        long nseg = Math.min(Math.min(nChunks, 65535), Math.max(1, (long) device.smCount() * perSm / blocksPerSegment));
        long segLen = Math.ceilDiv(nChunks, nseg) * chunk;
        return new SweepPlan(kernel, threads, valueTile, chunk, smem, tiles, segLen, Math.ceilDiv(n, segLen));
    }

    /**
     * A packed call's segment length: the chunks of every sequence, head and value tile spread
     * over one wave of {@code slots} resident blocks, as the dense split does for equal lengths, so
     * only a sequence longer than one block's share is cut; at most 65535 segments.
     */
    private static SweepPlan packedSplit(Packing packing, int heads, long slots, SweepPlan p) {
        int chunk = p.chunk();
        long work = packing.chunks(chunk) * heads * p.tiles();
        long longest = Math.ceilDiv((long) packing.maxLength(), chunk);
        long perBlock = Math.max(Math.max(1, Math.ceilDiv(work, slots)), Math.ceilDiv(longest, 65535));
        long segLen = perBlock * chunk;
        long nseg = Math.max(1, Math.ceilDiv(packing.maxLength(), segLen));
        return new SweepPlan(p.kernel(), p.threads(), p.valueTile(), chunk, p.smem(), p.tiles(), segLen, nseg);
    }
}
