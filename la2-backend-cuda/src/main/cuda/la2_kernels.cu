// Lightning Attention-2 kernels for la2-backend-cuda (SPEC.md sections 1-3).
//
// One "sweep" kernel family computes every sequence pass of the forward and the backward:
//
//   state  R <- lambda^Cc R + kappa * sum_b lambda^(Cc-1-b) k_b^T v_b          (per chunk)
//   out    o_a = alpha * sum_{b<=a} lambda^(a-b) (q_a . k_b) v_b + beta * lambda^(a+o) q_a R_prev
//
// where o = 1, except for the chunk at the start of the sequence, where o = ofs0 (1 for a state
// "before token 0", 0 for a state "at token 0" such as dS_final in the reversed backward sweeps).
// The backward passes are the same function with roles swapped (see CudaBackend.backward):
//   dq = sweep(q'=dO, k'=v, v'=k, state S^T), dv = reversed sweep(q'=k, k'=q, v'=dO, state G),
//   dk = reversed sweep(q'=v, k'=dO, v'=q, state G^T).
//
// Parallelism over the sequence is two-level: each sequence is cut into segments of L tokens;
// mode 0 computes each segment's local state from zero, la2_scan chains them (tiny), and mode 1
// walks each segment from its incoming state, writing outputs. Every kernel reads its tensors
// through (batch, head, token) strides, so both layouts and reversed time need no copies.
//
// All parameters are 8-byte fields of one struct passed by value: the Java side packs them.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

typedef long long i64;

struct SweepParams {
    const void* q;       // key-like: [seq][token][Dk]
    const void* k;
    const void* v;       // value-like: [seq][token][Dv]
    void* o;
    const void* w;       // optional value-like weights: acc[seq] += sum_t treal * <o_t, w_t>
    const float* s0;     // optional initial state, element (i, j) at seq*Dk*Dv + i*s0i + j*s0j
    float* sfinal;       // optional final state, element (i, j) at seq*Dk*Dv + i*fi + j*fj
    float* scratch;      // [BH][nseg-1][Dk][Dv] segment states
    const float* decay;  // [H]
    double* acc;         // [BH], with w
    i64 N, H, BH, Dk, Dv, ET, C, L, nseg, mode, rev, ofs0, finalPow, writeOut;
    i64 kB, kH, kT;      // strides of key-like tensors (elements)
    i64 vB, vH, vT;      // strides of value-like tensors
    i64 s0i, s0j, fi, fj;
    double alpha, beta, kappa;
};

template <typename T> __device__ __forceinline__ float ldf(const T* p, i64 i);
template <> __device__ __forceinline__ float ldf<float>(const float* p, i64 i) { return p[i]; }
template <> __device__ __forceinline__ float ldf<__nv_bfloat16>(const __nv_bfloat16* p, i64 i) { return __bfloat162float(p[i]); }
template <> __device__ __forceinline__ float ldf<__half>(const __half* p, i64 i) { return __half2float(p[i]); }

