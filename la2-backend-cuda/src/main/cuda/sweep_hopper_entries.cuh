// The Hopper sweep's entry points (la2_sweep_hopper_*, exported by la2_kernels.cu): one entry
// point's bodies, one per mode, and the macros that export them with their variant flags
// (sweep_hopper.cuh, namespace hopper).
#pragma once

#include "packed.cuh"
#include "smem.cuh"
#include "sweep_generic.cuh"
#include "sweep_hopper.cuh"
#include "sweep_hopper_roles.cuh"

// A segment of the forward again, on the fp32 FMA sweep (sweep_generic.cuh), after the Hopper sweep
// met a non-finite output in it: a tensor-core product cannot skip the masked half of a diagonal
// score tile, and 0 * NaN is NaN, so a non-finite value could have reached earlier tokens; the FMA
// sweep sums only the tokens j <= a. Its outputs and final state replace the segment's (the first
// sweep stored no state). A call of its own, without warpgroup products: ptxas then neither
// allocates its registers beside the Hopper sweep's nor serialises the Hopper sweep's products
// (it does when a called function issues them). The Hopper sweep's shared memory holds the FMA
// sweep's (sharedBytes::fmaSweep) below its barriers.
template <typename T>
__device__ __noinline__ void sweepHopperAgain(SweepParams p) {
    static_assert(sharedBytes::fmaSweep(hopper::D, hopper::D, hopper::C) <= hopper::TABLE, "the FMA sweep's buffers in the Hopper sweep's");
    p.ET = hopper::D;
    p.C = hopper::C;
    sweepGeneric<T>(p);
}

// One entry point's bodies, one per mode. Reversed passes on TMA (FLIP) have entry points of their
// own: inlined beside the forward-time bodies they would make ptxas spill. EXACT: a segment whose
// sweep met a non-finite output runs again on sweepHopperAgain.
template <typename T, bool EXACT, int V>
__device__ void sweepHopper(const SweepParams& p, const HopperMaps* maps) {
    constexpr bool roles = (V & hopper::ROLES) != 0;
    static_assert(!roles || ((V & hopper::TMA) != 0 && (V & (hopper::FLIP | hopper::SPLIT)) == 0), "ROLES: TMA, forward time, no SPLIT");
    if (p.mode != 1) {
        sweepHopperMode<T, EXACT, false, false, V>(p, maps);
    } else if (p.w) {
        sweepHopperMode<T, EXACT, true, true, V>(p, maps);
    } else {
        bool again;
        if constexpr (roles) again = sweepHopperRoles<T, EXACT, (V & hopper::AHEAD) != 0>(p, maps);
        else again = sweepHopperMode<T, EXACT, true, false, V>(p, maps);
        if constexpr (EXACT) {
            if (again) {
                __syncthreads();
                sweepHopperAgain<T>(p);
            }
        }
    }
}

// Exported four times as the other tensor-core sweeps are (LA2_SWEEP_WIDE): the forward's (EXACT,
// non-finite outputs exact), the backward's (_bwd) and both on a packed call's sequences
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
// host): the forward's (rev = 0, with AHEAD), the backward's in forward time (_bwd, rev = 0, with
// ROLES: the dq pass) and reversed (_bwd_rev, rev = 1, FLIP); each traps on the other direction.
// The backward's entry points leave AHEAD out: it made their passes slower. VF: flags of the
// forward-time entry point alone.
#define LA2_SWEEP_HOPPER_TMA(name, T) \
    extern "C" __global__ void __launch_bounds__(256, 1) name(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_BODY(T, true, hopper::TMA | hopper::STAGED_OUT | hopper::AHEAD, &maps) \
    } \
    LA2_SWEEP_HOPPER_BWD_TMA(name, T, 0, hopper::ROLES)
#define LA2_SWEEP_HOPPER_BWD_TMA(name, T, V, VF) \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_BODY(T, false, hopper::TMA | hopper::STAGED_OUT | hopper::EARLY_W | (V) | (VF), &maps) \
    } \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd_rev(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_BODY(T, false, hopper::TMA | hopper::STAGED_OUT | hopper::FLIP | hopper::EARLY_W | (V), &maps) \
    }
// The backward's TMA entry points with SPLIT products (name_bwd, name_bwd_rev): the dq and dv
// passes of a learnable decay's backward, whose sums the decay gradient takes (Backward.java).
#define LA2_SWEEP_HOPPER_SPLIT(name, T) LA2_SWEEP_HOPPER_BWD_TMA(name, T, hopper::SPLIT, 0)
