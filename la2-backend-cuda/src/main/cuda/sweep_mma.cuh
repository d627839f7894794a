// The tensor-core sweep by value tiles (la2_sweep_tc1_*, la2_sweep_tc_*): 16-bit storage with
// value dimensions other than 128, TF32 and 3xTF32. Same function and parameters as sweepGeneric;
// C = ET = 64; Dk in {64, 128}; 256 threads per 64-column value tile. Warp w owns rows 16*(w/2)..
// of the 64 x 64 score and output tiles (columns 32*(w%2)..) and a 16-row band of the Dk x 64
// state.
#pragma once

#include "common.cuh"
#include "mma.cuh"
#include "packed.cuh"
#include "params.cuh"
#include "smem.cuh"
#include "state_band.cuh"
#include "sweep_common.cuh"

// The stages of a sweepMma chunk. Every shipped kernel runs them all; gpu/kernel-lab.cu derives
// variants that leave some out, to time them by difference.
struct AllStages {
    static constexpr bool scores = true, av = true, qS = true, stateUpdate = true, loads = true, stores = true;
};

// EXACT: the re-sum of non-finite A v elements (sweep_common.cuh, causalSum), the forward's sweeps.
template <typename T, int DK, bool EXACT, typename M = Mma<T>, typename Stages = AllStages>
__device__ void sweepMma(const SweepParams& p) {
    constexpr int C = 64, ET = 64;
    constexpr int LDK = DK + M::PADK, LDV = ET + M::PADV, LDA = C + M::PADA, LDS = ET + M::PADS;
    constexpr int RW = DK / 16;            // 16-row bands of the state
    constexpr int CW = 8 / RW;             // warps per band
    constexpr int NB8 = 8 / CW;            // 8-column blocks of the state per warp
    extern __shared__ __align__(128) unsigned char smraw[];
    // One chunk buffer: with 16-bit storage two blocks share a multiprocessor, and the next chunk
    // of one streams in while the other computes (more warps to hide latency than one
    // double-buffered block has).
    T* QsB = (T*) smraw;                   // [C][LDK]
    T* KsB = QsB + C * LDK;                // [C][LDK]
    T* VsB = KsB + C * LDK;                // [C][LDV]
    T* Ab = VsB + C * LDV;                 // [C][LDA]
    T* Sb = Ab + C * LDA;                  // [DK][LDS]
    float* pw = (float*) (Sb + DK * LDS);  // [C+2] lambda^m
    float* wk = pw + C + 2;                // [C] kappa lambda^(cc-1-b): k row weights of the state update
    static_assert(sharedBytes::tensorCoreSweep(sizeof(T), DK, ET, M::PADK, M::PADA, 1, 1, 1)
                  == sizeof(T) * (2 * C * LDK + C * LDV + C * LDA + DK * LDS) + 4 * (C + 2 + C), "sweepMma buffers");
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
        if (full && c0 <= r0 + 15 && Stages::scores) {
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
            for (int kb = 0; kb <= ia && Stages::av; kb++) {
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
            for (int kk = 0; kk < DK / 16 && Stages::qS; kk++) {
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
                    if (p.writeOut && Stages::stores) M::store2(o + tr * p.vT + c, y0, y1);
                    if (w) {
                        const T* wp = w + tr * p.vT + c;
                        dsum = fmaf(y0, toF<T>(wp[0]), fmaf(y1, toF<T>(wp[1]), dsum));
                    }
                }
                if (w) dotAcc += (double) tr * (double) dsum;
            }
        }
        state.template update<C>(Ks, LDK, Vs, LDV, wk, pw[cc - 1 + ofsi], Stages::stateUpdate);
        __syncthreads();
        if (t0 + C < t1seg && Stages::loads) issueChunk<T, DK, C, ET, LDK, LDV, 256>(p, q, k, v, full, t0 + C, t1seg, QsB, KsB, VsB);
        // P5: copy of the new state for the next chunk's q S
        if (full && t0 + C < t1seg) state.copyTo(Sb, LDS);
    }
    __syncthreads();
    if (full && p.w) addBlockDot(p, seq, dotAcc, red);
    state.store(p, seq, seg, full, s);
}

// Every tensor-core sweep is exported four times: NAME, the forward's (EXACT: with the non-finite
// re-sum), NAME_bwd, the backward's (without it), and each again as NAME_packed and
// NAME_bwd_packed, the same body on a packed call's sequences (packed.cuh).
#define LA2_SWEEP_MMA(name, minBlocks, T, DK, M) \
    extern "C" __global__ void __launch_bounds__(256, minBlocks) name(const SweepParams p) { sweepMma<T, DK, true, M>(p); } \
    extern "C" __global__ void __launch_bounds__(256, minBlocks) name##_bwd(const SweepParams p) { sweepMma<T, DK, false, M>(p); } \
    extern "C" __global__ void __launch_bounds__(256, minBlocks) name##_packed(SweepParams p, const PackedParams pk) { \
        if (rebindSweep<T>(p, pk, false)) sweepMma<T, DK, true, M>(p); \
    } \
    extern "C" __global__ void __launch_bounds__(256, minBlocks) name##_bwd_packed(SweepParams p, const PackedParams pk) { \
        if (rebindSweep<T>(p, pk, false)) sweepMma<T, DK, false, M>(p); \
    }