template <typename T> __device__ __forceinline__ void stf(T* p, i64 i, float x);
template <> __device__ __forceinline__ void stf<float>(float* p, i64 i, float x) { p[i] = x; }
template <> __device__ __forceinline__ void stf<__nv_bfloat16>(__nv_bfloat16* p, i64 i, float x) { p[i] = __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ void stf<__half>(__half* p, i64 i, float x) { p[i] = __float2half_rn(x); }

// lambda^m as exp(-s m): SPEC.md section 3 forbids repeated products.
__device__ __forceinline__ float lpow(float s, float m) { return expf(-s * m); }

__device__ __forceinline__ double blockSum(double x, double* red) {
    for (int off = 16; off > 0; off >>= 1) x += __shfl_down_sync(0xffffffffu, x, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = x;
    __syncthreads();
    double total = 0;
    if (threadIdx.x == 0) {
        for (int i = 0; i < (int) (blockDim.x >> 5); i++) total += red[i];
    }
    return total;
}

// acc[seq] += the block's sum of the per-thread partials (the decay-gradient dot products)
__device__ __forceinline__ void addBlockDot(const SweepParams& p, i64 seq, double x, double* red) {
    const double total = blockSum(x, red);
    if (threadIdx.x == 0) atomicAdd(&p.acc[seq], total);
}

// Generic path: any Dk, Dv, chunk C, value tile ET; fp32 FMAs from shared memory.
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

extern "C" __global__ void __launch_bounds__(256) la2_sweep_f32(const SweepParams p) { sweepGeneric<float>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_sweep_bf16(const SweepParams p) { sweepGeneric<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_sweep_f16(const SweepParams p) { sweepGeneric<__half>(p); }

// Chains segment states: slot g (local state of segment g) becomes the incoming state of
// segment g+1. grid (BH, ceil(Dk*Dv/256)).
extern "C" __global__ void __launch_bounds__(256) la2_scan(const SweepParams p) {
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

// dDecay[h] = sum_b [ accV[b,h] - accO[b,h] - <dS0, S0> - (N-1) <dSf, Sfinal> ]
// (derivation in CudaBackend.backward). grid H, 256 threads.
struct DecayGradParams {
    const double* accV;
    const double* accO;
    const float* dS0;
    const float* s0;     // may be null
    const float* dSf;    // may be null
    const float* sfin;   // may be null
    float* dDecay;
    i64 B, H, N, DkDv;
};

extern "C" __global__ void __launch_bounds__(256) la2_decay_grad(const DecayGradParams p) {
    __shared__ double red[32];
    const i64 h = blockIdx.x;
    double part = 0.0;
    for (i64 b = 0; b < p.B; b++) {
        const i64 seq = b * p.H + h;
        if (p.s0) {
            for (i64 i = threadIdx.x; i < p.DkDv; i += blockDim.x) part -= (double) p.dS0[seq * p.DkDv + i] * p.s0[seq * p.DkDv + i];
        }
        if (p.dSf) {
            for (i64 i = threadIdx.x; i < p.DkDv; i += blockDim.x) part -= (double) (p.N - 1) * p.dSf[seq * p.DkDv + i] * p.sfin[seq * p.DkDv + i];
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
// backward uses with tensor-core storage (CudaBackend.backward); S and T are carried in double,
// since the sum pairs them with gradients across the whole sequence. Segments as in the sweep:
// mode 0 leaves each segment's local S and T in scratch, la2_decay_scan chains them, mode 1 walks
// each segment and adds its share to acc[seq]. grid (BH, segments, value tiles), 256 threads.
struct DecaySweepParams {
    const void* q;
    const void* k;
    const void* v;
    const void* dO;
    const float* s0;     // optional [BH][Dk][Dv]
    const float* dSf;    // optional [BH][Dk][Dv]
    double* scratch;     // [BH][nseg-1][2][Dk][Dv]: S then T of each segment but the last
    const float* decay;  // [H]
    double* acc;         // [BH]: c sum_t q_t T_t dO_t^T + <dS_final, T_{N-1}>
    i64 N, H, Dk, Dv, ET, C, L, nseg, mode;
    i64 kB, kH, kT;
    i64 vB, vH, vT;
    double scale;
};

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

extern "C" __global__ void __launch_bounds__(256) la2_decay_sweep_f32(const DecaySweepParams p) { decaySweep<float>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_decay_sweep_bf16(const DecaySweepParams p) { decaySweep<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(256) la2_decay_sweep_f16(const DecaySweepParams p) { decaySweep<__half>(p); }

// Chains the segments' local S and T into each segment's incoming ones, in place (slot g becomes
// what segment g+1 starts from): T <- lambda^L (T + L S) + T_local, S <- lambda^L S + S_local.
// grid (BH, ceil(Dk*Dv/256)).
extern "C" __global__ void __launch_bounds__(256) la2_decay_scan(const DecaySweepParams p) {
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

// dDecay[h] = -sum_b acc[b, h]. grid 1, H threads at most 1024 per block, looping.
struct DecaySumParams {
    const double* acc;
    float* dDecay;
    i64 B, H;
};

extern "C" __global__ void la2_decay_sum(const DecaySumParams p) {
    for (i64 h = threadIdx.x; h < p.H; h += blockDim.x) {
        double total = 0.0;
        for (i64 b = 0; b < p.B; b++) total += p.acc[b * p.H + h];
        p.dDecay[h] = (float) -total;
    }
}

// One decode step per sequence: S <- lambda S + k^T v (in place), o = c q S.
// grid (BH, ceil(E/128)), 128 x RG threads (RG = blockDim.x / 128 row groups): thread (x, y) owns
// value column e = 128 blockIdx.y + x and rows y, y + RG, ..., loading eight of them before
// using any, and the RG partial sums of o meet in shared memory in a fixed order. A step is bound
// by reading and writing the state once; one thread per column walking every row waited for one
// memory round trip per row (JMH DecodeBenchmark on the H200, D=E=128: 23 us for 8 sequences and
// 70 us for 1024, 2.2x the time to read and write their state at 4.26 TB/s; now 5.6 and 46 us).
// q, k [BH][D], v, o [BH][E], state [BH][D][E]; shared memory 8 D + 512 RG bytes.
struct DecodeParams {
    const void* q;
    const void* k;
    const void* v;
    const float* decay;
    float* state;
    void* o;
    i64 H, D, E;
    double scale;
};

template <typename T>
__device__ void decodeImpl(const DecodeParams& p) {
    constexpr int W = 128, AHEAD = 8;
    extern __shared__ float sm[];
    float* qs = sm;
    float* ks = sm + p.D;
    float* part = ks + p.D;  // [RG][W]
    const int tx = threadIdx.x % W, ty = threadIdx.x / W, RG = blockDim.x / W;
    const i64 seq = blockIdx.x, E = p.E;
    const float lam = expf(-p.decay[seq % p.H]);
    for (i64 d = threadIdx.x; d < p.D; d += blockDim.x) {
        qs[d] = ldf<T>((const T*) p.q, seq * p.D + d);
        ks[d] = ldf<T>((const T*) p.k, seq * p.D + d);
    }
    __syncthreads();
    const i64 e = (i64) blockIdx.y * W + tx;
    float acc = 0.f;
    if (e < E) {
        const float ve = ldf<T>((const T*) p.v, seq * E + e);
        float* col = p.state + seq * p.D * E + e;
        i64 d = ty;
        for (; d + (AHEAD - 1) * RG < p.D; d += AHEAD * RG) {
            float x[AHEAD];
#pragma unroll
            for (int r = 0; r < AHEAD; r++) x[r] = col[(d + r * RG) * E];
#pragma unroll
            for (int r = 0; r < AHEAD; r++) {
                const i64 dr = d + r * RG;
                x[r] = fmaf(lam, x[r], ks[dr] * ve);
                col[dr * E] = x[r];
                acc = fmaf(qs[dr], x[r], acc);
            }
        }
        for (; d < p.D; d += RG) {
            const float x = fmaf(lam, col[d * E], ks[d] * ve);
            col[d * E] = x;
            acc = fmaf(qs[d], x, acc);
        }
    }
    part[ty * W + tx] = acc;
    __syncthreads();
    if (ty == 0 && e < E) {
        float sum = 0.f;
        for (int y = 0; y < RG; y++) sum += part[y * W + tx];
        stf<T>((T*) p.o, seq * E + e, (float) p.scale * sum);
    }
}

extern "C" __global__ void __launch_bounds__(1024) la2_decode_f32(const DecodeParams p) { decodeImpl<float>(p); }
extern "C" __global__ void __launch_bounds__(1024) la2_decode_bf16(const DecodeParams p) { decodeImpl<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(1024) la2_decode_f16(const DecodeParams p) { decodeImpl<__half>(p); }

// Benchmark inputs drawn on the device (a hash of the index, uniform with the given standard
// deviation), so timing never runs on zeros and never waits for gigabytes of host-side randoms.
__device__ __forceinline__ float hashUniform(unsigned long long i, unsigned long long seed) {
    unsigned long long x = i * 0x9E3779B97F4A7C15ull + seed;
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27; x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return ((float) (x >> 40) + 0.5f) * (1.0f / 16777216.0f) * 2.f - 1.f;
}

struct RandomParams {
    void* out;
    i64 n;
    i64 seed;
    double stddev;
};

template <typename T>
__device__ void randomImpl(const RandomParams& p) {
    const float a = (float) p.stddev * 1.7320508f;  // uniform on [-a, a] has standard deviation a / sqrt(3)
    for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (i64) gridDim.x * blockDim.x) {
        stf<T>((T*) p.out, i, a * hashUniform((unsigned long long) i, (unsigned long long) p.seed));
    }
}

extern "C" __global__ void la2_random_f32(const RandomParams p) { randomImpl<float>(p); }
extern "C" __global__ void la2_random_bf16(const RandomParams p) { randomImpl<__nv_bfloat16>(p); }
extern "C" __global__ void la2_random_f16(const RandomParams p) { randomImpl<__half>(p); }

// Element-for-element storage conversion of n elements (fp32 <-> 16-bit, rounding to nearest
// even): the 16-bit backward's decay-gradient passes run on fp32 copies of their operands.
struct ConvertParams {
    const void* src;
    void* dst;
    i64 n;
};

template <typename S, typename D>
__device__ void convertImpl(const ConvertParams& p) {
    for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (i64) gridDim.x * blockDim.x) {
        stf<D>((D*) p.dst, i, ldf<S>((const S*) p.src, i));
    }
}

extern "C" __global__ void la2_widen_bf16(const ConvertParams p) { convertImpl<__nv_bfloat16, float>(p); }
extern "C" __global__ void la2_widen_f16(const ConvertParams p) { convertImpl<__half, float>(p); }
extern "C" __global__ void la2_narrow_bf16(const ConvertParams p) { convertImpl<float, __nv_bfloat16>(p); }
extern "C" __global__ void la2_narrow_f16(const ConvertParams p) { convertImpl<float, __half>(p); }

template <typename T> __device__ __forceinline__ float toF(T x);
template <> __device__ __forceinline__ float toF<float>(float x) { return x; }
template <> __device__ __forceinline__ float toF<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float toF<__half>(__half x) { return __half2float(x); }

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


// ---------------------------------------------------------------------------------------------
// Tensor-core path on mma.sync, written out by hand: bf16/fp16 as m16n8k16 fed by ldmatrix, fp32
// as TF32 m16n8k8 fed by plain shared loads. (WMMA's loads compiled to generic-address loads plus
// register transposes here: LD + MOVM in the SASS, no LDSM.) Owning the fragment layout keeps
// the decay mask, the lambda^(a+1) row factors, the state and the outputs in registers. Same
// function and parameters as sweepGeneric; C = ET = 64; Dk in {64, 128}. Warp w owns rows
// 16*(w/2).. of the 64 x 64 score and output tiles (columns 32*(w%2)..) and a 16-row band of the
// Dk x 64 state.
// ---------------------------------------------------------------------------------------------

typedef unsigned int u32;

__device__ __forceinline__ u32 smemAddr(const void* p) { return (u32) __cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm4(u32 (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smemAddr(p)));
}
__device__ __forceinline__ void ldsm4t(u32 (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smemAddr(p)));
}
__device__ __forceinline__ u32 tf32(float x) {
    u32 r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
}

// Operand fragments of one 16 x 16 (A) or 16(k) x 16(n) (B, two n8 blocks) tile, per type.
// Loaders take the tile's first element; "A" is row-major [m][k], "At" stored as [k][m],
// "Bnk" stored as [n][k], "Bkn" stored as [k][n].
template <typename T> struct Mma;

template <typename T> struct Mma16 {
    static constexpr int PADK = 8, PADV = 8, PADA = 8, PADS = 8;
    struct A { u32 r[4]; };
    struct B { u32 r[4]; };
    static __device__ __forceinline__ void loadA(A& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4(f.r, p + (l & 15) * ld + (l >> 4) * 8);
    }
    static __device__ __forceinline__ void loadAt(A& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4t(f.r, p + ((l & 7) + (l >> 4) * 8) * ld + ((l >> 3) & 1) * 8);
    }
    static __device__ __forceinline__ void loadBnk(B& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4(f.r, p + ((l & 7) + (l >> 4) * 8) * ld + ((l >> 3) & 1) * 8);
    }
    // loadAt with column kk of the tile (a row of the stored [k][m] tile) times w[kk]: r[0], r[1]
    // hold columns 2t, 2t+1 and r[2], r[3] columns 2t+8, 2t+9; products in fp32, rounded once.
    static __device__ __forceinline__ void loadAtScaled(A& f, const T* p, int ld, const float* w) {
        loadAt(f, p, ld);
        const int q2 = (threadIdx.x & 3) * 2;
        const float2 lo = *(const float2*) (w + q2), hi = *(const float2*) (w + 8 + q2);
        f.r[0] = Mma<T>::scale2(f.r[0], lo.x, lo.y);
        f.r[1] = Mma<T>::scale2(f.r[1], lo.x, lo.y);
        f.r[2] = Mma<T>::scale2(f.r[2], hi.x, hi.y);
        f.r[3] = Mma<T>::scale2(f.r[3], hi.x, hi.y);
    }
    static __device__ __forceinline__ void loadBkn(B& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4t(f.r, p + ((l & 7) + ((l >> 3) & 1) * 8) * ld + (l >> 4) * 8);
    }
    // the two n8 halves of the B tile; Mma<T>::mma8 is the one m16n8k16 instruction of the type
    static __device__ __forceinline__ void mma(float (&c0)[4], float (&c1)[4], const A& a, const B& b) {
        Mma<T>::mma8(c0, a, b.r[0], b.r[1]);
        Mma<T>::mma8(c1, a, b.r[2], b.r[3]);
    }
};

template <> struct Mma<__nv_bfloat16> : Mma16<__nv_bfloat16> {
    static __device__ __forceinline__ void mma8(float (&c)[4], const A& a, u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ void store2(__nv_bfloat16* p, float x, float y) {
        *(__nv_bfloat162*) p = __floats2bfloat162_rn(x, y);
    }
    // a packed pair times (w0, w1), products in fp32 and rounded once
    static __device__ __forceinline__ u32 scale2(u32 x, float w0, float w1) {
        __nv_bfloat162 r = __floats2bfloat162_rn(__uint_as_float(x << 16) * w0, __uint_as_float(x & 0xffff0000u) * w1);
        return *(u32*) &r;
    }
};

template <> struct Mma<__half> : Mma16<__half> {
    static __device__ __forceinline__ void mma8(float (&c)[4], const A& a, u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ void store2(__half* p, float x, float y) {
        *(__half2*) p = __floats2half2_rn(x, y);
    }
    static __device__ __forceinline__ u32 scale2(u32 x, float w0, float w1) {
        const float2 f = __half22float2(*(__half2*) &x);
        __half2 r = __floats2half2_rn(f.x * w0, f.y * w1);
        return *(u32*) &r;
    }
};

// TF32: fragment element (row, col) of A is at (g, t), (g+8, t), (g, t+4), (g+8, t+4) for each
// k8 half; of B at (k = t, n = g), (t+4, g); g = lane/4, t = lane%4. Row pitches of 4 mod 32
// words (A-like reads) or 8 mod 32 (B-like reads) keep the scalar loads free of bank conflicts.
template <> struct Mma<float> {
    static constexpr int PADK = 4, PADV = 8, PADA = 4, PADS = 8;
    struct A { u32 r[8]; };
    struct B { u32 r[8]; };
    static __device__ __forceinline__ void loadA(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            f.r[4 * h + 0] = tf32(p[g * ld + 8 * h + t]);
            f.r[4 * h + 1] = tf32(p[(g + 8) * ld + 8 * h + t]);
            f.r[4 * h + 2] = tf32(p[g * ld + 8 * h + t + 4]);
            f.r[4 * h + 3] = tf32(p[(g + 8) * ld + 8 * h + t + 4]);
        }
    }
    static __device__ __forceinline__ void loadAt(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            f.r[4 * h + 0] = tf32(p[(8 * h + t) * ld + g]);
            f.r[4 * h + 1] = tf32(p[(8 * h + t) * ld + g + 8]);
            f.r[4 * h + 2] = tf32(p[(8 * h + t + 4) * ld + g]);
            f.r[4 * h + 3] = tf32(p[(8 * h + t + 4) * ld + g + 8]);
        }
    }
    static __device__ __forceinline__ void loadAtScaled(A& f, const float* p, int ld, const float* w) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const float w0 = w[8 * h + t], w4 = w[8 * h + t + 4];
            f.r[4 * h + 0] = tf32(w0 * p[(8 * h + t) * ld + g]);
            f.r[4 * h + 1] = tf32(w0 * p[(8 * h + t) * ld + g + 8]);
            f.r[4 * h + 2] = tf32(w4 * p[(8 * h + t + 4) * ld + g]);
            f.r[4 * h + 3] = tf32(w4 * p[(8 * h + t + 4) * ld + g + 8]);
        }
    }
    static __device__ __forceinline__ void loadBnk(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                f.r[4 * j + 2 * h + 0] = tf32(p[(8 * j + g) * ld + 8 * h + t]);
                f.r[4 * j + 2 * h + 1] = tf32(p[(8 * j + g) * ld + 8 * h + t + 4]);
            }
    }
    static __device__ __forceinline__ void loadBkn(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                f.r[4 * j + 2 * h + 0] = tf32(p[(8 * h + t) * ld + 8 * j + g]);
                f.r[4 * j + 2 * h + 1] = tf32(p[(8 * h + t + 4) * ld + 8 * j + g]);
            }
    }
    static __device__ __forceinline__ void mma8(float (&c)[4], const u32* a, u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ void mma(float (&c0)[4], float (&c1)[4], const A& a, const B& b) {
        mma8(c0, a.r, b.r[0], b.r[1]);
        mma8(c0, a.r + 4, b.r[2], b.r[3]);
        mma8(c1, a.r, b.r[4], b.r[5]);
        mma8(c1, a.r + 4, b.r[6], b.r[7]);
    }
    static __device__ __forceinline__ void store2(float* p, float x, float y) {
        *(float2*) p = make_float2(x, y);
    }
};

// fp32 at (nearly) fp32 accuracy on tensor cores ("3xTF32"): each operand x = hi + lo with
// hi = tf32(x), lo = tf32(x - hi), and a b ~ hi_a hi_b + hi_a lo_b + lo_a hi_b (the lo lo term is
// below fp32 rounding). Three TF32 products instead of fp32 FMAs: Precision.STRICT holds its
// 1e-5 tolerance with this (tested against the float64 reference), about 20x faster than FMAs.
struct MmaF32x3 {
    static constexpr int PADK = 4, PADV = 8, PADA = 4, PADS = 8;
    struct A { u32 hi[8], lo[8]; };
    struct B { u32 hi[8], lo[8]; };
    static __device__ __forceinline__ void split(float x, u32& hi, u32& lo) {
        hi = tf32(x);
        lo = tf32(x - __uint_as_float(hi));
    }
    static __device__ __forceinline__ void loadA(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            split(p[g * ld + 8 * h + t], f.hi[4 * h + 0], f.lo[4 * h + 0]);
            split(p[(g + 8) * ld + 8 * h + t], f.hi[4 * h + 1], f.lo[4 * h + 1]);
            split(p[g * ld + 8 * h + t + 4], f.hi[4 * h + 2], f.lo[4 * h + 2]);
            split(p[(g + 8) * ld + 8 * h + t + 4], f.hi[4 * h + 3], f.lo[4 * h + 3]);
        }
    }
    static __device__ __forceinline__ void loadAt(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            split(p[(8 * h + t) * ld + g], f.hi[4 * h + 0], f.lo[4 * h + 0]);
            split(p[(8 * h + t) * ld + g + 8], f.hi[4 * h + 1], f.lo[4 * h + 1]);
            split(p[(8 * h + t + 4) * ld + g], f.hi[4 * h + 2], f.lo[4 * h + 2]);
            split(p[(8 * h + t + 4) * ld + g + 8], f.hi[4 * h + 3], f.lo[4 * h + 3]);
        }
    }
    static __device__ __forceinline__ void loadAtScaled(A& f, const float* p, int ld, const float* w) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const float w0 = w[8 * h + t], w4 = w[8 * h + t + 4];
            split(w0 * p[(8 * h + t) * ld + g], f.hi[4 * h + 0], f.lo[4 * h + 0]);
            split(w0 * p[(8 * h + t) * ld + g + 8], f.hi[4 * h + 1], f.lo[4 * h + 1]);
            split(w4 * p[(8 * h + t + 4) * ld + g], f.hi[4 * h + 2], f.lo[4 * h + 2]);
            split(w4 * p[(8 * h + t + 4) * ld + g + 8], f.hi[4 * h + 3], f.lo[4 * h + 3]);
        }
    }
    static __device__ __forceinline__ void loadBnk(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                split(p[(8 * j + g) * ld + 8 * h + t], f.hi[4 * j + 2 * h], f.lo[4 * j + 2 * h]);
                split(p[(8 * j + g) * ld + 8 * h + t + 4], f.hi[4 * j + 2 * h + 1], f.lo[4 * j + 2 * h + 1]);
            }
    }
    static __device__ __forceinline__ void loadBkn(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                split(p[(8 * h + t) * ld + 8 * j + g], f.hi[4 * j + 2 * h], f.lo[4 * j + 2 * h]);
                split(p[(8 * h + t + 4) * ld + 8 * j + g], f.hi[4 * j + 2 * h + 1], f.lo[4 * j + 2 * h + 1]);
            }
    }
    static __device__ __forceinline__ void mma(float (&c0)[4], float (&c1)[4], const A& a, const B& b) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            float (&c)[4] = j == 0 ? c0 : c1;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                // small terms first, so they are not lost against the large one
                Mma<float>::mma8(c, a.lo + 4 * h, b.hi[4 * j + 2 * h], b.hi[4 * j + 2 * h + 1]);
                Mma<float>::mma8(c, a.hi + 4 * h, b.lo[4 * j + 2 * h], b.lo[4 * j + 2 * h + 1]);
                Mma<float>::mma8(c, a.hi + 4 * h, b.hi[4 * j + 2 * h], b.hi[4 * j + 2 * h + 1]);
            }
        }
    }
    static __device__ __forceinline__ void store2(float* p, float x, float y) {
        *(float2*) p = make_float2(x, y);
    }
};

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

    // mode 1 starts from s0 (first segment) or the chained scratch state; mode 0 from zero
    __device__ __forceinline__ void load(const SweepParams& p, i64 seq, int seg, bool full) {
        const i64 DkDv = p.Dk * p.Dv;
#pragma unroll
        for (int j = 0; j < NB8; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const i64 d = row(r), e = col(j, r);
                float val = 0.f;
                if (full) {
                    if (seg == 0) {
                        if (p.s0) val = p.s0[seq * DkDv + d * p.s0i + e * p.s0j];
                    } else {
                        val = p.scratch[(seq * (p.nseg - 1) + seg - 1) * DkDv + d * p.Dv + e];
                    }
                }
                st[j][r] = val;
            }
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
            // row-major: column pairs as 8-byte stores (`la2 bench`, bf16 forward with the final
            // state at N=2048 on the H200: 0.167 ms with 4-byte stores, 0.162 ms with these)
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

// The masked half of a diagonal score tile is zero, but a tensor-core product cannot skip it, and
// 0 * NaN is NaN: a NaN or infinity in the value row of a later token would reach every earlier
// query of its 16-row fragment. An element of A V that comes out non-finite is therefore summed
// again over the tokens j <= a alone, so a non-finite input reaches exactly the outputs the
// reference gives it (SPEC.md section 3; the conformance kit's non-finite check). Finite elements,
// the only kind without such inputs, never take this path. Only the forward's sweeps (EXACT) carry
// it: it costs them 0.5-1.5% (the register allocation around the call; gpu/on-device.sh bench), and
// SPEC.md asks it of outputs, not of gradients, which the backward's sweeps compute.
template <typename T, int LDA, int LDV>
__device__ __noinline__ float causalSum(const T* Ab, const T* Vs, int a, int c) {
    float sum = 0.f;
    for (int j = 0; j <= a; j++) sum = fmaf(toF<T>(Ab[a * LDA + j]), toF<T>(Vs[j * LDV + c]), sum);
    return sum;
}

// SKIP (kernel-lab ablations only, gpu/kernel-lab.cu; 0 in every shipped kernel) leaves stages out
// to time them by difference: 1 scores, 2 A v, 4 q S, 8 state update, 16 chunk loads, 32 stores.
// EXACT: the re-sum of non-finite A v elements above (the forward's sweeps).
template <typename T, int DK, bool EXACT, typename M = Mma<T>, int SKIP = 0>
__device__ void sweepMma(const SweepParams& p) {
    constexpr int C = 64, ET = 64;
    constexpr int LDK = DK + M::PADK, LDV = ET + M::PADV, LDA = C + M::PADA, LDS = ET + M::PADS;
    constexpr int RW = DK / 16;            // 16-row bands of the state
    constexpr int CW = 8 / RW;             // warps per band
    constexpr int NB8 = 8 / CW;            // 8-column blocks of the state per warp
    extern __shared__ __align__(128) unsigned char smraw[];
    // One chunk buffer: with 16-bit storage two blocks share a multiprocessor (measured faster
    // than one double-buffered block), the next chunk streams in while the other block computes.
    T* QsB = (T*) smraw;                   // [C][LDK]
    T* KsB = QsB + C * LDK;                // [C][LDK]
    T* VsB = KsB + C * LDK;                // [C][LDV]
    T* Ab = VsB + C * LDV;                 // [C][LDA]
    T* Sb = Ab + C * LDA;                  // [DK][LDS]
    float* pw = (float*) (Sb + DK * LDS);  // [C+2] lambda^m
    float* wk = pw + C + 2;                // [C] kappa lambda^(cc-1-b): k row weights of the state update
    __shared__ double red[32];

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, q2 = (lane & 3) * 2;
    const i64 seq = blockIdx.x;
    const int seg = blockIdx.y;
    const int e0 = blockIdx.z * ET;
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    const i64 N = p.N;
    const i64 t0seg = (i64) seg * p.L;
    const i64 t1seg = min(N, t0seg + p.L);
    const T* q = (const T*) p.q + b * p.kB + h * p.kH;
    const T* k = (const T*) p.k + b * p.kB + h * p.kH;
    const T* v = (const T*) p.v + b * p.vB + h * p.vH + e0;
    T* o = (T*) p.o + b * p.vB + h * p.vH + e0;
    const T* w = p.w ? (const T*) p.w + b * p.vB + h * p.vH + e0 : nullptr;
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    const bool full = p.mode == 1;
    for (int m = tid; m < C + 2; m += blockDim.x) pw[m] = lpow(s, (float) m);

    issueChunk<T, DK, C, ET, LDK, LDV, 256>(p, q, k, v, full, t0seg, t1seg, QsB, KsB, VsB);

    // this warp's band of the state
    StateBand<T, M, NB8> state((warp / CW) * 16, (warp % CW) * NB8 * 8, e0);
    state.load(p, seq, seg, full);
    state.copyTo(Sb, LDS);
    double dotAcc = 0.0;
    const int ia = warp >> 1, r0 = ia * 16, c0 = (warp & 1) * 32;

    for (i64 t0 = t0seg; t0 < t1seg; t0 += C) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) p.ofs0 : 1;
        T* Qs = QsB;
        T* Ks = KsB;
        T* Vs = VsB;
        cpAsyncWaitAll();
        __syncthreads();
        // P2: scores of rows r0.., columns c0.. ; decay mask in registers; copy to Ab
        if (full && c0 <= r0 + 15 && !(SKIP & 1)) {
            float acc[4][4] = {};
#pragma unroll
            for (int kk = 0; kk < DK / 16; kk++) {
                typename M::A a;
                typename M::B bq;
                M::loadA(a, Qs + r0 * LDK + kk * 16, LDK);
#pragma unroll
                for (int n2 = 0; n2 < 2; n2++) {
                    M::loadBnk(bq, Ks + (c0 + n2 * 16) * LDK + kk * 16, LDK);
                    M::mma(acc[2 * n2], acc[2 * n2 + 1], a, bq);
                }
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
#pragma unroll
                for (int hr = 0; hr < 2; hr++) {
                    const int a = r0 + g + hr * 8, c = c0 + j * 8 + q2;
                    const float x0 = c <= a ? alpha * pw[a - c] * acc[j][hr * 2] : 0.f;
                    const float x1 = c + 1 <= a ? alpha * pw[a - c - 1] * acc[j][hr * 2 + 1] : 0.f;
                    M::store2(Ab + a * LDA + c, x0, x1);
                }
            }
        }
        if (tid < C) wk[tid] = tid < cc ? kappa * pw[cc - 1 - tid] : 0.f;
        __syncthreads();
        // P4: outputs O = Ab V + diag(beta lambda^(a+ofs)) Q Sb, and the state in registers
        if (full) {
            float av[4][4] = {}, qs[4][4] = {};
            for (int kb = 0; kb <= ia && !(SKIP & 2); kb++) {
                typename M::A a;
                typename M::B bv;
                M::loadA(a, Ab + r0 * LDA + kb * 16, LDA);
#pragma unroll
                for (int n2 = 0; n2 < 2; n2++) {
                    M::loadBkn(bv, Vs + kb * 16 * LDV + c0 + n2 * 16, LDV);
                    M::mma(av[2 * n2], av[2 * n2 + 1], a, bv);
                }
            }
#pragma unroll
            for (int kk = 0; kk < DK / 16 && !(SKIP & 4); kk++) {
                typename M::A a;
                typename M::B bs;
                M::loadA(a, Qs + r0 * LDK + kk * 16, LDK);
#pragma unroll
                for (int n2 = 0; n2 < 2; n2++) {
                    M::loadBkn(bs, Sb + kk * 16 * LDS + c0 + n2 * 16, LDS);
                    M::mma(qs[2 * n2], qs[2 * n2 + 1], a, bs);
                }
            }
            bool leaked = false;
#pragma unroll
            for (int j = 0; j < 4 && EXACT; j++) {
#pragma unroll
                for (int x = 0; x < 4; x++) leaked |= !isfinite(av[j][x]);
            }
            if (EXACT && leaked) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
#pragma unroll
                    for (int x = 0; x < 4; x++) {
                        if (!isfinite(av[j][x])) av[j][x] = causalSum<T, LDA, LDV>(Ab, Vs, r0 + g + (x >> 1) * 8, c0 + j * 8 + q2 + (x & 1));
                    }
                }
            }
