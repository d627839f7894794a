// The wide tensor-core sweep (la2_sweep_wide_*: 16-bit storage or TF32, Dv = 128): one block of
// 16 warps owns a whole sequence (all 128 value columns), so q and k are read once and the 64 x 64
// scores are computed once per chunk instead of once per 64-column value tile (in sweepMma, after
// the loads themselves, those were the largest costs). With 16-bit storage two chunk buffers and
// two state copies leave two barriers per chunk, and the next chunk streams in while this one
// computes (fp32: see the buffers below). Same function and parameters as sweepMma.
// Warp roles per chunk: warps 0-9 one 16 x 16 lower-triangle score tile each, warps 10-11 the
// k row weights; then every warp two 16-row output bands (b and 3-b, so the causal A v work is
// even) by 16 columns, and a 16-row band of the Dk x 128 state by 128 / (16 / (Dk/16)) columns.
#pragma once

#include "common.cuh"
#include "mma.cuh"
#include "packed.cuh"
#include "params.cuh"
#include "smem.cuh"
#include "state_band.cuh"
#include "sweep_common.cuh"

template <typename T, int DK, bool EXACT>
__device__ void sweepWide(const SweepParams& p) {
    using M = Mma<T>;
    constexpr int C = 64, ET = 128;
    constexpr int LDK = DK + M::PADK, LDV = ET + M::PADV, LDA = C + M::PADA, LDS = ET + M::PADS, SB = DK * LDS;
    // Buffers. 16-bit: two chunks of q, k and v and two state copies, two barriers per chunk. fp32
    // (TF32) has room for one chunk of q and k, two of v and one state copy (two of everything
    // would be ~290 KB; of the single second buffers that fit, one of v is the fastest): q and k
    // of the next chunk load once this one is done with them, and a third barrier guards the
    // state copy. fp32 also orders each chunk q S, state update, barrier, A v (EARLY), so the next
    // q and k stream in during A v; the 16-bit kernel is faster with A v first.
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
    static_assert(sharedBytes::tensorCoreSweep(sizeof(T), DK, ET, M::PADK, M::PADA, NQK, 2, SC)
                  == sizeof(T) * (2 * NQK * C * LDK + 2 * C * LDV + C * LDA + SC * SB) + 4 * (C + 2 + C), "sweepWide buffers");
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

// Exported four times as the sweepMma kernels are (LA2_SWEEP_MMA).
#define LA2_SWEEP_WIDE(name, T, DK) \
    extern "C" __global__ void __launch_bounds__(512, 1) name(const SweepParams p) { sweepWide<T, DK, true>(p); } \
    extern "C" __global__ void __launch_bounds__(512, 1) name##_bwd(const SweepParams p) { sweepWide<T, DK, false>(p); } \
    extern "C" __global__ void __launch_bounds__(512, 1) name##_packed(SweepParams p, const PackedParams pk) { \
        if (rebindSweep<T>(p, pk, false)) sweepWide<T, DK, true>(p); \
    } \
    extern "C" __global__ void __launch_bounds__(512, 1) name##_bwd_packed(SweepParams p, const PackedParams pk) { \
        if (rebindSweep<T>(p, pk, false)) sweepWide<T, DK, false>(p); \
    }
