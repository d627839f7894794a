// Pieces the sweeps share: the decay-gradient dot product's accumulation, asynchronous chunk
// loads into shared memory, and the tensor-core sweeps' exact handling of non-finite values.
#pragma once

#include "common.cuh"
#include "params.cuh"

// acc[seq] += the block's sum of the per-thread partials (the decay-gradient dot products)
__device__ __forceinline__ void addBlockDot(const SweepParams& p, i64 seq, double x, double* red) {
    const double total = blockSum(x, red);
    if (threadIdx.x == 0) atomicAdd(&p.acc[seq], total);
}

__device__ __forceinline__ void cpAsync16(void* smemDst, const void* src, bool valid) {
    const unsigned dst = (unsigned) __cvta_generic_to_shared(smemDst);
    const int n = valid ? 16 : 0;  // 0 bytes read: the 16 bytes are zero-filled
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(dst), "l"(src), "r"(n));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cpAsyncWaitAll() { asm volatile("cp.async.wait_group 0;\n" ::); }

// Streams one chunk (rows c0 .. c0+n-1 of q, k, v; zeros past the end) into shared memory; a null
// destination is not loaded. The thread count is a template argument so the copy loops unroll and
// their index arithmetic folds.
template <typename T, int DK, int C, int ET, int LDK, int LDV, int THREADS>
__device__ __forceinline__ void issueChunk(const SweepParams& p, const T* q, const T* k, const T* v, bool full,
                                          i64 c0, i64 t1seg, T* Qd, T* Kd, T* Vd) {
    constexpr int EPV = 16 / sizeof(T);
    constexpr int VK = DK / EPV, VV = ET / EPV;
    const int n = (int) min((i64) C, t1seg - c0);
    const i64 N = p.N;
#pragma unroll
    for (int i = 0; i < (C * VK + THREADS - 1) / THREADS; i++) {
        const int x = threadIdx.x + i * THREADS;
        if (C * VK % THREADS != 0 && x >= C * VK) break;
        const int a = x / VK, c8 = (x % VK) * EPV;
        const bool ok = a < n;
        const i64 t = c0 + (ok ? a : 0), tr = p.rev ? (N - 1 - t) : t;
        if (full && Qd) cpAsync16(Qd + a * LDK + c8, q + tr * p.kT + c8, ok);
        if (Kd) cpAsync16(Kd + a * LDK + c8, k + tr * p.kT + c8, ok);
    }
#pragma unroll
    for (int i = 0; i < (C * VV + THREADS - 1) / THREADS && Vd; i++) {
        const int x = threadIdx.x + i * THREADS;
        if (C * VV % THREADS != 0 && x >= C * VV) break;
        const int a = x / VV, c8 = (x % VV) * EPV;
        const bool ok = a < n;
        const i64 t = c0 + (ok ? a : 0), tr = p.rev ? (N - 1 - t) : t;
        cpAsync16(Vd + a * LDV + c8, v + tr * p.vT + c8, ok);
    }
    cpAsyncCommit();
}

// The masked half of a diagonal score tile is zero, but a tensor-core product cannot skip it, and
// 0 * NaN is NaN: a NaN or infinity in the value row of a later token would reach every earlier
// query of its 16-row fragment. An element of A V that comes out non-finite is therefore summed
// again over the tokens j <= a alone, so a non-finite input reaches exactly the outputs the
// reference gives it (SPEC.md section 3; the conformance kit's non-finite check). Finite elements,
// the only kind without such inputs, never take this path. Only the forward's sweeps (EXACT) carry
// it: the call weighs on their register allocation, and SPEC.md asks it of outputs, not of
// gradients, which the backward's sweeps compute. It is a call, not inlined, for the same reason.
template <typename T, int LDA, int LDV>
__device__ __noinline__ float causalSum(const T* Ab, const T* Vs, int a, int c) {
    float sum = 0.f;
    for (int j = 0; j <= a; j++) sum = fmaf(toF<T>(Ab[a * LDA + j]), toF<T>(Vs[j * LDV + c]), sum);
    return sum;
}

// la2_scan, between a sweep's modes 0 and 1: chains segment states in place, slot g (the local
// state of segment g) becoming the incoming state of segment g+1. grid (BH, ceil(Dk*Dv/256)),
// 256 threads.
__device__ __forceinline__ void scanSegments(const SweepParams& p) {
    const i64 seq = blockIdx.x;
    const i64 DkDv = p.Dk * p.Dv;
    const i64 idx = (i64) blockIdx.y * blockDim.x + threadIdx.x;
    if (idx >= DkDv) return;
    const i64 i = idx / p.Dv, j = idx % p.Dv;
    const float s = p.decay[seq % p.H];
    float S = p.s0 ? p.s0[seq * DkDv + i * p.s0i + j * p.s0j] : 0.f;
    for (i64 g = 0; g + 1 < p.nseg; g++) {
        i64 at = (seq * (p.nseg - 1) + g) * DkDv + idx;
        float pw = g == 0 ? (float) (p.L - 1 + p.ofs0) : (float) p.L;
        S = lpow(s, pw) * S + p.scratch[at];
        p.scratch[at] = S;
    }
}
