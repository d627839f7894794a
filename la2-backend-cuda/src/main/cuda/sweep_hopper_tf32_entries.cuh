// The Hopper TF32 sweep's blocks and entry points (the roles are sweep_hopper_tf32.cuh's): one pass
// a launch, and the backward's dq, dv and dk passes chained in one launch.
#pragma once

#include "sweep_hopper_tf32.cuh"

namespace hopperTf32 {
// The tables of pass p (lambda^m, the masked decay factors), by threads tid of n.
__device__ __forceinline__ void setTables(const Walk& w, const SweepParams& p, int tid, int n) {
    float* pw = (float*) (w.sm + PW);
    for (int m = tid; m < C + 2; m += n) pw[m] = lpow(w.sg.s, (float) m);
    hopper::maskTable((float*) (w.sm + MASKS), w.sg.s, (float) p.alpha, tid, n);
}

// The block's first walk, over pass p: the shared memory's base, the segment, the tables and the
// barriers, initialised and visible to the block (and to TMA) on return.
__device__ __forceinline__ Walk firstWalk(const SweepParams& p) {
    extern __shared__ __align__(128) unsigned char smraw[];
    Walk w;
    w.sm = hopper::alignedBase(smraw);
    w.sg = hopper::blockSegment(p);
    w.landed = smemAddr(w.sm + BARS);
    w.converted = w.landed + 3 * 8;
    w.freed = w.converted + 2 * 8;
    const int tid = threadIdx.x;
    setTables(w, p, tid, THREADS);
    if (tid == 0) {
        for (int x = 0; x < 3; x++) mbarInit(w.landed + 8 * x, 1);
        for (int x = 0; x < 2; x++) {
            mbarInit(w.converted + 8 * x, (THREADS - MATH) / 32);
            mbarInit(w.freed + 8 * x, MATH / 32);
        }
    }
    fenceProxyAsync();
    __syncthreads();
    return w;
}

// The walk of pass p after walk `before` in one block (a chain): the same shared memory and
// barriers, its first chunk loaded by `before`.
__device__ __forceinline__ Walk chainedWalk(const Walk& before, const SweepParams& p) {
    Walk w = before;
    w.sg = hopper::blockSegment(p);
    w.base = before.base + (int) ((before.sg.t1 - before.sg.t0 + C - 1) / C);
    w.ahead = true;
    w.next = NextWalk{};
    return w;
}
}  // namespace hopperTf32

// FULL = mode 1 (outputs), else mode 0 (the state alone); EXACT (the forward, mode 1): returns true,
// to every thread and without storing the state, where an output of the segment came out non-finite.
template <bool FULL, bool EXACT, bool FLIP>
__device__ bool sweepHopperTf32Mode(const SweepParams& p, const HopperMaps* maps) {
    using namespace hopperTf32;
    static_assert(!(EXACT && FLIP), "the forward walks forward in time");
    if (p.rev != (FLIP ? 1 : 0) || p.w || p.Dk != D || p.Dv != D) __trap();
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    LA2_MARK(LA2_MARK_ENTRY);
    const Walk w = firstWalk(p);
    // the multiplying branch first: with the converting one first, ptxas (13.0) held the
    // multiplying code to the launch's 168 registers and spilled 136-196 bytes a thread
    bool again = false;
    if (tid < MATH) {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(MATH_REGS));
        again = multiplyWalk<FULL, EXACT, FLIP>(p, w, warp, lane);
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(LAUNCH_REGS));
    } else {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(CONVERT_REGS));
        convertWalk<FULL, FLIP>(p, maps, w, warp, lane);
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(LAUNCH_REGS));
    }
    LA2_MARK(LA2_MARK_EXIT);
    if constexpr (EXACT) return __syncthreads_or(again);
    return false;
}

