// One decode step (la2_decode_*): one new token per sequence, on a state kept in device memory.
#pragma once

#include "common.cuh"
#include "params.cuh"
#include "smem.cuh"

// A step reads and writes the fp32 state once and does two FMAs per element, so it is bound by
// memory: what matters is wide accesses, many of them in flight, and enough blocks for a handful
// of sequences to still fill the device.
//
// Tiling (DecodeConfig C): block b owns value columns [e0, e0 + C::SLICE) of sequence-head seq
// (b = seq * slices + slice, slices = ceil(E / C::SLICE)), all D rows, with C::THREADS threads.
// Consecutive blocks walk one state's slices, so the blocks in flight read neighbouring memory.
// A thread owns VW adjacent columns (VW = 4: float4 accesses when E % 4 == 0 and the state is
// 16-byte aligned; VW = 1 otherwise) and every RG-th row, RG = C::THREADS * VW / C::SLICE, loading
// C::AHEAD4 rows (VW = 4) or 8 (VW = 1) before using any. The state is touched once per step:
// streaming loads and stores (evict-first, C::STREAM) keep it from pushing other data out of L2.
//
// Arithmetic (SPEC.md section 1, the decode step): per element S_new[d][e] = fmaf(lambda,
// S[d][e], k_d v_e); o_e = scale * sum_d q_d S_new[d][e] in fp32 in a fixed order: each thread
// over its rows in increasing d, then the threads sharing a column by a shuffle tree within the
// warp, then the warps in order. The same inputs give the same bits.
//
// q, k [BH][D], v, o [BH][E], state [BH][D][E]; grid (BH * slices), C::THREADS threads, shared
// memory: q and k in fp32, then one partial sum per warp and column (sharedBytes::decode(D) for
// the entry points' configuration, DecodeEntry).
template <int THREADS_, int SLICE_, int AHEAD4_, bool STREAM_>
struct DecodeConfig {
    static constexpr int THREADS = THREADS_, SLICE = SLICE_, WARPS = THREADS_ / 32;
    static constexpr int AHEAD4 = AHEAD4_;  // float4 rows in flight per thread (scalar rows: 8)
    static constexpr bool STREAM = STREAM_;
};

// The entry points' configuration, mirrored by DecodeGrid.java (DecodeGridTest).
constexpr int DECODE_THREADS = 256;
constexpr int DECODE_SLICE = 32;
using DecodeEntry = DecodeConfig<DECODE_THREADS, DECODE_SLICE, 4, true>;
// Blocks per multiprocessor the entry points ask registers for (__launch_bounds__): the most that
// keep the float4 path free of spills, each block's loads adding to the bytes in flight.
constexpr int DECODE_MIN_BLOCKS = 5;

// The sequence-head and first value column of this block.
struct DecodeTile {
    i64 seq, e0;
};

// 32-bit division: the grid's x is below 2^31 blocks.
template <class C = DecodeEntry>
__device__ __forceinline__ DecodeTile decodeTile(const DecodeParams& p) {
    const u32 slices = (u32) ((p.E + C::SLICE - 1) / C::SLICE);
    return {(i64) (blockIdx.x / slices), (i64) (blockIdx.x % slices) * C::SLICE};
}

// VW adjacent fp32 state values, moved with one access (float4 for VW = 4).
template <int VW, bool STREAM>
struct StateCols {
    float x[VW];
    __device__ __forceinline__ void load(const float* a) {
        if constexpr (VW == 4) {
            const float4 t = STREAM ? __ldcs((const float4*) a) : *(const float4*) a;
            x[0] = t.x, x[1] = t.y, x[2] = t.z, x[3] = t.w;
        } else {
            x[0] = STREAM ? __ldcs(a) : *a;
        }
    }
    __device__ __forceinline__ void store(float* a) const {
        if constexpr (VW == 4) {
            const float4 t = make_float4(x[0], x[1], x[2], x[3]);
            if (STREAM) {
                __stcs((float4*) a, t);
            } else {
                *(float4*) a = t;
            }
        } else if (STREAM) {
            __stcs(a, x[0]);
        } else {
            *a = x[0];
        }
    }
};

