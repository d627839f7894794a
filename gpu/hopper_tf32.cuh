// A Hopper sweep for fp32 storage with TF32 products (lab only: hopper-lab's tf32 section checks
// it against the wide TF32 sweep, la2_sweep_wide_tf32_d128 and its _bwd, on every pass, and times
// both). D = E = 128, chunks of 64 tokens; mode 1 (outputs; the forward with the EXACT re-sum of
// non-finite outputs) and mode 0 (a segment's local end state); reversed passes (dv, dk) load
// their boxes in memory order as the 16-bit sweep's FLIP does (ring row r = the chunk's token
// C - 1 - r in the pass's time).
//
// wgmma takes tf32 operands from shared memory K-major only (no transpose), and an fp32 chunk of
// q, k and v is 96 KB, so the layout differs from the 16-bit sweep's (sweep_hopper.cuh):
// - Two blocks per sequence, each owning half of the value columns (64): per block a two-stage
//   ring of q, k (32 KB each) and its v half (16 KB), its half of the state (128 x 64) in
//   registers, and one transposed fp32 copy S^T (64 x 128, 32 KB), K-major for q S. The grid
//   pairs the halves of a sequence (blockIdx.x = 2 seq + half), so that the second block's reads
//   of q and k meet the first's in L2.
// - v enters its products with the tokens as the contraction, so every chunk the threads write
//   v's half transposed (v^T, 64 x 64, K-major). Its tokens are permuted within each group of 8
//   (token 2i at position i, token 2i + 1 at i + 4): then the masked scores' accumulator pairs are
//   the A fragments of P V as they lie (the tf32 A layout holds k = t and t + 4 where the
//   accumulator holds columns 2t and 2t + 1), and the state update's A = (diag(wk) K)^T is loaded
//   from k with the same permutation.
// - R = 1 (template argument): q, k and v are rounded to tf32 (cvt.rna) in shared memory as the
//   chunk lands, as the mma.sync TF32 sweeps round their fragments; with R = 0 the tensor cores
//   truncate them.
// Per chunk: wait for the ring stage; barrier A (everybody is done with the previous chunk); issue
// the next chunk's loads; round the tiles, write v^T and the state copy; barrier B; then the
// scores Q K^T (each warpgroup the whole 64 x 64) and q S (warpgroup w: columns 32w.. of the
// half), the state update (warpgroup w: rows 64w..), the masked scores times v onto the outputs,
// and the outputs stored from the accumulators (8-byte pairs: whole 32-byte sectors).
#pragma once

#include "../la2-backend-cuda/src/main/cuda/sweep_hopper.cuh"

namespace tf32h {
constexpr int C = 64, D = 128, EH = 64, THREADS = 256, STAGES = 2;
constexpr u32 QK = C * D * 4;                  // a chunk of q or k: four 32-column quarters
constexpr u32 VH = C * EH * 4;                 // a chunk of v's half: two quarters
constexpr u32 STAGE = 2 * QK + VH;             // q, k, v half: 80 KB
constexpr u32 VTR = STAGES * STAGE;            // v^T [EH][C], tokens permuted
constexpr u32 SCOPY = VTR + VH;                // S^T [EH][D]
constexpr u32 TABLE = SCOPY + EH * D * 4;      // lambda^m (66 floats)
constexpr u32 BARS = TABLE + 384;              // one transaction barrier per ring stage
constexpr int SMEM = (int) (TABLE + 512 + 1024);  // and the slack that aligns the base
static_assert(SMEM <= 227 * 1024, "tf32h: shared memory of one SM");

// Byte offset of fp32 element (row, col) in a tile of `rows` rows stored as 32-column quarters
// with the 128-byte swizzle (16-byte piece c of row r at c ^ (r % 8)), base 1024-byte aligned.
__device__ __forceinline__ u32 off(int row, int col, int rows) {
    return (u32) ((col >> 5) * rows * 128 + row * 128 + ((((col >> 2) & 7) ^ (row & 7)) << 4) + (col & 3) * 4);
}
// v^T's column of token t (permuted within groups of 8)
__device__ __forceinline__ int tokenPos(int t) { return (t & ~7) + ((t & 7) >> 1) + 4 * (t & 1); }
__device__ __forceinline__ float roundTf32(float x) { return __uint_as_float(tf32(x)); }
}  // namespace tf32h

