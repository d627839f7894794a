// The decay gradient's kernels (SPEC.md section 2), for the two routes Backward.java takes: the
// identity's sums combined (decayGradFromSums) or a sweep carrying T = -dS/ds (decaySweep).
#pragma once

#include "common.cuh"
#include "params.cuh"

// la2_decay_grad, the identity's route (16-bit storage and TF32, Backward.java):
// dDecay[h] = sum_b [ accV[b,h] - accO[b,h] - <dS0, S0> - (N-1) <dSf, Sfinal> ]. grid H, 256 threads.
// la2_decay_grad_packed: b runs over the sequences of a packed call, N being each one's length
// from `ranges` (PackedParams).
template <bool PACKED>
__device__ __forceinline__ void decayGradFromSums(const DecayGradParams& p, const i64* ranges) {
    __shared__ double red[32];
    const i64 h = blockIdx.x;
    double part = 0.0;
    for (i64 b = 0; b < p.B; b++) {
        const i64 seq = b * p.H + h;
        if (p.s0) {
            for (i64 i = threadIdx.x; i < p.DkDv; i += blockDim.x) part -= (double) p.dS0[seq * p.DkDv + i] * p.s0[seq * p.DkDv + i];
        }
        if (p.dSf) {
            const i64 n = PACKED ? ranges[2 * b + 1] - ranges[2 * b] : p.N;
            for (i64 i = threadIdx.x; i < p.DkDv; i += blockDim.x) part -= (double) (n - 1) * p.dSf[seq * p.DkDv + i] * p.sfin[seq * p.DkDv + i];
        }
    }
    double total = blockSum(part, red);
    if (threadIdx.x == 0) {
        for (i64 b = 0; b < p.B; b++) {
            const i64 seq = b * p.H + h;
            total += p.accV[seq] - p.accO[seq];
        }
        p.dDecay[h] = (float) total;
    }
}

