// The state band: one warp's share of a sweep's state, kept in registers by the tensor-core sweeps.
#pragma once

#include "common.cuh"
#include "params.cuh"

// One warp's band of a Dk x (value tile) state, fp32 in mma accumulator layout: element (j, r) is
// row r0 + g + 8 (r / 2), column c0 + 8j + q2 + r % 2 of the tile, whose first column is column e0
// of the whole state. sweepMma and sweepWide share it: the incoming state, the per-chunk update,
// the 16-bit (or fp32) copy that q S reads, and the end state (final state or segment scratch).
template <typename T, typename M, int NB8>
struct StateBand {
    float st[NB8][4];
    const int r0, c0, e0;

    __device__ __forceinline__ StateBand(int r0_, int c0_, int e0_) : r0(r0_), c0(c0_), e0(e0_) {}

    __device__ __forceinline__ static int g() { return (threadIdx.x & 31) >> 2; }
    __device__ __forceinline__ static int q2() { return (threadIdx.x & 3) * 2; }
    __device__ __forceinline__ int row(int r) const { return r0 + g() + (r >> 1) * 8; }
    __device__ __forceinline__ int col(int j, int r) const { return e0 + c0 + j * 8 + q2() + (r & 1); }

    // mode 1 starts from s0 (first segment) or the chained scratch state; mode 0 from zero. A
    // state that starts from zero branches past the 64 predicated loads (the dq pass's state
    // warpgroup, which runs this code alone, started its walk 12 us sooner on an H100).
    __device__ __forceinline__ void load(const SweepParams& p, i64 seq, int seg, bool full) {
        const float* src = !full ? nullptr : seg == 0 ? p.s0 : p.scratch + (seq * (p.nseg - 1) + seg - 1) * p.Dk * p.Dv;
        const i64 di = seg == 0 ? p.s0i : p.Dv, dj = seg == 0 ? p.s0j : 1;
        if (src == nullptr) {
#pragma unroll
            for (int j = 0; j < NB8; j++)
#pragma unroll
                for (int r = 0; r < 4; r++) st[j][r] = 0.f;
            return;
        }
        if (seg == 0) src += seq * p.Dk * p.Dv;
#pragma unroll
        for (int j = 0; j < NB8; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) st[j][r] = src[(i64) row(r) * di + (i64) col(j, r) * dj];
    }

    __device__ __forceinline__ void copyTo(T* Sb, int lds) const {
#pragma unroll
        for (int j = 0; j < NB8; j++) {
            M::store2(Sb + (r0 + g()) * lds + c0 + j * 8 + q2(), st[j][0], st[j][1]);
            M::store2(Sb + (r0 + g() + 8) * lds + c0 + j * 8 + q2(), st[j][2], st[j][3]);
        }
    }

    // R <- carry R + (diag(wk) K)^T V over one chunk of C tokens (k rows weighted in registers)
    template <int C>
    __device__ __forceinline__ void update(const T* Ks, int ldk, const T* Vs, int ldv, const float* wk, float carry,
                                           bool products = true) {
#pragma unroll
        for (int j = 0; j < NB8; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) st[j][r] *= carry;
#pragma unroll
        for (int kb = 0; kb < C / 16 && products; kb++) {
            typename M::A a;
            typename M::B bv;
            M::loadAtScaled(a, Ks + kb * 16 * ldk + r0, ldk, wk + kb * 16);
#pragma unroll
            for (int j2 = 0; j2 < NB8 / 2; j2++) {
                M::loadBkn(bv, Vs + kb * 16 * ldv + c0 + j2 * 16, ldv);
                M::mma(st[2 * j2], st[2 * j2 + 1], a, bv);
            }
        }
    }

    // mode 1: lambda^finalPow R into sfinal (last segment, when asked); mode 0: R into the scratch
    __device__ __forceinline__ void store(const SweepParams& p, i64 seq, int seg, bool full, float s) const {
        const i64 DkDv = p.Dk * p.Dv;
        float* dst = nullptr;
        i64 di = p.Dv, dj = 1;
        float f = 1.f;
        if (!full) {
            dst = p.scratch + (seq * (p.nseg - 1) + seg) * DkDv;
        } else if (p.sfinal && seg == p.nseg - 1) {
            dst = p.sfinal + seq * DkDv;
            di = p.fi;
            dj = p.fj;
            f = lpow(s, (float) p.finalPow);
        }
        if (!dst) return;
        if (dj == 1 && di % 2 == 0) {
            // row-major: column pairs as 8-byte stores
#pragma unroll
            for (int j = 0; j < NB8; j++)
#pragma unroll
                for (int r = 0; r < 4; r += 2)
                    *(float2*) (dst + (i64) row(r) * di + col(j, r)) = make_float2(f * st[j][r], f * st[j][r + 1]);
            return;
        }
#pragma unroll
        for (int j = 0; j < NB8; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) dst[(i64) row(r) * di + (i64) col(j, r) * dj] = f * st[j][r];
    }
};