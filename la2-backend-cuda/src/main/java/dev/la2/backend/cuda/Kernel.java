package dev.la2.backend.cuda;

import dev.la2.api.DType;
import dev.la2.api.Precision;
import java.util.Locale;

/**
 * The entry points of la2_kernels.cu, one constant per symbol: the symbol is {@code la2_} and the
 * constant's name in lower case ({@link #symbol()}). KernelTableTest checks the table against the
 * source; {@link KernelTable} loads each function once.
 */
enum Kernel {
    SWEEP_F32, SWEEP_BF16, SWEEP_F16,
    SCAN,
    /** Tensor-core sweeps: the forward's (with the exact non-finite re-sum) and the backward's (_BWD). */
    SWEEP_HOPPER_BF16_D128, SWEEP_HOPPER_BF16_D128_BWD, SWEEP_HOPPER_F16_D128, SWEEP_HOPPER_F16_D128_BWD,
    /** The Hopper sweep loading chunks by TMA: its tensor maps (TensorMaps) follow the SweepParams; no packed entry point. */
    SWEEP_HOPPER_TMA_BF16_D128, SWEEP_HOPPER_TMA_BF16_D128_BWD, SWEEP_HOPPER_TMA_F16_D128, SWEEP_HOPPER_TMA_F16_D128_BWD,
    /** The same for the backward's reversed passes (ring rows in memory order, sweep_hopper.cuh FLIP). */
    SWEEP_HOPPER_TMA_BF16_D128_BWD_REV, SWEEP_HOPPER_TMA_F16_D128_BWD_REV,
    /**
     * The Hopper backward on TMA-loaded chunks with products of about fp32 accuracy (hi + lo
     * 16-bit intermediates): the dq and dv passes whose sums the decay gradient takes (Backward).
     */
    SWEEP_HOPPER_SPLIT_BF16_D128_BWD, SWEEP_HOPPER_SPLIT_F16_D128_BWD, SWEEP_HOPPER_SPLIT_BF16_D128_BWD_REV,
    SWEEP_HOPPER_SPLIT_F16_D128_BWD_REV,
    /**
     * The backward's dv and dk passes as one reversed walk (sweep_hopper_dkdv.cuh, SweepRunner.runDkDv):
     * the dv pass's SweepParams, then the dk pass's; chunks by cp.async, with a packed entry point.
     * Their TMA entry points ({@link #tma()}) take the tensor maps of both after the parameters.
     */
    SWEEP_HOPPER_BF16_D128_DKDV, SWEEP_HOPPER_F16_D128_DKDV,
    SWEEP_HOPPER_TMA_BF16_D128_DKDV, SWEEP_HOPPER_TMA_F16_D128_DKDV,
    /**
     * fp32 storage with TF32 precision on Hopper warpgroups, scaled fp16 products
     * (sweep_hopper_tf32.cuh): the forward's, the backward's in forward time and reversed; TMA
     * entry points only (tensor maps of fp32 q, k, v after the SweepParams).
     */
    SWEEP_HOPPER_TMA_TF32_D128, SWEEP_HOPPER_TMA_TF32_D128_BWD, SWEEP_HOPPER_TMA_TF32_D128_BWD_REV,
    /**
     * The backward's dq, dv and dk passes on the Hopper TF32 sweep walked one after the other by
     * each block (sweep_hopper_tf32_entries.cuh, SweepRunner.runTf32Chain): the three passes'
     * SweepParams, then their tensor maps.
     */
    SWEEP_HOPPER_TMA_TF32_D128_BWD_CHAIN,
    SWEEP_WIDE_BF16_D64, SWEEP_WIDE_BF16_D64_BWD, SWEEP_WIDE_BF16_D128, SWEEP_WIDE_BF16_D128_BWD,
    SWEEP_WIDE_F16_D64, SWEEP_WIDE_F16_D64_BWD, SWEEP_WIDE_F16_D128, SWEEP_WIDE_F16_D128_BWD,
    SWEEP_WIDE_TF32_D64, SWEEP_WIDE_TF32_D64_BWD, SWEEP_WIDE_TF32_D128, SWEEP_WIDE_TF32_D128_BWD,
    SWEEP_TC1_BF16_D64, SWEEP_TC1_BF16_D64_BWD, SWEEP_TC1_BF16_D128, SWEEP_TC1_BF16_D128_BWD,
    SWEEP_TC1_F16_D64, SWEEP_TC1_F16_D64_BWD, SWEEP_TC1_F16_D128, SWEEP_TC1_F16_D128_BWD,
    SWEEP_TC_TF32_D64, SWEEP_TC_TF32_D64_BWD, SWEEP_TC_TF32_D128, SWEEP_TC_TF32_D128_BWD,
    SWEEP_TC_F32X3_D64, SWEEP_TC_F32X3_D64_BWD, SWEEP_TC_F32X3_D128, SWEEP_TC_F32X3_D128_BWD,
    DECAY_GRAD,
    DECAY_SWEEP_F32, DECAY_SWEEP_BF16, DECAY_SWEEP_F16,
    /**
     * The decay gradient's sweep on Hopper warpgroups, 16-bit products, writing dq as well
     * (decay_hopper.cuh): the DecaySweepParams, then the tensor maps of q, k, v and dO; no packed
     * entry point.
     */
    DECAY_SWEEP_HOPPER_BF16_D128, DECAY_SWEEP_HOPPER_F16_D128,
    DECAY_SCAN,
    DECAY_SUM,
    DECODE_F32, DECODE_BF16, DECODE_F16,
    RANDOM_F32, RANDOM_BF16, RANDOM_F16,
    WIDEN_BF16, WIDEN_F16, NARROW_BF16, NARROW_F16,
    /** Pool slots gathered into dense states and scattered back (packed.cuh), the draft's padding rows zeroed. */
    SLOT_COPY, ZERO_ROWS;

