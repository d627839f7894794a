// The Hopper sweep's entry points (la2_sweep_hopper_*, exported by la2_kernels.cu): one entry
// point's bodies, one per mode, and the macros that export them with their variant flags
// (sweep_hopper.cuh, namespace hopper).
#pragma once

#include "packed.cuh"
#include "sweep_hopper.cuh"

// One entry point's bodies, one per mode. Reversed passes on TMA (FLIP) have entry points of their
// own: inlined beside the forward-time bodies they would make ptxas spill.
template <typename T, bool EXACT, int V>
__device__ void sweepHopper(const SweepParams& p, const HopperMaps* maps) {
    if (p.mode != 1) sweepHopperMode<T, EXACT, false, false, V>(p, maps);
    else if (p.w) sweepHopperMode<T, EXACT, true, true, V>(p, maps);
    else sweepHopperMode<T, EXACT, true, false, V>(p, maps);
}

// Exported four times as the other tensor-core sweeps are (LA2_SWEEP_WIDE): the forward's (EXACT,
// with the non-finite re-sum), the backward's (_bwd) and both on a packed call's sequences
// (_packed, rebound in place: packed.cuh says why). Built only for sm_90a: on other targets the
// entry points exist (so one module lists every kernel) and trap; the planner picks them only on
// compute capability 9.0.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
#define LA2_HOPPER_BODY(T, EXACT, V, MAPS) sweepHopper<T, EXACT, V>(p, MAPS);
#else
#define LA2_HOPPER_BODY(T, EXACT, V, MAPS) __trap();
#endif
#define LA2_SWEEP_HOPPER(name, T) \
    extern "C" __global__ void __launch_bounds__(256, 1) name(const SweepParams p) { LA2_HOPPER_BODY(T, true, hopper::STAGED_OUT, nullptr) } \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd(const SweepParams p) { \
        LA2_HOPPER_BODY(T, false, hopper::STAGED_OUT, nullptr) \
    } \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_packed(SweepParams p, const PackedParams pk) { \
        if (rebindSweep<T>(p, pk, false)) { LA2_HOPPER_BODY(T, true, hopper::STAGED_OUT, nullptr) } \
    } \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd_packed(SweepParams p, const PackedParams pk) { \
        if (rebindSweep<T>(p, pk, false)) { LA2_HOPPER_BODY(T, false, hopper::STAGED_OUT, nullptr) } \
    }
// The same on chunks loaded by the tensor memory accelerator (TMA | STAGED_OUT), dense passes whose
// q, k and v the tensor maps after the SweepParams describe (TensorMaps.java encodes them on the
// host): the forward's (rev = 0, with AHEAD), the backward's in forward time (_bwd, rev = 0) and
// reversed (_bwd_rev, rev = 1, FLIP); each traps on the other direction. The backward's entry
// points leave AHEAD out: it made their passes slower.
#define LA2_SWEEP_HOPPER_TMA(name, T) \
    extern "C" __global__ void __launch_bounds__(256, 1) name(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_BODY(T, true, hopper::TMA | hopper::STAGED_OUT | hopper::AHEAD, &maps) \
    } \
    LA2_SWEEP_HOPPER_BWD_TMA(name, T, 0)
#define LA2_SWEEP_HOPPER_BWD_TMA(name, T, V) \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_BODY(T, false, hopper::TMA | hopper::STAGED_OUT | hopper::EARLY_W | (V), &maps) \
    } \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd_rev(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_BODY(T, false, hopper::TMA | hopper::STAGED_OUT | hopper::FLIP | hopper::EARLY_W | (V), &maps) \
    }
// The backward's TMA entry points with SPLIT products (name_bwd, name_bwd_rev): the dq and dv
// passes of a learnable decay's backward, whose sums the decay gradient takes (Backward.java).
#define LA2_SWEEP_HOPPER_SPLIT(name, T) LA2_SWEEP_HOPPER_BWD_TMA(name, T, hopper::SPLIT)