template <typename T, int VW, class C>
__device__ __forceinline__ void decodeTileImpl(const DecodeParams& p, const DecodeTile t) {
    constexpr int CG = C::SLICE / VW;               // threads along a row of the slice
    constexpr int RG = C::THREADS / CG;             // row groups
    constexpr int AHEAD = VW == 4 ? C::AHEAD4 : 8;  // rows loaded before any is used
    static_assert(CG <= 32 && 32 % CG == 0, "a warp covers whole rows of the slice");
    extern __shared__ float sm[];
    float* qs = sm;
    float* ks = sm + p.D;
    float* part = ks + p.D;  // [C::WARPS][C::SLICE]
    const int tid = threadIdx.x, cg = tid % CG, ty = tid / CG;
    const i64 D = p.D, E = p.E, seq = t.seq;
    const i64 e = t.e0 + (i64) cg * VW;             // this thread's first column
    const bool live = e < E;                        // all VW columns or none (VW = 4 needs E % 4 == 0)
    float* base = p.state + seq * D * E + e;
    StateCols<VW, C::STREAM> x[AHEAD];
    // the first rows' loads go out before q and k are staged: one memory round trip, not two
#pragma unroll
    for (int r = 0; r < AHEAD; r++) {
        const i64 d = ty + (i64) r * RG;
        if (live && d < D) x[r].load(base + d * E);
    }
    for (i64 d = tid; d < D; d += C::THREADS) {
        qs[d] = ldf<T>((const T*) p.q, seq * D + d);
        ks[d] = ldf<T>((const T*) p.k, seq * D + d);
    }
    const float lam = expf(-p.decay[(u32) seq % (u32) p.H]);
    float ve[VW], acc[VW];
#pragma unroll
    for (int c = 0; c < VW; c++) {
        ve[c] = live ? ldf<T>((const T*) p.v, seq * E + e + c) : 0.f;
        acc[c] = 0.f;
    }
    __syncthreads();
    for (i64 d0 = ty;; d0 += (i64) AHEAD * RG) {
#pragma unroll
        for (int r = 0; r < AHEAD; r++) {
            const i64 d = d0 + (i64) r * RG;
            if (!live || d >= D) continue;
#pragma unroll
            for (int c = 0; c < VW; c++) {
                x[r].x[c] = fmaf(lam, x[r].x[c], ks[d] * ve[c]);
                acc[c] = fmaf(qs[d], x[r].x[c], acc[c]);
            }
            x[r].store(base + d * E);
        }
        const i64 next = d0 + (i64) AHEAD * RG;
        if (next >= D) break;
#pragma unroll
        for (int r = 0; r < AHEAD; r++) {
            const i64 d = next + (i64) r * RG;
            if (live && d < D) x[r].load(base + d * E);
        }
    }
    // rows of one warp sharing a column: lanes l, l + CG, l + 2 CG, ... meet in lane l < CG
#pragma unroll
    for (int c = 0; c < VW; c++) {
#pragma unroll
        for (int off = 16; off >= CG; off >>= 1) acc[c] += __shfl_down_sync(0xffffffffu, acc[c], off);
    }
    const int warp = tid / 32, lane = tid % 32;
    if (lane < CG) {
#pragma unroll
        for (int c = 0; c < VW; c++) part[warp * C::SLICE + lane * VW + c] = acc[c];
    }
    __syncthreads();
    if (tid < C::SLICE && t.e0 + tid < E) {
        float sum = 0.f;
#pragma unroll
        for (int w = 0; w < C::WARPS; w++) sum += part[w * C::SLICE + tid];
        stf<T>((T*) p.o, seq * E + t.e0 + tid, (float) p.scale * sum);
    }
}

// The step on block b's tile: float4 columns where the state's rows allow them, scalar otherwise
// (the choice is uniform over the grid).
template <typename T, class C = DecodeEntry>
__device__ void decodeImpl(const DecodeParams& p) {
    const DecodeTile t = decodeTile<C>(p);
    if (p.E % 4 == 0 && ((uintptr_t) p.state & 15) == 0) {
        decodeTileImpl<T, 4, C>(p, t);
    } else {
        decodeTileImpl<T, 1, C>(p, t);
    }
}

// Padding (decode by slot, slot -1): this block's slice of the output row is zero.
template <typename T>
__device__ __forceinline__ void decodeZeroRow(const DecodeParams& p) {
    const DecodeTile t = decodeTile(p);
    if (threadIdx.x < DECODE_SLICE && t.e0 + threadIdx.x < p.E) stf<T>((T*) p.o, t.seq * p.E + t.e0 + threadIdx.x, 0.f);
}

static_assert(sharedBytes::decode(0) == 4 * DecodeEntry::WARPS * DecodeEntry::SLICE, "smem.cuh's decode layout");
