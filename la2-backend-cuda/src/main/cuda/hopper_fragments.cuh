// The Hopper sweeps' per-thread work on register fragments (sweep_hopper.cuh and the fused dk + dv
// pass, sweep_hopper_dkdv.cuh): masking the scores into A fragments, the output rows' factors, the
// weighted (transposed) keys of the state update, the 16-bit state copy and the staged output store. The calling
// thread is lane `lane` (g = lane / 4, t2 = 2 (lane % 4)) of warp wq in warpgroup wg; tokenOf maps
// ring row r to its token in the pass's time (r, or C - 1 - r on reversed TMA passes, FLIP). With
// SPLIT the 16-bit values are hi + lo pairs (pairs16.cuh, pack2Split): hi in the first array, lo
// in the second; without it the second array is unused.
#pragma once

#include <type_traits>

#include "common.cuh"
#include "hopper_loads.cuh"
#include "mma.cuh"
#include "pairs16.cuh"
#include "wgmma.cuh"

namespace hopper {

// The masked decay factors of a score tile by the distance a - b of its tokens: mt[C + m] =
// alpha lambda^m for m >= 0, zero for m < 0 (the masked half), so that a masked score is one load
// and one product, its factor at a fixed offset from the thread's first (2C floats, filled by the
// block's `threads` threads before the first chunk).
__device__ __forceinline__ void maskTable(float* mt, float s, float alpha, int tid, int threads) {
    for (int m = tid; m < 2 * C; m += threads) mt[m] = m >= C ? alpha * lpow(s, (float) (m - C)) : 0.f;
}

// The masked, decayed scores alpha lambda^(a-b) x (b <= a, else 0) as the A fragments of their
// product with v: k-step kk = accumulator blocks 2kk and 2kk + 1; mt the table above. EXACT_ZEROS:
// a masked score is 0 even where x is not finite (a select); without it 0 x, which is NaN for such
// an x: for the forward, whose entry point sums a segment with a non-finite output again exactly.
// By k-step: one whose 16 tokens all come after the warp's 16 rows is zero without a table load or
// a multiply, and only the k-step on the diagonal selects, the others being wholly visible (a
// quarter of the selects).
template <typename T, bool SPLIT, bool EXACT_ZEROS, typename TokenOf>
__device__ __forceinline__ void maskScores(const float (&x)[32], u32 (&pa)[4][4], u32 (&pl)[SPLIT ? 4 : 1][4], int wq, int lane,
                                           const float* mt, TokenOf tokenOf) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    const int rowLo = min(tokenOf(16 * wq), tokenOf(16 * wq + 15)), rowHi = max(tokenOf(16 * wq), tokenOf(16 * wq + 15));
    // the k-step's fragments, with or without the select
    auto step = [&](int kk, auto select) {
#pragma unroll
        for (int half = 0; half < 2; half++)
#pragma unroll
            for (int hr = 0; hr < 2; hr++) {
                const int jb = 2 * kk + half, a = tokenOf(16 * wq + g + 8 * hr);
                const int c0 = tokenOf(8 * jb + t2), c1 = tokenOf(8 * jb + t2 + 1);
                float x0 = mt[C + a - c0] * x[4 * jb + 2 * hr], x1 = mt[C + a - c1] * x[4 * jb + 2 * hr + 1];
                if constexpr (decltype(select)::value) {
                    x0 = c0 <= a ? x0 : 0.f;
                    x1 = c1 <= a ? x1 : 0.f;
                }
                if constexpr (SPLIT) pack2Split<T>(x0, x1, pa[kk][2 * half + hr], pl[kk][2 * half + hr]);
                else pa[kk][2 * half + hr] = pack2<T>(x0, x1);
            }
    };
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        const int colLo = min(tokenOf(16 * kk), tokenOf(16 * kk + 15)), colHi = max(tokenOf(16 * kk), tokenOf(16 * kk + 15));
        if (colLo > rowHi) {
#pragma unroll
            for (int x4 = 0; x4 < 4; x4++) {
                pa[kk][x4] = 0u;
                if constexpr (SPLIT) pl[kk][x4] = 0u;
            }
        } else if (EXACT_ZEROS && colHi > rowLo) {
            step(kk, std::bool_constant<true>{});
        } else {
            step(kk, std::bool_constant<false>{});
        }
    }
}

// The same without SPLIT, masked scores exactly zero.
template <typename T, typename TokenOf>
__device__ __forceinline__ void maskScores(const float (&x)[32], u32 (&pa)[4][4], int wq, int lane, const float* mt, TokenOf tokenOf) {
    u32 none[1][4];
    maskScores<T, false, true>(x, pa, none, wq, lane, mt, tokenOf);
}