// The backward's dq pass (p0, forward in time), dv and dk passes (p1, p2, reversed) of one sequence
// segment, walked one after the other by one block: the converting warpgroup loads and converts a
// walk's first chunk while the multiplying warpgroups finish the walk before, so the block waits
// for a first chunk once, not three times, and the launches between the passes go. The walks
// share the ring and the barriers, whose stages and phases count on; between two walks the
// multiplying warpgroups meet (the state copy and the tables are then free) and set the next
// walk's tables. FULL: mode 1 (outputs, each segment from its incoming state), else mode 0 (each
// pass's segment-local end states, for its scan); every output is the pass's own, bit for bit.
template <bool FULL>
__device__ void sweepHopperTf32Chain(const SweepParams& p0, const SweepParams& p1, const SweepParams& p2, const HopperMaps* m0,
                                     const HopperMaps* m1, const HopperMaps* m2) {
    using namespace hopperTf32;
    // the walks cover the same segment of passes as long
    auto apart = [&](const SweepParams& p, int rev) {
        return p.mode != p0.mode || p.rev != rev || p.w || p.Dk != D || p.Dv != D || p.N != p0.N || p.H != p0.H || p.L != p0.L;
    };
    if (apart(p0, 0) || apart(p1, 1) || apart(p2, 1)) __trap();
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    LA2_MARK(LA2_MARK_ENTRY);
    const Walk w0 = firstWalk(p0);
    if (tid < MATH) {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(MATH_REGS));
        multiplyWalk<FULL, false, false>(p0, w0, warp, lane);
        const Walk w1 = chainedWalk(w0, p1);
        namedSync(MATH_BAR, MATH);
        setTables(w1, p1, tid, MATH);
        multiplyWalk<FULL, false, true>(p1, w1, warp, lane);
        const Walk w2 = chainedWalk(w1, p2);
        namedSync(MATH_BAR, MATH);
        setTables(w2, p2, tid, MATH);
        multiplyWalk<FULL, false, true>(p2, w2, warp, lane);
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(LAUNCH_REGS));
    } else {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(CONVERT_REGS));
        Walk w = w0;
        w.next = NextWalk{m1, true};
        convertWalk<FULL, false>(p0, m0, w, warp, lane);
        w = chainedWalk(w, p1);
        w.next = NextWalk{m2, true};
        convertWalk<FULL, true>(p1, m1, w, warp, lane);
        w = chainedWalk(w, p2);
        convertWalk<FULL, true>(p2, m2, w, warp, lane);
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(LAUNCH_REGS));
    }
    LA2_MARK(LA2_MARK_EXIT);
}

// A forward segment again on the fp32 FMA sweep (sweep_generic.cuh) after a non-finite output: the
// tensor-core products cannot skip the masked half of a diagonal tile (0 * NaN is NaN); the FMA
// sweep sums only the tokens j <= a. Its buffers fit below the converted ring.
__device__ __noinline__ void sweepHopperTf32Again(SweepParams p) {
    static_assert(sharedBytes::fmaSweep(hopperTf32::D, hopperTf32::D, hopperTf32::C) <= hopperTf32::TAB, "the FMA sweep's buffers in the Hopper TF32 sweep's");
    p.ET = hopperTf32::D;
    p.C = hopperTf32::C;
    sweepGeneric<float>(p);
}

// The entry points (grid (sequences, segments), 384 threads, hopperTf32::SMEM bytes of dynamic shared
// memory; the tensor maps of fp32 q, k, v after the SweepParams, boxes of 32 columns x 64 tokens):
// the forward's (rev = 0, the exact re-sum), the backward's in forward time (_bwd, rev = 0) and
// reversed (_bwd_rev, rev = 1), and the backward's chain (_bwd_chain: the dq, dv and dk passes'
// SweepParams, then their maps). Built only for sm_90a, as the 16-bit Hopper sweep's are. Each
// backward entry holds both modes: ptxas (13.0) compiles a kernel holding only the mode 1 walk
// with two warpgroup waits injected into its loop (C7517), which would serialise the next chunk's
// scores with the state copy.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
#define LA2_HOPPER_TF32_BODY(...) __VA_ARGS__
#else
#define LA2_HOPPER_TF32_BODY(...) __trap();
#endif
#define LA2_SWEEP_HOPPER_TF32(name) \
    extern "C" __global__ void __launch_bounds__(hopperTf32::THREADS, 1) name(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_TF32_BODY(if (p.mode != 1) { \
            sweepHopperTf32Mode<false, false, false>(p, &maps); \
        } else if (sweepHopperTf32Mode<true, true, false>(p, &maps)) { \
            __syncthreads(); \
            sweepHopperTf32Again(p); \
        }) \
    } \
    extern "C" __global__ void __launch_bounds__(hopperTf32::THREADS, 1) name##_bwd(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_TF32_BODY(if (p.mode == 1) sweepHopperTf32Mode<true, false, false>(p, &maps); \
                             else sweepHopperTf32Mode<false, false, false>(p, &maps);) \
    } \
    extern "C" __global__ void __launch_bounds__(hopperTf32::THREADS, 1) name##_bwd_rev(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_TF32_BODY(if (p.mode == 1) sweepHopperTf32Mode<true, false, true>(p, &maps); \
                             else sweepHopperTf32Mode<false, false, true>(p, &maps);) \
    } \
    extern "C" __global__ void __launch_bounds__(hopperTf32::THREADS, 1) name##_bwd_chain( \
        const SweepParams p0, const SweepParams p1, const SweepParams p2, const __grid_constant__ HopperMaps m0, \
        const __grid_constant__ HopperMaps m1, const __grid_constant__ HopperMaps m2) { \
        LA2_HOPPER_TF32_BODY(if (p0.mode == 1) sweepHopperTf32Chain<true>(p0, p1, p2, &m0, &m1, &m2); \
                             else sweepHopperTf32Chain<false>(p0, p1, p2, &m0, &m1, &m2);) \
    }