#pragma unroll
            for (int hr = 0; hr < 2; hr++) {
                const int a = r0 + g + hr * 8;
                if (a >= cc) continue;
                const float f = beta * pw[a + ofsi];
                const i64 t = t0 + a, tr = p.rev ? (N - 1 - t) : t;
                float dsum = 0.f;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int c = c0 + j * 8 + q2;
                    const float y0 = av[j][hr * 2] + f * qs[j][hr * 2];
                    const float y1 = av[j][hr * 2 + 1] + f * qs[j][hr * 2 + 1];
                    if (p.writeOut && !(SKIP & 32)) M::store2(o + tr * p.vT + c, y0, y1);
                    if (w) {
                        const T* wp = w + tr * p.vT + c;
                        dsum = fmaf(y0, toF<T>(wp[0]), fmaf(y1, toF<T>(wp[1]), dsum));
                    }
                }
                if (w) dotAcc += (double) tr * (double) dsum;
            }
        }
        state.template update<C>(Ks, LDK, Vs, LDV, wk, pw[cc - 1 + ofsi], !(SKIP & 8));
        __syncthreads();
        if (t0 + C < t1seg && !(SKIP & 16)) issueChunk<T, DK, C, ET, LDK, LDV, 256>(p, q, k, v, full, t0 + C, t1seg, QsB, KsB, VsB);
        // P5: copy of the new state for the next chunk's q S
        if (full && t0 + C < t1seg) state.copyTo(Sb, LDS);
    }
    __syncthreads();
    if (full && p.w) addBlockDot(p, seq, dotAcc, red);
    state.store(p, seq, seg, full, s);
}

