// The fp32-FMA sweep (la2_sweep_f32, _bf16, _f16): every shape, Precision.STRICT, and whatever
// no tensor-core sweep covers. Operands are widened to fp32 in shared memory.
#pragma once

#include "common.cuh"
#include "params.cuh"
#include "sweep_common.cuh"

// Any Dk, Dv, chunk C and value tile ET; fp32 FMAs from shared memory (sharedBytes::fmaSweep).
// grid (BH, segments, value tiles), 256 threads.
template <typename T>
__device__ void sweepGeneric(const SweepParams& p) {
    extern __shared__ float smem[];
    const int Dk = (int) p.Dk, ET = (int) p.ET, C = (int) p.C;
    const int ldk = Dk + 1, lda = C + 1;
    float* Qs = smem;                 // [C][Dk+1]
    float* Ks = Qs + C * ldk;         // [C][Dk+1]
    float* Vs = Ks + C * ldk;         // [C][ET]
    float* As = Vs + C * ET;          // [C][C+1]
    float* Ss = As + C * lda;         // [Dk][ET]
    __shared__ double red[32];

    const i64 seq = blockIdx.x;
    const int seg = blockIdx.y;
    const int e0 = blockIdx.z * ET;
    const int et = min(ET, (int) p.Dv - e0);
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    const int tid = threadIdx.x, nt = blockDim.x;
    const i64 N = p.N;
    const i64 t0seg = (i64) seg * p.L;
    const i64 t1seg = min(N, t0seg + p.L);
    const T* q = (const T*) p.q + b * p.kB + h * p.kH;
    const T* k = (const T*) p.k + b * p.kB + h * p.kH;
    const T* v = (const T*) p.v + b * p.vB + h * p.vH;
    T* o = (T*) p.o + b * p.vB + h * p.vH;
    const T* w = p.w ? (const T*) p.w + b * p.vB + h * p.vH : nullptr;
    const i64 DkDv = p.Dk * p.Dv;
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    const bool full = p.mode == 1;

    // incoming state
    for (int i = tid; i < Dk * ET; i += nt) {
        int d = i / ET, e = i % ET;
        float x = 0.f;
        if (e < et && full) {
            if (seg == 0) {
                if (p.s0) x = p.s0[seq * DkDv + d * p.s0i + (e0 + e) * p.s0j];
            } else {
                x = p.scratch[(seq * (p.nseg - 1) + seg - 1) * DkDv + (i64) d * p.Dv + e0 + e];
            }
        }
        Ss[i] = x;
    }
    double dotAcc = 0.0;

    for (i64 t0 = t0seg; t0 < t1seg; t0 += C) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const float ofs = (t0 == 0) ? (float) p.ofs0 : 1.f;
        __syncthreads();
        for (int i = tid; i < C * Dk; i += nt) {
            int a = i / Dk, d = i % Dk;
            float xq = 0.f, xk = 0.f;
            if (a < cc) {
                i64 t = t0 + a;
                i64 tr = p.rev ? (N - 1 - t) : t;
                if (full) xq = ldf<T>(q, tr * p.kT + d);
                xk = ldf<T>(k, tr * p.kT + d);
            }
            Qs[a * ldk + d] = xq;
            Ks[a * ldk + d] = xk;
        }
        for (int i = tid; i < C * ET; i += nt) {
            int a = i / ET, e = i % ET;
            float xv = 0.f;
            if (a < cc && e < et) {
                i64 t = t0 + a;
                i64 tr = p.rev ? (N - 1 - t) : t;
                xv = ldf<T>(v, tr * p.vT + e0 + e);
            }
            Vs[i] = xv;
        }
        __syncthreads();
        if (full) {
            for (int i = tid; i < C * C; i += nt) {
                int a = i / C, bb = i % C;
                float x = 0.f;
                if (bb <= a && a < cc) {
                    float dot = 0.f;
                    for (int d = 0; d < Dk; d++) dot = fmaf(Qs[a * ldk + d], Ks[bb * ldk + d], dot);
                    x = alpha * lpow(s, (float) (a - bb)) * dot;
                }
                As[a * lda + bb] = x;
            }
            __syncthreads();
            for (int i = tid; i < C * ET; i += nt) {
                int a = i / ET, e = i % ET;
                if (a >= cc || e >= et) continue;
                float intra = 0.f;
                for (int bb = 0; bb <= a; bb++) intra = fmaf(As[a * lda + bb], Vs[bb * ET + e], intra);
                float inter = 0.f;
                for (int d = 0; d < Dk; d++) inter = fmaf(Qs[a * ldk + d], Ss[d * ET + e], inter);
                float val = intra + beta * lpow(s, a + ofs) * inter;
                i64 t = t0 + a;
                i64 tr = p.rev ? (N - 1 - t) : t;
                if (p.writeOut) stf<T>(o, tr * p.vT + e0 + e, val);
                if (w) dotAcc += (double) tr * (double) (val * ldf<T>(w, tr * p.vT + e0 + e));
            }
            __syncthreads();
        }
        // state update: R = lambda^(cc-1+ofs) R + kappa * sum_b lambda^(cc-1-b) k_b^T v_b
        const float carry = lpow(s, cc - 1 + ofs);
        for (int i = tid; i < Dk * ET; i += nt) {
            int d = i / ET, e = i % ET;
            float x = 0.f;
            for (int bb = 0; bb < cc; bb++) x = fmaf(Ks[bb * ldk + d] * lpow(s, (float) (cc - 1 - bb)), Vs[bb * ET + e], x);
            Ss[i] = carry * Ss[i] + kappa * x;
        }
    }
    __syncthreads();
    if (full) {
        if (p.w) addBlockDot(p, seq, dotAcc, red);
        if (p.sfinal && seg == p.nseg - 1) {
            float f = lpow(s, (float) p.finalPow);
            for (int i = tid; i < Dk * ET; i += nt) {
                int d = i / ET, e = i % ET;
                if (e < et) p.sfinal[seq * DkDv + d * p.fi + (e0 + e) * p.fj] = f * Ss[i];
            }
        }
    } else {
        for (int i = tid; i < Dk * ET; i += nt) {
            int d = i / ET, e = i % ET;
            if (e < et) p.scratch[(seq * (p.nseg - 1) + seg) * DkDv + (i64) d * p.Dv + e0 + e] = Ss[i];
        }
    }
}