// The decay gradient where fp32 is promised (STRICT, TF32X3), from T = -dS/ds, which obeys
// T_t = lambda (S_{t-1} + T_{t-1}) with T_{-1} = 0:
//
//   ds = -( c sum_t q_t T_t dO_t^T + <dS_final, T_{N-1}> )
//
// Per chunk of l tokens (local a, b) entering with S and T: token a adds
// c lambda^(a+1) q_a ((a+1) S + T) dO_a^T + sum_{b<a} (a-b) c lambda^(a-b) (q_a . k_b)(v_b . dO_a), and
//   T <- lambda^l (T + l S) + sum_b (l-1-b) lambda^(l-1-b) k_b^T v_b,   S <- lambda^l S + sum_b lambda^(l-1-b) k_b^T v_b.
// Every term is a plain sum with local weights, so nothing cancels as in the identity the
// backward uses with tensor-core storage (decayGradFromSums); S and T are carried in double,
// since the sum pairs them with gradients across the whole sequence. Segments as in the sweep:
// mode 0 leaves each segment's local S and T in scratch, la2_decay_scan chains them, mode 1 walks
// each segment and adds its share to acc[seq]. grid (BH, segments, value tiles), 256 threads;
// shared memory sharedBytes::decaySweep.
template <typename T>
__device__ void decaySweep(const DecaySweepParams& p) {
    extern __shared__ double dsmem[];
    const int Dk = (int) p.Dk, ET = (int) p.ET, C = (int) p.C;
    const int ldk = Dk + 1, lda = C + 1;
    double* Sd = dsmem;                     // [Dk][ET]
    double* Td = Sd + Dk * ET;              // [Dk][ET]
    float* Qs = (float*) (Td + Dk * ET);    // [C][Dk+1]
    float* Ks = Qs + C * ldk;               // [C][Dk+1]
    float* Vs = Ks + C * ldk;               // [C][ET]
    float* Gs = Vs + C * ET;                // [C][ET], dO
    float* Ws = Gs + C * ET;                // [C][C+1]: (a-b) c lambda^(a-b) q_a . k_b for b < a
    float* pairW = Ws + C * lda;            // [C]: m c lambda^m
    float* kW = pairW + C;                  // [C]: lambda^(l-1-b)
    float* kWt = kW + C;                    // [C]: (l-1-b) lambda^(l-1-b)
    __shared__ double red[32];

    const i64 seq = blockIdx.x;
    const int seg = blockIdx.y;
    const int e0 = blockIdx.z * ET;
    const int et = min(ET, (int) p.Dv - e0);
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    const int tid = threadIdx.x, nt = blockDim.x;
    const i64 t0seg = (i64) seg * p.L;
    const i64 t1seg = min(p.N, t0seg + p.L);
    const T* q = (const T*) p.q + b * p.kB + h * p.kH;
    const T* k = (const T*) p.k + b * p.kB + h * p.kH;
    const T* v = (const T*) p.v + b * p.vB + h * p.vH;
    const T* g = (const T*) p.dO + b * p.vB + h * p.vH;
    const i64 DkDv = p.Dk * p.Dv;
    const bool full = p.mode == 1;

    for (int i = tid; i < Dk * ET; i += nt) {
        int d = i / ET, e = i % ET;
        double xs = 0.0, xt = 0.0;
        if (e < et && full) {
            if (seg == 0) {
                if (p.s0) xs = p.s0[seq * DkDv + d * p.Dv + e0 + e];
            } else {
                const double* in = p.scratch + (seq * (p.nseg - 1) + seg - 1) * 2 * DkDv;
                xs = in[d * p.Dv + e0 + e];
                xt = in[DkDv + d * p.Dv + e0 + e];
            }
        }
        Sd[i] = xs;
        Td[i] = xt;
    }
    for (int m = tid; m < C; m += nt) pairW[m] = (float) (p.scale * m * exp(-(double) s * m));
    double part = 0.0;

    for (i64 t0 = t0seg; t0 < t1seg; t0 += C) {
        const int cc = (int) min((i64) C, t1seg - t0);
        __syncthreads();
        for (int i = tid; i < C * Dk; i += nt) {
            int a = i / Dk, d = i % Dk;
            float xq = 0.f, xk = 0.f;
            if (a < cc) {
                if (full) xq = ldf<T>(q, (t0 + a) * p.kT + d);
                xk = ldf<T>(k, (t0 + a) * p.kT + d);
            }
            Qs[a * ldk + d] = xq;
            Ks[a * ldk + d] = xk;
        }
        for (int i = tid; i < C * ET; i += nt) {
            int a = i / ET, e = i % ET;
            float xv = 0.f, xg = 0.f;
            if (a < cc && e < et) {
                xv = ldf<T>(v, (t0 + a) * p.vT + e0 + e);
                if (full) xg = ldf<T>(g, (t0 + a) * p.vT + e0 + e);
            }
            Vs[i] = xv;
            Gs[i] = xg;
        }
        for (int bb = tid; bb < C; bb += nt) {
            float w = bb < cc ? expf(-s * (float) (cc - 1 - bb)) : 0.f;
            kW[bb] = w;
            kWt[bb] = (float) (cc - 1 - bb) * w;
        }
        __syncthreads();
        if (full) {
            for (int i = tid; i < C * C; i += nt) {
                int a = i / C, bb = i % C;
                float x = 0.f;
                if (bb < a && a < cc) {
                    float dot = 0.f;
                    for (int d = 0; d < Dk; d++) dot = fmaf(Qs[a * ldk + d], Ks[bb * ldk + d], dot);
                    x = pairW[a - bb] * dot;
                }
                Ws[a * lda + bb] = x;
            }
            __syncthreads();
            for (int i = tid; i < C * ET; i += nt) {
                int a = i / ET, e = i % ET;
                if (a >= cc || e >= et) continue;
                float intra = 0.f;
                for (int bb = 0; bb < a; bb++) intra = fmaf(Ws[a * lda + bb], Vs[bb * ET + e], intra);
                double inter = 0.0;
                for (int d = 0; d < Dk; d++) inter = fma((double) Qs[a * ldk + d], (a + 1) * Sd[d * ET + e] + Td[d * ET + e], inter);
                part += (double) Gs[i] * ((double) intra + p.scale * exp(-(double) s * (a + 1)) * inter);
            }
            __syncthreads();
        }
        const double carry = exp(-(double) s * cc);
        for (int i = tid; i < Dk * ET; i += nt) {
            int d = i / ET, e = i % ET;
            float xs = 0.f, xt = 0.f;
            for (int bb = 0; bb < cc; bb++) {
                float kv = Ks[bb * ldk + d] * Vs[bb * ET + e];
                xs = fmaf(kW[bb], kv, xs);
                xt = fmaf(kWt[bb], kv, xt);
            }
            double sOld = Sd[i];
            Td[i] = carry * (Td[i] + cc * sOld) + xt;
            Sd[i] = carry * sOld + xs;
        }
    }
    __syncthreads();
    if (full) {
        if (p.dSf && seg == p.nseg - 1) {
            for (int i = tid; i < Dk * ET; i += nt) {
                int d = i / ET, e = i % ET;
                if (e < et) part += (double) p.dSf[seq * DkDv + d * p.Dv + e0 + e] * Td[i];
            }
        }
        const double total = blockSum(part, red);
        if (tid == 0) atomicAdd(&p.acc[seq], total);
    } else {
        double* out = p.scratch + (seq * (p.nseg - 1) + seg) * 2 * DkDv;
        for (int i = tid; i < Dk * ET; i += nt) {
            int d = i / ET, e = i % ET;
            if (e < et) {
                out[d * p.Dv + e0 + e] = Sd[i];
                out[DkDv + d * p.Dv + e0 + e] = Td[i];
            }
        }
    }
}

// la2_decay_scan: chains the segments' local S and T into each segment's incoming ones, in place
// (slot g becomes what segment g+1 starts from): T <- lambda^L (T + L S) + T_local,
// S <- lambda^L S + S_local. grid (BH, ceil(Dk*Dv/256)), 256 threads.
__device__ __forceinline__ void scanDecaySegments(const DecaySweepParams& p) {
    const i64 seq = blockIdx.x;
    const i64 DkDv = p.Dk * p.Dv;
    const i64 idx = (i64) blockIdx.y * blockDim.x + threadIdx.x;
    if (idx >= DkDv) return;
    const double carry = exp(-(double) p.decay[seq % p.H] * p.L);
    double S = p.s0 ? p.s0[seq * DkDv + idx] : 0.0, T = 0.0;
    for (i64 g = 0; g + 1 < p.nseg; g++) {
        double* slot = p.scratch + (seq * (p.nseg - 1) + g) * 2 * DkDv;
        T = carry * (T + (double) p.L * S) + slot[DkDv + idx];
        S = carry * S + slot[idx];
        slot[idx] = S;
        slot[DkDv + idx] = T;
    }
}

// la2_decay_sum: dDecay[h] = -sum_b acc[b, h]. grid 1, min(H, 1024) threads, looping.
__device__ __forceinline__ void sumDecayGradient(const DecaySumParams& p) {
    for (i64 h = threadIdx.x; h < p.H; h += blockDim.x) {
        double total = 0.0;
        for (i64 b = 0; b < p.B; b++) total += p.acc[b * p.H + h];
        p.dDecay[h] = (float) -total;
    }
}