// Every tensor-core sweep is exported twice: NAME, the forward's (EXACT: with the non-finite
// re-sum), and NAME_bwd, the backward's (without it).
#define LA2_SWEEP_MMA(name, minBlocks, T, DK, M) \
    extern "C" __global__ void __launch_bounds__(256, minBlocks) name(const SweepParams p) { sweepMma<T, DK, true, M>(p); } \
    extern "C" __global__ void __launch_bounds__(256, minBlocks) name##_bwd(const SweepParams p) { sweepMma<T, DK, false, M>(p); }
LA2_SWEEP_MMA(la2_sweep_tc1_bf16_d64, 2, __nv_bfloat16, 64, Mma<__nv_bfloat16>)
LA2_SWEEP_MMA(la2_sweep_tc1_bf16_d128, 2, __nv_bfloat16, 128, Mma<__nv_bfloat16>)
LA2_SWEEP_MMA(la2_sweep_tc1_f16_d64, 2, __half, 64, Mma<__half>)
LA2_SWEEP_MMA(la2_sweep_tc1_f16_d128, 2, __half, 128, Mma<__half>)
LA2_SWEEP_MMA(la2_sweep_tc_tf32_d64, 1, float, 64, Mma<float>)
LA2_SWEEP_MMA(la2_sweep_tc_tf32_d128, 1, float, 128, Mma<float>)
LA2_SWEEP_MMA(la2_sweep_tc_f32x3_d64, 1, float, 64, MmaF32x3)
LA2_SWEEP_MMA(la2_sweep_tc_f32x3_d128, 1, float, 128, MmaF32x3)