// An output accumulator's rows times their state-term factors beta lambda^(a+ofs).
template <typename TokenOf>
__device__ __forceinline__ void scaleRows(float (&x)[32], int wq, int lane, float beta, const float* pw, int ofs, TokenOf tokenOf) {
    const int g = lane >> 2;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        const float f = beta * pw[tokenOf(16 * wq + g + 8 * hr) + ofs];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            x[4 * j + 2 * hr] *= f;
            x[4 * j + 2 * hr + 1] *= f;
        }
    }
}

// A = (diag(w) X)^T for rows 64 wg + 16 wq .. of the transposed tile X (64 tokens x 128 dims at
// `tile`): k-step j is the ldmatrix.trans of the 16 x 16 block (tokens 16j.., dims 64 wg + 16 wq ..),
// as mma.cuh's loadAt does, each token's row r weighted in fp32 by weightOf(r) and rounded once.
template <typename T, bool SPLIT, typename WeightOf>
__device__ __forceinline__ void weightedTransposed(u32 (&kt)[4][4], u32 (&kl)[SPLIT ? 4 : 1][4], const unsigned char* tile, int wg, int wq,
                                                   int lane, WeightOf weightOf) {
    const int t2 = (lane & 3) * 2;
    // k-step j's rows are 16 j below k-step 0's, in the same swizzle phase (16 j % 8 = 0)
    const u32 at = smemAddr(tile) + tileOffset((lane & 7) + (lane >> 4) * 8, 64 * wg + 16 * wq + ((lane >> 3) & 1) * 8, C);
#pragma unroll
    for (int j = 0; j < 4; j++) {
        ldsm4tAt(kt[j], at + j * (16 * 128));
        const int b0 = 16 * j + t2, b8 = b0 + 8;
        const float w0 = weightOf(b0), w1 = weightOf(b0 + 1), w8 = weightOf(b8), w9 = weightOf(b8 + 1);
        if constexpr (SPLIT) {
#pragma unroll
            for (int x = 0; x < 4; x++) {
                const float2 f = unpack2<T>(kt[j][x]);
                pack2Split<T>(f.x * (x < 2 ? w0 : w8), f.y * (x < 2 ? w1 : w9), kt[j][x], kl[j][x]);
            }
        } else {
            kt[j][0] = Mma<T>::scale2(kt[j][0], w0, w1);
            kt[j][1] = Mma<T>::scale2(kt[j][1], w0, w1);
            kt[j][2] = Mma<T>::scale2(kt[j][2], w8, w9);
            kt[j][3] = Mma<T>::scale2(kt[j][3], w8, w9);
        }
    }
}

// The state update's A = (diag(wk) K)^T: the key tile at `keys`, each token's row weighted by
// kappa lambda^(cc-1-b) (zero past the chunk's end).
template <typename T, bool SPLIT, typename TokenOf>
__device__ __forceinline__ void weightedKeys(u32 (&kt)[4][4], u32 (&kl)[SPLIT ? 4 : 1][4], const unsigned char* keys, int wg, int wq,
                                             int lane, int cc, float kappa, const float* pw, TokenOf tokenOf) {
    // a whole chunk (all but a pass's last): each weight one load at a fixed offset from the thread's first
    if (cc == C) {
        weightedTransposed<T, SPLIT>(kt, kl, keys, wg, wq, lane, [&](int r) { return kappa * pw[C - 1 - tokenOf(r)]; });
    } else {
        weightedTransposed<T, SPLIT>(kt, kl, keys, wg, wq, lane, [&](int r) {
            const int tb = tokenOf(r);
            return tb < cc ? kappa * pw[cc - 1 - tb] : 0.f;
        });
    }
}

// The same without SPLIT.
template <typename T, typename TokenOf>
__device__ __forceinline__ void weightedKeys(u32 (&kt)[4][4], const unsigned char* keys, int wg, int wq, int lane, int cc, float kappa,
                                             const float* pw, TokenOf tokenOf) {
    u32 none[1][4];
    weightedKeys<T, false>(kt, none, keys, wg, wq, lane, cc, kappa, pw, tokenOf);
}