// The tensor maps (HopperMaps) of fp32 q, k and v: rank 4 (column, token, head, batch), boxes of 32
// columns x 64 tokens, 128-byte swizzle.

template <int N> struct WgmmaTf32;
template <> struct WgmmaTf32<64> {
    // D[64 x 64] (+)= A[64 x 8] B[8 x 64], both from shared memory (K-major); D = A B when !accumulate
    static __device__ __forceinline__ void ss(float (&d)[32], u64 a, u64 b, int accumulate) {
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1;\n}\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                     : "l"(a), "l"(b), "r"(accumulate));
    }
    // D[64 x 64] += A[64 x 8] B[8 x 64], A from registers (tf32 bits, ALayout: a[0] row g k t, a[1] row g + 8, a[2] k t + 4, a[3] both)
    static __device__ __forceinline__ void rs(float (&d)[32], const u32 (&a)[4], u64 b) {
        asm volatile("wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, 1, 1, 1;\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
    }
};

template <> struct WgmmaTf32<32> {
    // D[64 x 32] (+)= A[64 x 8] B[8 x 32], both from shared memory (K-major); D = A B when !accumulate
    static __device__ __forceinline__ void ss(float (&d)[16], u64 a, u64 b, int accumulate) {
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1;\n}\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                     : "l"(a), "l"(b), "r"(accumulate));
    }
    // D[64 x 32] += A[64 x 8] B[8 x 32], A from registers (tf32 bits, ALayout: a[0] row g k t, a[1] row g + 8, a[2] k t + 4, a[3] both)
    static __device__ __forceinline__ void rs(float (&d)[16], const u32 (&a)[4], u64 b) {
        asm volatile("wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, {%16, %17, %18, %19}, %20, 1, 1, 1;\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
    }
};

// A non-finite output element (a, c) of the chunk computed again with the causal sum over tokens
// j <= a alone (sweep_common.cuh, causalSum, says why): the masked scores rounded to tf32 as the
// tensor-core path rounds them, times column c of the block's v half, plus f q_a S[:, c] from the
// state copy.
static __device__ __noinline__ float hopperResumTf32(const unsigned char* stage, const unsigned char* scopy, const float* pw, int a, int c,
                                              float alpha, float f) {
    using namespace tf32h;
    auto at = [](const unsigned char* base, int row, int col, int rows) { return *(const float*) (base + off(row, col, rows)); };
    float qs = 0.f;
    for (int d = 0; d < D; d++) qs = fmaf(at(stage, a, d, C), at(scopy, c, d, EH), qs);
    float av = 0.f;
    for (int j = 0; j <= a; j++) {
        float dot = 0.f;
        for (int d = 0; d < D; d++) dot = fmaf(at(stage, a, d, C), at(stage + QK, j, d, C), dot);
        av = fmaf(roundTf32(alpha * pw[a - j] * dot), at(stage + 2 * QK, j, c, C), av);
    }
    return av + f * qs;
}

