// The Hopper sweep's chunk loads (sweep_hopper.cuh): one chunk of q, k and v into a stage of its
// ring, by the tensor memory accelerator from tensor maps or by every thread's cp.async, in the
// 128-byte-swizzled layout the warpgroup descriptors describe (wgmma.cuh).
#pragma once

#include "common.cuh"
#include "mma.cuh"
#include "params.cuh"
#include "smem.cuh"
#include "sweep_common.cuh"
#include "wgmma.cuh"

// The ring's layout in dynamic shared memory, and the sweep's shape.
namespace hopper {
constexpr int C = 64, D = 128, THREADS = 256, STAGES = 3;
constexpr u32 TILE = C * D * 2;         // one chunk of q, k or v: 16 KB
constexpr u32 STAGE = 3 * TILE;         // q, k, v
constexpr u32 STATE = D * D * 2;        // one 16-bit state copy: 32 KB
constexpr u32 TABLE = STAGES * STAGE + 2 * STATE;  // the lambda^m table (66 floats)
constexpr u32 BARS = TABLE + 384;       // TMA: one 8-byte transaction barrier per ring stage
constexpr u32 MASKS = TABLE + 512;      // the masked decay factors (2C floats, maskTable)
constexpr u32 OUTS = TABLE + 1024;      // the output staging: per warp 16 rows x 64 columns
constexpr u32 OUTBUF = 8 * 16 * 128;
// Dynamic shared memory: the above and the slack that aligns the base to 1024 bytes (smem.cuh,
// hopperSweep).
constexpr int SMEM = (int) sharedBytes::hopperSweep(STAGES);
static_assert(TABLE + 4 * (C + 2) <= BARS && BARS + 8 * STAGES <= MASKS && MASKS + 8 * C <= OUTS && SMEM == OUTS + OUTBUF + 1024,
              "sweepHopper buffers");
}  // namespace hopper

// The TMA variant's tensor maps of q, k and v (CUtensorMap, 128 opaque bytes each): rank 4,
// dimensions (column, token, head, batch), boxes of 64 columns x 64 tokens, 128-byte swizzle.
struct alignas(64) HopperMaps {
    unsigned long long q[16], k[16], v[16];
};

// TMA: tokens c0 .. c0+63 of q (when `full`), k and v as 64-column halves into one ring stage;
// tokens outside the sequence (past its end, or before its start for FLIP's boxes) are
// zero-filled by the unit (a chunk is partial only at the pass's last chunk).
__device__ __forceinline__ void hopperTmaChunk(const HopperMaps* m, bool full, int c0, int h, int b, unsigned char* stage, u32 bar) {
    using namespace hopper;
    const u32 s = smemAddr(stage);
    mbarExpectTx(bar, (full ? 3 : 2) * TILE);
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const u32 off = half * C * 128;
        if (full) tmaLoad4(s + off, m->q, 64 * half, c0, h, b, bar);
        tmaLoad4(s + TILE + off, m->k, 64 * half, c0, h, b, bar);
        tmaLoad4(s + 2 * TILE + off, m->v, 64 * half, c0, h, b, bar);
    }
}

// Chunk rows c0 .. c0+63 of q (when `full`), k and v into one ring stage (zeros past the end of
// the segment), 16 threads per 256-byte row: coalesced reads, swizzled writes.
template <typename T>
__device__ __forceinline__ void hopperIssueChunk(const SweepParams& p, const T* q, const T* k, const T* v, bool full, i64 c0,
                                                 i64 t1seg, unsigned char* stage) {
    using namespace hopper;
    const int n = (int) min((i64) C, t1seg - c0);
#pragma unroll
    for (int i = 0; i < C * 16 / THREADS; i++) {
        const int x = threadIdx.x + i * THREADS;
        const int a = x >> 4, col = (x & 15) * 8;
        const bool ok = a < n;
        const i64 t = c0 + (ok ? a : 0), tr = p.rev ? (p.N - 1 - t) : t;
        const u32 off = tileOffset(a, col, C);
        if (full) cpAsync16(stage + off, q + tr * p.kT + col, ok);
        cpAsync16(stage + TILE + off, k + tr * p.kT + col, ok);
        cpAsync16(stage + 2 * TILE + off, v + tr * p.vT + col, ok);
    }
    cpAsyncCommit();
}