// ---------------------------------------------------------------------------------------------
// Wide tensor-core sweep (16-bit or TF32, Dv = 128): one block of 16 warps owns a whole sequence
// (all 128 value columns), so q and k are read once and the 64 x 64 scores are computed once per
// chunk instead of once per 64-column value tile; with 16-bit storage two chunk buffers and two
// state copies leave two barriers per chunk, and the next chunk streams in while this one
// computes (fp32: see the buffers below). Measured on the H200 (gpu/kernel-lab.cu ablations of
// sweepMma): streaming q and k twice and the score tiles were the largest costs after the loads
// themselves; TF32 7.0 ms (sweepMma) -> 4.68 ms here. Same function and parameters as sweepMma.
// Warp roles per chunk: warps 0-9 one 16 x 16 lower-triangle score tile each, warps 10-11 the
// k row weights; then every warp two 16-row output bands (b and 3-b, so the causal A v work is
// even) by 16 columns, and a 16-row band of the Dk x 128 state by 128 / (16 / (Dk/16)) columns.
// ---------------------------------------------------------------------------------------------
template <typename T, int DK, bool EXACT>
__device__ void sweepWide(const SweepParams& p) {
    using M = Mma<T>;
    constexpr int C = 64, ET = 128;
    constexpr int LDK = DK + M::PADK, LDV = ET + M::PADV, LDA = C + M::PADA, LDS = ET + M::PADS, SB = DK * LDS;
    // Buffers. 16-bit: two chunks of q, k and v and two state copies, two barriers per chunk. fp32
    // (TF32) has room for one chunk of q and k, two of v and one state copy (two of everything
    // would be ~290 KB): q and k of the next chunk load once this one is done with them, and a
    // third barrier guards the state copy. Measured on the H200 at N=32768 (gpu/kernel-lab.cu): one
    // buffer of everything 5.10 ms, two of v 4.97, two of k 5.16, two of q 5.27 (and see EARLY).
    // fp32 also orders each chunk q S, state update, barrier, A v: the next q and k then stream in
    // during A v (4.98 -> 4.68 ms); the 16-bit kernel is faster with A v first (2.43 vs 2.46 ms).
    constexpr bool F32 = sizeof(T) == 4, EARLY = F32;
    constexpr int NQK = F32 ? 1 : 2, SC = F32 ? 1 : 2;
    constexpr int RW = DK / 16;            // 16-row bands of the state
    constexpr int CW = 16 / RW;            // warps per band
    constexpr int NB8 = ET / 8 / CW;       // 8-column blocks of the state per warp
    extern __shared__ __align__(128) unsigned char smraw[];
    T* QsB = (T*) smraw;                   // [NQK][C][LDK]
    T* KsB = QsB + NQK * C * LDK;          // [NQK][C][LDK]
    T* VsB = KsB + NQK * C * LDK;          // [2][C][LDV]
    T* Ab = VsB + 2 * C * LDV;             // [C][LDA]
    T* SbB = Ab + C * LDA;                 // [SC][SB]: state copies
    float* pw = (float*) (SbB + SC * SB);  // [C+2] lambda^m
    float* wk = pw + C + 2;                // [C] kappa lambda^(cc-1-b): k row weights of the state update
    __shared__ double red[32];

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, q2 = (lane & 3) * 2;
    const i64 seq = blockIdx.x;
    const int seg = blockIdx.y;
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    const i64 N = p.N;
    const i64 t0seg = (i64) seg * p.L;
    const i64 t1seg = min(N, t0seg + p.L);
    const T* q = (const T*) p.q + b * p.kB + h * p.kH;
    const T* k = (const T*) p.k + b * p.kB + h * p.kH;
    const T* v = (const T*) p.v + b * p.vB + h * p.vH;
    T* o = (T*) p.o + b * p.vB + h * p.vH;
    const T* w = p.w ? (const T*) p.w + b * p.vB + h * p.vH : nullptr;
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    const bool full = p.mode == 1;
    for (int m = tid; m < C + 2; m += blockDim.x) pw[m] = lpow(s, (float) m);

    issueChunk<T, DK, C, ET, LDK, LDV, 512>(p, q, k, v, full, t0seg, t1seg, QsB, KsB, VsB);

    // score tile of warps 0-9: (ti, tj), tj <= ti, in row order
    int ti = 0, tj = warp;
    while (tj > ti) { tj -= ti + 1; ti++; }
    // output bands of this warp: ob and 3 - ob, 16 columns from oc0
    const int ob = warp >> 3, oc0 = (warp & 7) * 16;
    StateBand<T, M, NB8> state((warp / CW) * 16, (warp % CW) * NB8 * 8, 0);
    state.load(p, seq, seg, full);
    T* Sb = SbB;
    state.copyTo(Sb, LDS);
    double dotAcc = 0.0;

    int buf = 0, sbuf = 0;
    for (i64 t0 = t0seg; t0 < t1seg; t0 += C, buf ^= 1) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) p.ofs0 : 1;
        T* Qs = QsB + (NQK == 2 ? buf : 0) * C * LDK;
        T* Ks = KsB + (NQK == 2 ? buf : 0) * C * LDK;
        T* Vs = VsB + buf * C * LDV;
        Sb = SbB + sbuf * SB;
        cpAsyncWaitAll();
        __syncthreads();
        // double-buffered tensors of the next chunk stream in while this one computes
        if (t0 + C < t1seg) {
            const int nb = buf ^ 1;
            issueChunk<T, DK, C, ET, LDK, LDV, 512>(p, q, k, v, full, t0 + C, t1seg, NQK == 2 ? QsB + nb * C * LDK : nullptr,
                                                    NQK == 2 ? KsB + nb * C * LDK : nullptr, VsB + nb * C * LDV);
        }
        if (warp < 10) {
            if (full) {
                float acc[2][4] = {};
#pragma unroll
                for (int kk = 0; kk < DK / 16; kk++) {
                    typename M::A a;
                    typename M::B bk;
                    M::loadA(a, Qs + ti * 16 * LDK + kk * 16, LDK);
                    M::loadBnk(bk, Ks + tj * 16 * LDK + kk * 16, LDK);
                    M::mma(acc[0], acc[1], a, bk);
                }
#pragma unroll
                for (int j = 0; j < 2; j++) {
#pragma unroll
                    for (int hr = 0; hr < 2; hr++) {
                        const int a = ti * 16 + g + hr * 8, c = tj * 16 + j * 8 + q2;
                        const float x0 = c <= a ? alpha * pw[a - c] * acc[j][hr * 2] : 0.f;
                        const float x1 = c + 1 <= a ? alpha * pw[a - c - 1] * acc[j][hr * 2 + 1] : 0.f;
                        M::store2(Ab + a * LDA + c, x0, x1);
                    }
                }
            }
        } else if (tid - 320 < C) {
            const int bb = tid - 320;
            wk[bb] = bb < cc ? kappa * pw[cc - 1 - bb] : 0.f;
        }
        __syncthreads();
        // bands lo = ob and hi = 3 - ob side by side: four independent accumulator chains, and each
        // B fragment (v or state) loaded once for both
        const int lo = ob, hi = 3 - ob;
        float av[2][2][4] = {}, qs[2][2][4] = {};
        auto qS = [&]() {
#pragma unroll
            for (int kk = 0; kk < DK / 16; kk++) {
                typename M::A a0, a1;
                typename M::B bs;
                M::loadBkn(bs, Sb + kk * 16 * LDS + oc0, LDS);
                M::loadA(a0, Qs + lo * 16 * LDK + kk * 16, LDK);
                M::loadA(a1, Qs + hi * 16 * LDK + kk * 16, LDK);
                M::mma(qs[0][0], qs[0][1], a0, bs);
                M::mma(qs[1][0], qs[1][1], a1, bs);
            }
        };
        auto aV = [&]() {
            for (int kb = 0; kb <= hi; kb++) {
                typename M::A a;
                typename M::B bv;
                M::loadBkn(bv, Vs + kb * 16 * LDV + oc0, LDV);
                M::loadA(a, Ab + hi * 16 * LDA + kb * 16, LDA);
                M::mma(av[1][0], av[1][1], a, bv);
                if (kb <= lo) {
                    M::loadA(a, Ab + lo * 16 * LDA + kb * 16, LDA);
                    M::mma(av[0][0], av[0][1], a, bv);
                }
            }
        };
        auto outputs = [&]() {
            bool leaked = false;
#pragma unroll
            for (int bi = 0; bi < 2 && EXACT; bi++) {
#pragma unroll
                for (int x = 0; x < 8; x++) leaked |= !isfinite(av[bi][x >> 2][x & 3]);
            }
            if (EXACT && leaked) {
#pragma unroll
                for (int bi = 0; bi < 2; bi++) {
#pragma unroll
                    for (int x = 0; x < 8; x++) {
                        if (!isfinite(av[bi][x >> 2][x & 3])) {
                            av[bi][x >> 2][x & 3] = causalSum<T, LDA, LDV>(Ab, Vs, (bi == 0 ? lo : hi) * 16 + g + ((x & 3) >> 1) * 8,
                                                                          oc0 + q2 + (x >> 2) * 8 + (x & 1));
                        }
                    }
                }
            }
#pragma unroll
            for (int bi = 0; bi < 2; bi++) {
#pragma unroll
                for (int hr = 0; hr < 2; hr++) {
                    const int a = (bi == 0 ? lo : hi) * 16 + g + hr * 8;
                    if (a >= cc) continue;
                    const float f = beta * pw[a + ofsi];
                    const i64 t = t0 + a, tr = p.rev ? (N - 1 - t) : t;
                    T* orow = o + tr * p.vT + oc0 + q2;
                    float dsum = 0.f;
#pragma unroll
                    for (int j = 0; j < 2; j++) {
                        const float y0 = av[bi][j][hr * 2] + f * qs[bi][j][hr * 2];
                        const float y1 = av[bi][j][hr * 2 + 1] + f * qs[bi][j][hr * 2 + 1];
                        if (p.writeOut) M::store2(orow + j * 8, y0, y1);
                        if (w) {
                            const T* wp = w + tr * p.vT + oc0 + q2 + j * 8;
                            dsum = fmaf(y0, toF<T>(wp[0]), fmaf(y1, toF<T>(wp[1]), dsum));
                        }
                    }
                    if (w) dotAcc += (double) tr * (double) dsum;
                }
            }
        };
        auto nextState = [&]() {
            state.template update<C>(Ks, LDK, Vs, LDV, wk, pw[cc - 1 + ofsi]);
            if constexpr (F32) {
                // everybody is done with this chunk's q, k and state copy
                __syncthreads();
                if (t0 + C < t1seg) issueChunk<T, DK, C, ET, LDK, LDV, 512>(p, q, k, v, full, t0 + C, t1seg, QsB, KsB, nullptr);
            }
            // SC = 2: the other state copy, which nobody reads until the next chunk's first barrier
            if (full && t0 + C < t1seg) {
                sbuf = SC == 2 ? sbuf ^ 1 : 0;
                state.copyTo(SbB + sbuf * SB, LDS);
            }
        };
        if constexpr (EARLY) {
            if (full) qS();
            nextState();
            if (full) {
                aV();
                outputs();
            }
        } else {
            if (full) {
                aV();
                qS();
                outputs();
            }
            nextState();
        }
    }
    __syncthreads();
    if (full && p.w) addBlockDot(p, seq, dotAcc, red);
    state.store(p, seq, seg, full, s);
}