// The per-chunk steps of a warpgroup's outputs (rows 16 wq + g (+ 8) of the chunk, columns 32 wg..
// of the block's half, m64n32 accumulators), shared by the sweeps here and in hopper_tf32_ws.cuh;
// FLIP: ring row r is the chunk's token C - 1 - r.
namespace tf32h {
template <bool FLIP>
__device__ __forceinline__ int tokenOfRow(int r) { return FLIP ? C - 1 - r : r; }

// A chunk's tiles as the products read them, `threads` threads from `thread` on: bytes from..2 QK
// of the stage (q and k, or k alone) rounded to tf32 in place (R = 1), and v's half written
// transposed into vt (a warp takes 32 consecutive tokens of 4 columns: reads and writes free of
// bank conflicts), rounded with R.
template <int R>
__device__ __forceinline__ void prepareChunkTf32(unsigned char* stage, unsigned char* vt, u32 from, int thread, int threads) {
    if constexpr (R != 0) {
#pragma unroll 4
        for (u32 x = from + 16 * thread; x < 2 * QK; x += 16 * threads) {
            float4 f = *(const float4*) (stage + x);
            f = make_float4(roundTf32(f.x), roundTf32(f.y), roundTf32(f.z), roundTf32(f.w));
            *(float4*) (stage + x) = f;
        }
    }
#pragma unroll 4
    for (int x = thread; x < C * EH / 4; x += threads) {
        const int tok = x & 63, c4 = (x >> 6) * 4;
        float4 f = *(const float4*) (stage + 2 * QK + off(tok, c4, C));
        if constexpr (R != 0) f = make_float4(roundTf32(f.x), roundTf32(f.y), roundTf32(f.z), roundTf32(f.w));
        const int pos = tokenPos(tok);
        *(float*) (vt + off(c4, pos, EH)) = f.x;
        *(float*) (vt + off(c4 + 1, pos, EH)) = f.y;
        *(float*) (vt + off(c4 + 2, pos, EH)) = f.z;
        *(float*) (vt + off(c4 + 3, pos, EH)) = f.w;
    }
}

// The state copy q S reads: S^T (rows e, columns d) from this thread's rows 64 wg + 16 wq + g (+ 8)
// of the state half, rounded to tf32.
__device__ __forceinline__ void writeStateCopyTf32(unsigned char* scopy, const float (&st)[32], int wg, int wq, int lane) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int d = 64 * wg + 16 * wq + g + 8 * (r >> 1), e = 8 * j + t2 + (r & 1);
            *(float*) (scopy + off(e, d, EH)) = roundTf32(st[4 * j + r]);
        }
}

// The byte offset of k-step kk (8 columns) of a K-major operand of `rows` rows (32-column quarters).
__device__ __forceinline__ u32 kOff(int kk, int rows) { return (u32) ((kk >> 2) * rows * 128 + (kk & 3) * 32); }

// Issues (fenced, committed) the scores Q K^T (the whole 64 x 64 tile) into sc and q S (columns
// 32 wg.. of the block's half, B = the state copy S^T at sa) into ot, q and k tiles at qa and ka.
__device__ __forceinline__ void issueScoresTf32(float (&sc)[32], float (&ot)[16], u32 qa, u32 ka, u32 sa, int wg) {
    wgmmaFence();
#pragma unroll
    for (int kk = 0; kk < D / 8; kk++) WgmmaTf32<64>::ss(sc, smemDesc(qa + kOff(kk, C)), smemDesc(ka + kOff(kk, C)), kk > 0);
#pragma unroll
    for (int kk = 0; kk < D / 8; kk++) WgmmaTf32<32>::ss(ot, smemDesc(qa + kOff(kk, C)), smemDesc(sa + kOff(kk, EH) + 32 * wg * 128), kk > 0);
    wgmmaCommit();
}

// Issues (fenced, committed) S <- S + (diag(wk) K)^T V onto the state accumulators st: A = rows
// 64 wg + 16 wq + g (+ 8) of K^T from the k tile at kb, k-step j = positions 8j.. of v^T at vt
// (tokens 8j + 2t and 8j + 2t + 1 at k = t and t + 4), weighted and rounded.
template <bool FLIP>
__device__ __forceinline__ void issueStateUpdateTf32(float (&st)[32], const unsigned char* kb, u32 vt, int wg, int wq, int lane, int cc,
                                                     float kappa, const float* pw) {
    const int g = lane >> 2, t2 = (lane & 3) * 2, d0 = 64 * wg + 16 * wq + g;
    u32 kt[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int ta = 8 * j + t2, tb = ta + 1, ua = tokenOfRow<FLIP>(ta), ub = tokenOfRow<FLIP>(tb);
        const float wa = ua < cc ? kappa * pw[cc - 1 - ua] : 0.f, wb = ub < cc ? kappa * pw[cc - 1 - ub] : 0.f;
        kt[j][0] = tf32(wa * *(const float*) (kb + off(ta, d0, C)));
        kt[j][1] = tf32(wa * *(const float*) (kb + off(ta, d0 + 8, C)));
        kt[j][2] = tf32(wb * *(const float*) (kb + off(tb, d0, C)));
        kt[j][3] = tf32(wb * *(const float*) (kb + off(tb, d0 + 8, C)));
    }
    pinRegisters(kt);
    wgmmaFence();
#pragma unroll
    for (int j = 0; j < 8; j++) WgmmaTf32<64>::rs(st, kt[j], smemDesc(vt + kOff(j, EH)));
    wgmmaCommit();
}