// The 16-bit copy of state rows 64 wg + 16 wq + g (+ 8), all 128 columns (st[hf] holds columns
// 64 hf.. in the accumulator layout), into the state buffer at dst (SPLIT: hi there, lo at
// dst + STATE). Without SPLIT by stmatrix: per half and pair of 8-column blocks j, j + 1 the four
// 8 x 8 matrices (rows g, g + 8) x (blocks j, j + 1), whose rows are 16-byte pieces of the
// swizzled tile. Each value is multiplied by `scale` first (the Hopper TF32 sweep's power of two;
// 1 elsewhere, which the compiler drops).
template <typename T, bool SPLIT>
__device__ __forceinline__ void copyStateRows(unsigned char* dst, const float (&st)[2][32], int wg, int wq, int lane, float scale = 1.f) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    if constexpr (SPLIT) {
#pragma unroll
        for (int hf = 0; hf < 2; hf++)
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int hr = 0; hr < 2; hr++) {
                    const int d = 64 * wg + 16 * wq + g + 8 * hr, e = 64 * hf + 8 * j + t2;
                    u32 hi, lo;
                    pack2Split<T>(st[hf][4 * j + 2 * hr] * scale, st[hf][4 * j + 2 * hr + 1] * scale, hi, lo);
                    *(u32*) (dst + tileOffset(d, e, D)) = hi;
                    *(u32*) (dst + STATE + tileOffset(d, e, D)) = lo;
                }
    } else {
        const u32 base = smemAddr(dst);
        const int m = lane >> 3, d = 64 * wg + 16 * wq + (lane & 7) + 8 * (m & 1);  // the row lane gives
#pragma unroll
        for (int hf = 0; hf < 2; hf++)
#pragma unroll
            for (int j = 0; j < 8; j += 2) {
                const float* x = st[hf] + 4 * j;
                stsm4(base + tileOffset(d, 64 * hf + 8 * (j + (m >> 1)), D), pack2<T>(x[0] * scale, x[1] * scale),
                      pack2<T>(x[2] * scale, x[3] * scale), pack2<T>(x[4] * scale, x[5] * scale), pack2<T>(x[6] * scale, x[7] * scale));
            }
    }
}

// Where a warp's 16 staged output rows go: staging row r to the row at first + r * step (elements
// of T), where bit r of `stored` is set.
template <typename T>
struct OutRows {
    T* first;
    i64 step;
    u32 stored;
};

// The rows of warp wq's block of a chunk of cc tokens at the pass's token t0: its ring row 16 wq + r
// holds the chunk's token a = 16 wq + r, or C - 1 - (16 wq + r) with FLIP (tokenOf), which is
// memory row t0 + a, or N - 1 - (t0 + a) in a reversed pass (rev); rows with a >= cc are past the
// chunk's end. out: row 0 of the sequence at the warp's first column; rowElems: elements from one
// memory row to the next. Consecutive ring rows are consecutive memory rows, up or down.
template <bool FLIP, typename T>
__device__ __forceinline__ OutRows<T> outRows(T* out, i64 rowElems, i64 t0, int cc, int wq, bool rev, i64 n) {
    const int a0 = FLIP ? C - 1 - 16 * wq : 16 * wq;  // the token of staging row 0
    const i64 m0 = rev ? n - 1 - (t0 + a0) : t0 + a0;  // its memory row
    // rows 0 .. cc - a0 - 1, or (FLIP) a0 - cc + 1 .. 15: all but `past` at one end
    const int past = min(16, max(0, 16 - (cc - (FLIP ? a0 - 15 : a0))));
    return {out + m0 * rowElems, FLIP != rev ? -rowElems : rowElems, FLIP ? 0xffffu << past & 0xffffu : 0xffffu >> past};
}

// A warp's 16 x 64 block of outputs (accumulator layout: rows g and g + 8, columns 8j + t2 and
// 8j + t2 + 1) out through its staging buffer `ob` (16 rows of 128 bytes) as 16-byte row pieces:
// piece j of row r sits at piece j ^ (r % 8), so the pair writes and the row reads are free of bank
// conflicts, and 8 lanes store a whole 128-byte row half. `rows` says where each row goes.
template <typename T>
__device__ __forceinline__ void stageOutBlock(unsigned char* ob, const float (&x)[32], int lane, const OutRows<T>& rows) {
    // by stmatrix, as copyStateRows: lane l gives row l % 8 (+ 8) of blocks j, j + 1
    const int m = lane >> 3;
    const u32 at = smemAddr(ob) + ((lane & 7) + 8 * (m & 1)) * 128;
#pragma unroll
    for (int j = 0; j < 8; j += 2)
        stsm4(at + (((j + (m >> 1)) ^ (lane & 7)) << 4), pack2<T>(x[4 * j], x[4 * j + 1]), pack2<T>(x[4 * j + 2], x[4 * j + 3]),
              pack2<T>(x[4 * j + 4], x[4 * j + 5]), pack2<T>(x[4 * j + 6], x[4 * j + 7]));
    __syncwarp();
    // lane l: piece l % 8 of rows l / 8 + 4 it
    const int r0 = lane >> 3, pc = lane & 7;
    T* p = rows.first + r0 * rows.step + 8 * pc;
    const u32 stored = rows.stored >> r0;
#pragma unroll
    for (int it = 0; it < 4; it++) {
        const int r = r0 + 4 * it;
        const uint4 y = *(const uint4*) (ob + r * 128 + ((pc ^ (r & 7)) << 4));
        if (stored & (1u << (4 * it))) *(uint4*) (p + 4 * it * rows.step) = y;
    }
    __syncwarp();
}

}  // namespace hopper