    private static final String TMA = "SWEEP_HOPPER_TMA_", SPLIT = "SWEEP_HOPPER_SPLIT_", DECAY_HOPPER = "DECAY_SWEEP_HOPPER_";

    String symbol() {
        return "la2_" + name().toLowerCase(Locale.ROOT);
    }

    /**
     * The suffix of this kernel's second entry point, the same body on a packed call's sequences
     * ("_packed") or on pool slots ("_slots"), which takes a PackedParams or SlotParams after its
     * own parameters (packed.cuh); null where it has none.
     */
    String variant() {
        if (name().startsWith("DECODE_")) {
            return "_slots";
        }
        boolean packed = (name().startsWith("SWEEP_") && !name().startsWith(TMA) && !name().startsWith(SPLIT))
                || (name().startsWith("DECAY_SWEEP_") && !name().startsWith(DECAY_HOPPER)) || this == SCAN
                || this == DECAY_SCAN || this == DECAY_GRAD;
        return packed ? "_packed" : null;
    }

    /** The Hopper sweep's entry point on chunks loaded by TMA, for this Hopper sweep; null for other kernels. */
    Kernel tma() {
        return name().startsWith("SWEEP_HOPPER_") && !name().startsWith(TMA) && !name().startsWith(SPLIT)
                ? valueOf(name().replace("SWEEP_HOPPER_", TMA)) : null;
    }

    /** This TMA-loaded Hopper backward's entry point for reversed passes; null for other kernels. */
    Kernel reversed() {
        return (name().startsWith(TMA) || name().startsWith(SPLIT)) && name().endsWith("_BWD") ? valueOf(name() + "_REV") : null;
    }

    /** The Hopper backward with split products for a 16-bit storage type. */
    static Kernel hopperSplit(DType dtype) {
        if (dtype != DType.BF16 && dtype != DType.FP16) {
            throw new IllegalArgumentException("a 16-bit storage type: " + dtype);
        }
        return valueOf(SPLIT + typeName(dtype) + "_D128_BWD");
    }