// The masked, decayed scores (accumulators sc of Q K^T) as A fragments of k-step j (columns 8j + 2t
// and 8j + 2t + 1 at k = t and t + 4: v^T's permutation), rounded to tf32; q S's rows (ot) scaled
// by beta lambda^(a + ofs).
template <bool FLIP>
__device__ __forceinline__ void maskScoresTf32(const float (&sc)[32], u32 (&pa)[8][4], float (&ot)[16], int wq, int lane, float alpha,
                                               float beta, const float* pw, int ofsi) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int a = tokenOfRow<FLIP>(16 * wq + g + 8 * hr), c0 = tokenOfRow<FLIP>(8 * j + t2), c1 = tokenOfRow<FLIP>(8 * j + t2 + 1);
            const float x0 = c0 <= a ? alpha * pw[a - c0] * sc[4 * j + 2 * hr] : 0.f;
            const float x1 = c1 <= a ? alpha * pw[a - c1] * sc[4 * j + 2 * hr + 1] : 0.f;
            pa[j][hr] = tf32(x0);
            pa[j][2 + hr] = tf32(x1);
        }
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        const float f = beta * pw[tokenOfRow<FLIP>(16 * wq + g + 8 * hr) + ofsi];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            ot[4 * j + 2 * hr] *= f;
            ot[4 * j + 2 * hr + 1] *= f;
        }
    }
}

// Once the scores and q S (the older of the two groups in flight) are done: the masked scores
// times v^T's columns 32 wg.. onto ot (issued, fenced and committed).
template <bool FLIP>
__device__ __forceinline__ void issueMaskedProductTf32(float (&sc)[32], float (&ot)[16], u32 vt, int wg, int wq, int lane, float alpha,
                                                       float beta, const float* pw, int ofsi) {
    wgmmaWait<1>();
    pinRegisters(sc);
    pinRegisters(ot);
    u32 pa[8][4];
    maskScoresTf32<FLIP>(sc, pa, ot, wq, lane, alpha, beta, pw, ofsi);
    pinRegisters(pa);
    pinRegisters(ot);
    wgmmaFence();
#pragma unroll
    for (int j = 0; j < 8; j++) WgmmaTf32<32>::rs(ot, pa[j], smemDesc(vt + kOff(j, EH) + 32 * wg * 128));
    wgmmaCommit();
}

// The forward's non-finite outputs computed again (hopperResumTf32) from the stage and the state copy.
__device__ __forceinline__ void resumNonFiniteTf32(float (&ot)[16], const unsigned char* stage, const unsigned char* scopy, const float* pw,
                                                   int wg, int wq, int lane, float alpha, float beta, int ofsi) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    bool leaked = false;
#pragma unroll
    for (int x = 0; x < 16; x++) leaked |= !isfinite(ot[x]);
    if (!leaked) return;
#pragma unroll
    for (int x = 0; x < 16; x++) {
        if (!isfinite(ot[x])) {
            const int a = 16 * wq + g + 8 * ((x & 3) >> 1), c = 32 * wg + 8 * (x >> 2) + t2 + (x & 1);
            ot[x] = hopperResumTf32(stage, scopy, pw, a, c, alpha, beta * pw[a + ofsi]);
        }
    }
}

// The outputs into o (the block's half, token 0 of the sequence) as 8-byte pairs, rows past the
// chunk's end skipped.
template <bool FLIP>
__device__ __forceinline__ void storeOutputsTf32(const float (&ot)[16], float* o, const SweepParams& p, i64 t0, int cc, int wg, int wq,
                                                 int lane) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        const int a = tokenOfRow<FLIP>(16 * wq + g + 8 * hr);
        if (a >= cc) continue;
        const i64 t = t0 + a, tr = FLIP ? p.N - 1 - t : t;
        float* orow = o + tr * p.vT + 32 * wg + t2;
