// The one translation unit nvcc compiles into la2_kernels.fatbin: every entry point of the module.
// The Java side names them in one table (Kernel.java), which KernelTableTest checks against this
// file. The kernels themselves live in the headers; common.cuh explains the words they use.
#include "common.cuh"
#include "decay.cuh"
#include "decay_hopper.cuh"
#include "decode.cuh"
#include "packed.cuh"
#include "params.cuh"
#include "sweep_common.cuh"
#include "sweep_generic.cuh"
#include "sweep_hopper_dkdv.cuh"
#include "sweep_hopper_entries.cuh"
#include "sweep_hopper_tf32_entries.cuh"
#include "sweep_mma.cuh"
#include "sweep_wide.cuh"
#include "utilities.cuh"

// ---- sweeps ----------------------------------------------------------------------------------

extern "C" __global__ void __launch_bounds__(256) la2_sweep_f32(const SweepParams p) { sweepGeneric<float>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_sweep_bf16(const SweepParams p) { sweepGeneric<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_sweep_f16(const SweepParams p) { sweepGeneric<__half>(p); }

extern "C" __global__ void __launch_bounds__(256) la2_scan(const SweepParams p) { scanSegments(p); }

// The packed sweeps and scan (packed.cuh, LA2_PACKED_SWEEP): the bodies above on a packed call's sequences.
LA2_PACKED_SWEEP(la2_sweep_f32_packed, float, sweepGeneric<float>, false)
LA2_PACKED_SWEEP(la2_sweep_bf16_packed, __nv_bfloat16, sweepGeneric<__nv_bfloat16>, false)
LA2_PACKED_SWEEP(la2_sweep_f16_packed, __half, sweepGeneric<__half>, false)
LA2_PACKED_SWEEP(la2_scan_packed, float, scanSegments, true)

LA2_SWEEP_MMA(la2_sweep_tc1_bf16_d64, 2, __nv_bfloat16, 64, Mma<__nv_bfloat16>)
LA2_SWEEP_MMA(la2_sweep_tc1_bf16_d128, 2, __nv_bfloat16, 128, Mma<__nv_bfloat16>)
LA2_SWEEP_MMA(la2_sweep_tc1_f16_d64, 2, __half, 64, Mma<__half>)
LA2_SWEEP_MMA(la2_sweep_tc1_f16_d128, 2, __half, 128, Mma<__half>)
LA2_SWEEP_MMA(la2_sweep_tc_tf32_d64, 1, float, 64, Mma<float>)
LA2_SWEEP_MMA(la2_sweep_tc_tf32_d128, 1, float, 128, Mma<float>)
LA2_SWEEP_MMA(la2_sweep_tc_f32x3_d64, 1, float, 64, MmaF32x3)
LA2_SWEEP_MMA(la2_sweep_tc_f32x3_d128, 1, float, 128, MmaF32x3)

LA2_SWEEP_WIDE(la2_sweep_wide_bf16_d64, __nv_bfloat16, 64)
LA2_SWEEP_WIDE(la2_sweep_wide_bf16_d128, __nv_bfloat16, 128)
LA2_SWEEP_WIDE(la2_sweep_wide_f16_d64, __half, 64)
LA2_SWEEP_WIDE(la2_sweep_wide_f16_d128, __half, 128)
LA2_SWEEP_WIDE(la2_sweep_wide_tf32_d64, float, 64)
LA2_SWEEP_WIDE(la2_sweep_wide_tf32_d128, float, 128)

LA2_SWEEP_HOPPER(la2_sweep_hopper_bf16_d128, __nv_bfloat16)
LA2_SWEEP_HOPPER(la2_sweep_hopper_f16_d128, __half)
LA2_SWEEP_HOPPER_TMA(la2_sweep_hopper_tma_bf16_d128, __nv_bfloat16)
LA2_SWEEP_HOPPER_TMA(la2_sweep_hopper_tma_f16_d128, __half)
LA2_SWEEP_HOPPER_SPLIT(la2_sweep_hopper_split_bf16_d128, __nv_bfloat16)
LA2_SWEEP_HOPPER_SPLIT(la2_sweep_hopper_split_f16_d128, __half)
LA2_SWEEP_HOPPER_DKDV(la2_sweep_hopper_tma_bf16_d128, __nv_bfloat16)
LA2_SWEEP_HOPPER_DKDV(la2_sweep_hopper_tma_f16_d128, __half)
LA2_SWEEP_HOPPER_DKDV_LOADED(la2_sweep_hopper_bf16_d128, __nv_bfloat16)
LA2_SWEEP_HOPPER_DKDV_LOADED(la2_sweep_hopper_f16_d128, __half)
// fp32 storage with TF32 precision on Hopper warpgroups (sweep_hopper_tf32_entries.cuh): TMA entry points only.
LA2_SWEEP_HOPPER_TF32(la2_sweep_hopper_tma_tf32_d128)

// ---- decay gradient --------------------------------------------------------------------------

extern "C" __global__ void __launch_bounds__(256) la2_decay_grad(const DecayGradParams p) { decayGradFromSums<false>(p, nullptr); }
extern "C" __global__ void __launch_bounds__(256) la2_decay_grad_packed(const DecayGradParams p, const PackedParams pk) {
    decayGradFromSums<true>(p, pk.ranges);
}

extern "C" __global__ void __launch_bounds__(256) la2_decay_sweep_f32(const DecaySweepParams p) { decaySweep<float>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_decay_sweep_bf16(const DecaySweepParams p) { decaySweep<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_decay_sweep_f16(const DecaySweepParams p) { decaySweep<__half>(p); }
// The same on Hopper warpgroups, 16-bit storage and Dk = Dv = 128 (decay_hopper.cuh).
LA2_DECAY_SWEEP_HOPPER(la2_decay_sweep_hopper_bf16_d128, __nv_bfloat16)
LA2_DECAY_SWEEP_HOPPER(la2_decay_sweep_hopper_f16_d128, __half)
extern "C" __global__ void __launch_bounds__(256) la2_decay_scan(const DecaySweepParams p) { scanDecaySegments(p); }
extern "C" __global__ void la2_decay_sum(const DecaySumParams p) { sumDecayGradient(p); }

// The decay gradient's packed sweep and scan (packed.cuh, LA2_PACKED_DECAY).
LA2_PACKED_DECAY(la2_decay_sweep_f32_packed, float, decaySweep<float>, false)
LA2_PACKED_DECAY(la2_decay_sweep_bf16_packed, __nv_bfloat16, decaySweep<__nv_bfloat16>, false)
LA2_PACKED_DECAY(la2_decay_sweep_f16_packed, __half, decaySweep<__half>, false)
LA2_PACKED_DECAY(la2_decay_scan_packed, float, scanDecaySegments, true)

// ---- decode ----------------------------------------------------------------------------------

extern "C" __global__ void __launch_bounds__(DECODE_THREADS, DECODE_MIN_BLOCKS) la2_decode_f32(const DecodeParams p) { decodeImpl<float>(p); }
extern "C" __global__ void __launch_bounds__(DECODE_THREADS, DECODE_MIN_BLOCKS) la2_decode_bf16(const DecodeParams p) { decodeImpl<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(DECODE_THREADS, DECODE_MIN_BLOCKS) la2_decode_f16(const DecodeParams p) { decodeImpl<__half>(p); }

// Decode by pool slot (packed.cuh, LA2_DECODE_SLOTS): the step above on the slots' states.
LA2_DECODE_SLOTS(la2_decode_f32_slots, float)
LA2_DECODE_SLOTS(la2_decode_bf16_slots, __nv_bfloat16)
LA2_DECODE_SLOTS(la2_decode_f16_slots, __half)

extern "C" __global__ void la2_slot_copy(const SlotCopyParams p) { slotCopy(p); }
extern "C" __global__ void la2_zero_rows(const ZeroRowsParams p) { zeroRows(p); }

// ---- utilities -------------------------------------------------------------------------------

extern "C" __global__ void la2_random_f32(const RandomParams p) { randomImpl<float>(p); }
extern "C" __global__ void la2_random_bf16(const RandomParams p) { randomImpl<__nv_bfloat16>(p); }
extern "C" __global__ void la2_random_f16(const RandomParams p) { randomImpl<__half>(p); }

extern "C" __global__ void la2_widen_bf16(const ConvertParams p) { convertImpl<__nv_bfloat16, float>(p); }
extern "C" __global__ void la2_widen_f16(const ConvertParams p) { convertImpl<__half, float>(p); }
extern "C" __global__ void la2_narrow_bf16(const ConvertParams p) { convertImpl<float, __nv_bfloat16>(p); }
extern "C" __global__ void la2_narrow_f16(const ConvertParams p) { convertImpl<float, __half>(p); }