// Exported twice as the sweepMma kernels are (LA2_SWEEP_MMA).
#define LA2_SWEEP_WIDE(name, T, DK) \
    extern "C" __global__ void __launch_bounds__(512, 1) name(const SweepParams p) { sweepWide<T, DK, true>(p); } \
    extern "C" __global__ void __launch_bounds__(512, 1) name##_bwd(const SweepParams p) { sweepWide<T, DK, false>(p); }
LA2_SWEEP_WIDE(la2_sweep_wide_bf16_d64, __nv_bfloat16, 64)
LA2_SWEEP_WIDE(la2_sweep_wide_bf16_d128, __nv_bfloat16, 128)
LA2_SWEEP_WIDE(la2_sweep_wide_f16_d64, __half, 64)
LA2_SWEEP_WIDE(la2_sweep_wide_f16_d128, __half, 128)
LA2_SWEEP_WIDE(la2_sweep_wide_tf32_d64, float, 64)
LA2_SWEEP_WIDE(la2_sweep_wide_tf32_d128, float, 128)

#ifdef LA2_KERNEL_LAB
#define LAB(name, T, MINB, SKIP) \
    extern "C" __global__ void __launch_bounds__(256, MINB) name(const SweepParams p) { sweepMma<T, 128, true, Mma<T>, SKIP>(p); }
LAB(lab_bf16_no_scores, __nv_bfloat16, 2, 1)
LAB(lab_bf16_no_av, __nv_bfloat16, 2, 2)
LAB(lab_bf16_no_qs, __nv_bfloat16, 2, 4)
LAB(lab_bf16_no_state, __nv_bfloat16, 2, 8)
LAB(lab_bf16_no_loads, __nv_bfloat16, 2, 16)
LAB(lab_bf16_no_stores, __nv_bfloat16, 2, 32)
LAB(lab_bf16_no_mma, __nv_bfloat16, 2, 15)
LAB(lab_bf16_only_loads, __nv_bfloat16, 2, 47)
LAB(lab_tf32_no_loads, float, 1, 16)
LAB(lab_tf32_no_mma, float, 1, 15)
#endif