#pragma unroll
        for (int j = 0; j < 4; j++) *(float2*) (orow + 8 * j) = make_float2(ot[4 * j + 2 * hr], ot[4 * j + 2 * hr + 1]);
    }
}
}  // namespace tf32h

// FULL = mode 1 (outputs), else mode 0 (the state alone); EXACT: the forward's re-sum; FLIP: a
// reversed pass (p.rev = 1); R = 1: round the tiles (above); Q = 1: q enters both of its products
// as register A fragments (loaded, and rounded with R, once per chunk; no shared-memory pass over q).
template <bool FULL, bool EXACT, bool FLIP, int R, int Q = 0>
__device__ void sweepHopperTf32Mode(const SweepParams& p, const HopperMaps* maps) {
    using namespace tf32h;
    static_assert(!(FLIP && EXACT), "the re-sum reads ring rows in time order");
    // the tensor maps fix the layout ([B][H][N][128] fp32); no dot product (a TF32 call's decay
    // gradient takes the fp32-copy route)
    if (p.rev != (FLIP ? 1 : 0) || p.w || p.Dk != D || p.Dv != D) __trap();
    extern __shared__ __align__(128) unsigned char smraw[];
    unsigned char* sm = smraw + ((1024 - (smemAddr(smraw) & 1023)) & 1023);
    float* pw = (float*) (sm + TABLE);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wg = warp >> 2, wq = warp & 3, g = lane >> 2;
    const i64 seq = blockIdx.x >> 1;
    const int half = blockIdx.x & 1, seg = blockIdx.y;
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    const i64 t0seg = (i64) seg * p.L;
    const i64 t1seg = min(p.N, t0seg + p.L);
    float* o = (float*) p.o + b * p.vB + h * p.vH + 64 * half;
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    for (int m = tid; m < C + 2; m += THREADS) pw[m] = lpow(s, (float) m);
    const u32 bars = smemAddr(sm + BARS);
    // tokens c0 .. c0 + 63 (pass time) of q (mode 1), k and v's half into ring stage st; tokens
    // outside the sequence come in as zeros
    auto issue = [&](i64 t, int st) {
        if (tid != 0) return;
        const int c0 = (int) (FLIP ? p.N - C - t : t);  // the box's first token in memory order
        const u32 dst = smemAddr(sm + st * STAGE), bar = bars + 8 * st;
        mbarExpectTx(bar, FULL ? STAGE : QK + VH);
#pragma unroll
        for (int x = 0; x < 4; x++) {
            if (FULL) tmaLoad4(dst + x * (C * 128), maps->q, 32 * x, c0, (int) h, (int) b, bar);
            tmaLoad4(dst + QK + x * (C * 128), maps->k, 32 * x, c0, (int) h, (int) b, bar);
        }
#pragma unroll
        for (int x = 0; x < 2; x++) tmaLoad4(dst + 2 * QK + x * (C * 128), maps->v, 64 * half + 32 * x, c0, (int) h, (int) b, bar);
    };
    if (tid == 0) {
        for (int x = 0; x < STAGES; x++) mbarInit(bars + 8 * x, 1);
    }
    fenceProxyAsync();
    __syncthreads();
    issue(t0seg, 0);

    // the state half: rows 64 wg + 16 wq + g (+ 8), columns 64 half + 8j + 2t (+ 1), in the
    // m64n64 accumulator layout (StateBand's with r0 = 64 wg + 16 wq)
    StateBand<float, Mma<float>, 8> band(64 * wg + 16 * wq, 0, 64 * half);
    band.load(p, seq, seg, FULL);
    float st[32];
#pragma unroll
    for (int x = 0; x < 32; x++) st[x] = band.st[x >> 2][x & 3];

    int i = 0;
    for (i64 t0 = t0seg; t0 < t1seg; t0 += C, i++) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) p.ofs0 : 1;
        unsigned char* stage = sm + (i & 1) * STAGE;
        mbarWait(bars + 8 * (i & 1), (i >> 1) & 1);
        __syncthreads();  // A: everybody is done with the previous chunk's stage, v^T and state copy
        if (t0 + C < t1seg) issue(t0 + C, (i + 1) & 1);
        prepareChunkTf32<R>(stage, sm + VTR, FULL && Q == 0 ? 0 : QK, tid, THREADS);
        if constexpr (FULL) writeStateCopyTf32(sm + SCOPY, st, wg, wq, lane);
        fenceProxyAsync();
        __syncthreads();  // B: the tiles, v^T and the state copy are visible to the tensor cores

        const float carry = pw[cc - 1 + ofsi];