    /** The fused dv + dk pass for a 16-bit storage type (cp.async; {@link #tma()} is its TMA entry point). */
    static Kernel hopperDkDv(DType dtype) {
        if (dtype != DType.BF16 && dtype != DType.FP16) {
            throw new IllegalArgumentException("a 16-bit storage type: " + dtype);
        }
        return valueOf("SWEEP_HOPPER_" + typeName(dtype) + "_D128_DKDV");
    }

    /** The Hopper TF32 sweep's entry point in forward time ({@link #reversed()} gives the backward's reversed one). */
    static Kernel hopperTf32(boolean backward) {
        return backward ? SWEEP_HOPPER_TMA_TF32_D128_BWD : SWEEP_HOPPER_TMA_TF32_D128;
    }

    /** Kernels with dynamic shared memory beyond the default 48 KiB get the device's opt-in maximum. */
    boolean bigSharedMemory() {
        return name().startsWith("SWEEP_") || name().startsWith("DECAY_SWEEP_") || name().startsWith("DECODE_");
    }

    /** The fp32-FMA sweep for a storage type. */
    static Kernel sweep(DType dtype) {
        return typed("SWEEP", dtype);
    }

    static Kernel decaySweep(DType dtype) {
        return typed("DECAY_SWEEP", dtype);
    }

    /** The decay gradient's Hopper sweep (Dk = Dv = 128) for a 16-bit storage type. */
    static Kernel decaySweepHopper(DType dtype) {
        if (dtype != DType.BF16 && dtype != DType.FP16) {
            throw new IllegalArgumentException("a 16-bit storage type: " + dtype);
        }
        return valueOf(DECAY_HOPPER + typeName(dtype) + "_D128");
    }

    static Kernel decode(DType dtype) {
        return typed("DECODE", dtype);
    }

    static Kernel random(DType dtype) {
        return typed("RANDOM", dtype);
    }

    /** The conversion between fp32 and a 16-bit type, widening or narrowing. */
    static Kernel convert(DType half, boolean widen) {
        return typed(widen ? "WIDEN" : "NARROW", half);
    }

    /** The families of tensor-core sweeps, as in the symbols. */
    enum TensorCore {
        /** Warpgroup products, two warpgroups per sequence, Dk = Dv = 128 (sweep_hopper.cuh, compute capability 9.0 only). */
        HOPPER,
        /** One 16-warp block per sequence, all 128 value columns (sweep_wide.cuh). */
        WIDE,
        /** 64-column value tiles, two blocks per multiprocessor (sweep_mma.cuh, 16-bit storage). */
        TC1,
        /** 64-column value tiles, one block per multiprocessor (sweep_mma.cuh, fp32 storage). */
        TC
    }

    /**
     * A tensor-core sweep: {@code type} is bf16, f16, tf32 or f32x3 (3xTF32), {@code backward}
     * selects the variant without the forward's non-finite re-sum.
     */
    static Kernel tensorCore(TensorCore family, String type, int dk, boolean backward) {
        return valueOf(("SWEEP_" + family + "_" + type + "_D" + dk + (backward ? "_BWD" : "")).toUpperCase(Locale.ROOT));
    }

    /** bf16, f16, tf32 or f32x3: the operand type a tensor-core sweep multiplies in. */
    static String tensorCoreType(DType dtype, Precision precision) {
        return switch (dtype) {
            case BF16 -> "bf16";
            case FP16 -> "f16";
            case FP32 -> precision == Precision.TF32 ? "tf32" : "f32x3";
            case FP64 -> throw new IllegalStateException("FP64");
        };
    }

    private static Kernel typed(String family, DType dtype) {
        return valueOf(family + "_" + typeName(dtype));
    }

    private static String typeName(DType dtype) {
        return switch (dtype) {
            case FP32 -> "F32";
            case BF16 -> "BF16";
            case FP16 -> "F16";
            case FP64 -> throw new IllegalStateException("FP64 tensors are not made by this backend");
        };
    }
}