#pragma unroll
        for (int x = 0; x < 32; x++) st[x] *= carry;
        pinRegisters(st);
        const u32 qa = smemAddr(stage), ka = qa + QK, vt = smemAddr(sm + VTR), sa = smemAddr(sm + SCOPY);
        float sc[32], ot[16];  // written by the first product of each (accumulate = 0)
        if constexpr (FULL && Q == 0) issueScoresTf32(sc, ot, qa, ka, sa, wg);
        if constexpr (FULL && Q != 0) {
            // A fragments of q: rows 16 wq + g (+ 8), columns 8 kk + t (+ 4)
            u32 qf[D / 8][4];
            const int t = lane & 3;
#pragma unroll
            for (int kk = 0; kk < D / 8; kk++)
#pragma unroll
                for (int x = 0; x < 4; x++) {
                    const float f = *(const float*) (stage + off(16 * wq + g + 8 * (x & 1), 8 * kk + t + 4 * (x >> 1), C));
                    qf[kk][x] = R != 0 ? tf32(f) : __float_as_uint(f);
                }
#pragma unroll
            for (int x = 0; x < 32; x++) sc[x] = 0.f;
#pragma unroll
            for (int x = 0; x < 16; x++) ot[x] = 0.f;
            pinRegisters(qf);
            pinRegisters(sc);
            pinRegisters(ot);
            wgmmaFence();
#pragma unroll
            for (int kk = 0; kk < D / 8; kk++) WgmmaTf32<64>::rs(sc, qf[kk], smemDesc(ka + kOff(kk, C)));
#pragma unroll
            for (int kk = 0; kk < D / 8; kk++) WgmmaTf32<32>::rs(ot, qf[kk], smemDesc(sa + kOff(kk, EH) + 32 * wg * 128));
            wgmmaCommit();
        }
        issueStateUpdateTf32<FLIP>(st, stage + QK, vt, wg, wq, lane, cc, kappa, pw);
        if constexpr (FULL) issueMaskedProductTf32<FLIP>(sc, ot, vt, wg, wq, lane, alpha, beta, pw, ofsi);
        wgmmaWait<0>();
        pinRegisters(st);
        if constexpr (FULL) {
            pinRegisters(ot);
            if constexpr (EXACT) resumNonFiniteTf32(ot, stage, sm + SCOPY, pw, wg, wq, lane, alpha, beta, ofsi);
            if (p.writeOut) storeOutputsTf32<FLIP>(ot, o, p, t0, cc, wg, wq, lane);
        }
    }
#pragma unroll
    for (int x = 0; x < 32; x++) band.st[x >> 2][x & 3] = st[x];
    band.store(p, seq, seg, FULL, s);
}

// grid (2 x sequences, segments), 256 threads, tf32h::SMEM bytes of dynamic shared memory: the
// forward's entry point (EXACT), the backward's in forward time and reversed.
template <int R, int Q = 0>
__global__ void __launch_bounds__(256, 1) labHopperTf32(const SweepParams p, const __grid_constant__ HopperMaps maps) {
    if (p.mode == 1) sweepHopperTf32Mode<true, true, false, R, Q>(p, &maps);
    else sweepHopperTf32Mode<false, true, false, R, Q>(p, &maps);
}
template <int R, bool FLIP, int Q = 0>
__global__ void __launch_bounds__(256, 1) labHopperTf32Bwd(const SweepParams p, const __grid_constant__ HopperMaps maps) {
    if (p.mode == 1) sweepHopperTf32Mode<true, false, FLIP, R, Q>(p, &maps);
    else sweepHopperTf32Mode<false, false, FLIP, R, Q>(p, &maps);
}
