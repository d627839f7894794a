// The Hopper sweep for fp32 storage with Precision.TF32 (la2_sweep_hopper_tma_tf32_d128*: sm_90a,
// Dk = Dv = 128, tensor maps of fp32 q, k and v): the function and parameters of sweepWide's TF32
// instance (sweep_wide.cuh) on warpgroup products of scaled fp16 operands. Every pass of PassArgs
// without the w dot product: forward time, or reversed (FLIP, as the 16-bit Hopper sweep's: ring row
// r holds the chunk's token C - 1 - r in the pass's time); mode 1 (outputs) and mode 0 (a segment's
// local end state). One block of two warpgroups per sequence segment; chunks of 64 tokens. The
// forward's segments with a non-finite output are summed again on the fp32 FMA sweep, as the 16-bit
// Hopper forward's are (sweep_hopper_entries.cuh).
//
// fp16 has TF32's significand (10 stored bits) but not its exponent range, so every 16-bit operand
// carries a power-of-two scale that puts it in range; the scales are exact, and each rounding to
// 16 bits is TF32's wherever a value is within 2^28 of the largest of its row (or tile):
// - q, k and v rows: each row of 128 values scaled by 2^e, e chosen so that its largest magnitude
//   lies in [2^14, 2^15) (q^_a = 2^eq_a q_a, k^_b = 2^ek_b k_b, v^_b = 2^ev_b v_b). A row is converted
//   by 8 lanes, 16 values each, its maximum found by three shuffles.
// - The scores q^_a . k^_b (at most 128 2^30 = 2^37) are masked and decayed in fp32, times the
//   column factor 2^(-ek_b - ev_b - f), f = 22 + ceil(log2 max|mask|) + max_b(-ek_b - ev_b) for the
//   chunk, which bounds the masked scores P^ by 2^15; then P^ v^ = 2^(eq_a - f) (P v)_a.
// - The state copy S^ = 2^ES S for q S: ES from a bound on |S| carried along (the incoming state's
//   largest magnitude, then per chunk the decayed bound plus the chunk's largest possible
//   increment), so that S^ stays within 2^15 without a block reduction per chunk. q S's rows take
//   beta lambda^(a + ofs) 2^(-f - ES), which puts them in P^ v^'s units; o_a = 2^(f - eq_a) x.
// - The state update: A = (diag(w) K^)^T with w_b = kappa lambda^(cc-1-b) 2^(-ek_b - ev_b - g),
//   g = ceil(log2 max|kappa lambda^m|) + max_b(-ek_b - ev_b), so that |A| <= 2^15; the state's
//   registers hold 2^-g S, rescaled by 2^(g_prev - g) as each chunk starts; the incoming state
//   enters at 2^36 of those units.
// - Where the state's bound is far above a chunk's products (a chunk of zero keys after large
//   ones), g and f are raised so that the registers stay within 2^60 and an output's q S part within
//   2^100 of the accumulator's units; the output's factor is applied as two powers of two.
// ALGORITHM.md section 3.3 gives the bounds and the error.
//
// Shared memory: the chunk's fp32 q, k and v as TMA lands them (96 KB, boxes of 32 columns), a
// two-stage ring of their fp16 forms (48 KB a stage), one fp16 state copy (32 KB), tables. Per chunk
// i: the products of chunk i are issued (the scores and q S, the state update); while they run the
// block converts chunk i + 1 (landed a chunk earlier) into the other ring stage, and once every warp
// has (an arrival barrier), thread 0 issues chunk i + 2's loads into the fp32 stage; then the masked
// scores times v, and the outputs stored from the accumulators as fp32 pairs; a barrier (the state
// copy is free), the state copy for chunk i + 1, and a barrier that publishes the copy and the
// converted stage.
#pragma once

#include "smem.cuh"
#include "sweep_generic.cuh"
#include "sweep_hopper.cuh"

namespace hopperTf32 {
constexpr int C = 64, D = 128, THREADS = 256;
constexpr u32 F32TILE = C * D * 4;           // a chunk of q, k or v in fp32: four 32-column quarters
constexpr u32 TILE = C * D * 2;              // the same in fp16: two 64-column halves (tileOffset)
constexpr u32 RSTAGE = 3 * TILE;             // q^, k^, v^
constexpr u32 RING = 3 * F32TILE;            // after the fp32 tiles
constexpr u32 SCOPY = RING + 2 * RSTAGE;     // the fp16 state copy (128 x 128)
constexpr u32 TAB = SCOPY + D * D * 2;
constexpr u32 PW = TAB;                      // lambda^m, m = 0 .. C + 1
constexpr u32 BAR = TAB + 272;               // the fp32 stage's transaction barrier (landed)
constexpr u32 EMPTY = TAB + 280;             // and its arrival barrier (every warp done converting it)
constexpr u32 RED = TAB + 288;               // 8 floats: the initial state's largest magnitude per warp
constexpr u32 MASKS = TAB + 320;             // 2C floats (maskTable)
constexpr u32 ROWE = TAB + 832;              // [2 stages][q, k, v][64 rows]: the rows' exponents e (int8)
constexpr u32 END = ROWE + 2 * 3 * C;
constexpr int SMEM = (int) (END + 1024);     // and the slack that aligns the base to 1024 bytes
static_assert(SMEM == sharedBytes::hopperTf32(2), "smem.cuh's formula");
static_assert(4 * (C + 2) <= 272 && SMEM <= 232448, "hopperTf32: shared memory of one block");

// 2^E as a float, E clamped to the normal range from above; 0 below it.
__device__ __forceinline__ float pow2(int E) { return E < -126 ? 0.f : __uint_as_float((u32) (min(E, 127) + 127) << 23); }

// The exponent e that puts a row whose largest magnitude is mx in [2^14, 2^15); 0 for a non-finite
// row (its values convert as they are); the largest, 126, for a zero row (the zero-filled rows of a
// partial chunk among them), so that it never sets a chunk's largest column exponent
// max_b(-ek_b - ev_b), which would push the other rows' factors towards fp16's subnormals. Selects,
// not branches: the conversion's rows are independent and stay in flight together.
__device__ __forceinline__ int rowExponent(float mx) {
    const int ex = (int) ((__float_as_uint(mx) >> 23) & 255) - 127;
    const int e = max(-126, min(126, 14 - ex));
    return mx == 0.f ? 126 : (mx <= 3.4e38f ? e : 0);
}

// Byte offset of fp32 element (row, col) of a chunk tile as TMA lands it: 32-column quarters of 64
// rows of 128 bytes, 128-byte swizzle (16-byte piece c of row r at c ^ (r % 8)).
__device__ __forceinline__ u32 off32(int row, int col) {
    return (u32) ((col >> 5) * C * 128 + row * 128 + ((((col >> 2) & 7) ^ (row & 7)) << 4) + (col & 3) * 4);
}

// ceil(log2 x) for x > 0 (the exponent of the smallest power of two >= x); 0 for x = 0.
__device__ __forceinline__ int ceilLog2(float x) {
    if (x == 0.f) return 0;
    int e;
    const float m = frexpf(x, &e);  // x = m 2^e, m in [0.5, 1)
    return m == 0.5f ? e - 1 : e;
}

// The fp32 chunk at `stg` (q, k, v: rows 0 .. 63 each; FULL: q too) into the ring stage at `ring`,
// each row scaled by 2^e and rounded to fp16, e into rowe[tensor * 64 + row]. Row R = 32 it + 4 warp
// + lane / 8 of the 192 (or k and v's 128); lane % 8 takes columns 16 (lane % 8) .. + 15. Two rows
// (it, it + 1) at a time: the eight 16-byte loads of both are issued before either's maximum needs
// them, and the maxima are trees, so that the loads' latency (behind the products' operand reads) is
// paid once per pair.
template <bool FULL>
__device__ __forceinline__ void convertChunk(const unsigned char* stg, unsigned char* ring, signed char* rowe, int warp, int lane) {
    const int m = lane & 7;
#pragma unroll 1
    for (int it = FULL ? 0 : 2; it < 6; it += 2) {
        float x[2][16];
        int tns[2], row[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int R = 32 * (it + r) + 4 * warp + (lane >> 3);
            tns[r] = R >> 6;
            row[r] = R & 63;
            const unsigned char* src = stg + tns[r] * F32TILE;
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const float4 f = *(const float4*) (src + off32(row[r], 16 * m + 4 * u));
                x[r][4 * u] = f.x;
                x[r][4 * u + 1] = f.y;
                x[r][4 * u + 2] = f.z;
                x[r][4 * u + 3] = f.w;
            }
        }
        float mx[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            // fmaxf drops a NaN (a subtree of NaNs only gives NaN, dropped above it, and the last
            // fmaxf with 0 drops a row piece of NaNs only): the largest finite magnitude, as a chain
            // from 0 gives it. A row with a NaN among finite values takes their scale and the NaN
            // converts as a NaN (the forward sums such a segment again anyway).
            float a[8];
#pragma unroll
            for (int u = 0; u < 8; u++) a[u] = fmaxf(fabsf(x[r][2 * u]), fabsf(x[r][2 * u + 1]));
#pragma unroll
            for (int w = 4; w > 0; w >>= 1)
#pragma unroll
                for (int u = 0; u < w; u++) a[u] = fmaxf(a[u], a[u + w]);
            mx[r] = fmaxf(a[0], 0.f);
        }
#pragma unroll
        for (int d = 1; d < 8; d <<= 1)
#pragma unroll
            for (int r = 0; r < 2; r++) mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], d));
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int e = rowExponent(mx[r]);
            const float sc = pow2(e);
            u32 h[8];
#pragma unroll
            for (int u = 0; u < 8; u++) h[u] = pack2<__half>(x[r][2 * u] * sc, x[r][2 * u + 1] * sc);
            unsigned char* dst = ring + tns[r] * TILE;
            *(uint4*) (dst + tileOffset(row[r], 16 * m, C)) = make_uint4(h[0], h[1], h[2], h[3]);
            *(uint4*) (dst + tileOffset(row[r], 16 * m + 8, C)) = make_uint4(h[4], h[5], h[6], h[7]);
            if (m == 0) rowe[tns[r] * C + row[r]] = (signed char) e;
        }
    }
}
}  // namespace hopperTf32

// FULL = mode 1 (outputs), else mode 0 (the state alone); EXACT (the forward, mode 1): returns true,
// to every thread and without storing the state, where an output of the segment came out non-finite.
template <bool FULL, bool EXACT, bool FLIP>
__device__ bool sweepHopperTf32Mode(const SweepParams& p, const HopperMaps* maps) {
    using namespace hopperTf32;
    static_assert(!(EXACT && FLIP), "the forward walks forward in time");
    if (p.rev != (FLIP ? 1 : 0) || p.w || p.Dk != D || p.Dv != D) __trap();
    extern __shared__ __align__(128) unsigned char smraw[];
    unsigned char* sm = hopper::alignedBase(smraw);
    float* pw = (float*) (sm + PW);
    float* mt = (float*) (sm + MASKS);
    float* red = (float*) (sm + RED);
    signed char* rowe = (signed char*) (sm + ROWE);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wg = __shfl_sync(0xffffffffu, warp >> 2, 0), wq = warp & 3;
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    LA2_MARK(LA2_MARK_ENTRY);
    const hopper::Segment sg = hopper::blockSegment(p);
    const i64 seq = sg.seq, b = sg.b, h = sg.h, t0seg = sg.t0, t1seg = sg.t1;
    const int seg = sg.seg;
    const float s = sg.s;
    float* o = (float*) p.o + b * p.vB + h * p.vH;
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    for (int m = tid; m < C + 2; m += THREADS) pw[m] = lpow(s, (float) m);
    hopper::maskTable(mt, s, alpha, tid, THREADS);
    auto tokenOf = [](int r) { return FLIP ? C - 1 - r : r; };
    float nonFinite[4] = {};  // 0 * each output (four chains): zero, or NaN after a non-finite one
    const u32 bar = smemAddr(sm + BAR);
    auto issue = [&](i64 t) {
        if (tid != 0) return;
        const i64 c0 = FLIP ? p.N - C - t : t;  // the box's first token in memory order
        mbarExpectTx(bar, (FULL ? 3 : 2) * F32TILE);
        const u32 dst = smemAddr(sm);
#pragma unroll
        for (int x = 0; x < 4; x++) {
            if (FULL) tmaLoad4(dst + x * (C * 128), maps->q, 32 * x, (int) c0, (int) h, (int) b, bar);
            tmaLoad4(dst + F32TILE + x * (C * 128), maps->k, 32 * x, (int) c0, (int) h, (int) b, bar);
            tmaLoad4(dst + 2 * F32TILE + x * (C * 128), maps->v, 32 * x, (int) c0, (int) h, (int) b, bar);
        }
    };
    const u32 empty = smemAddr(sm + EMPTY);
    if (tid == 0) {
        mbarInit(bar, 1);
        mbarInit(empty, THREADS / 32);
    }
    fenceProxyAsync();
    __syncthreads();
    issue(t0seg);

    StateBand<__half, Mma<__half>, 16> band(64 * wg + 16 * wq, 0, 0);
    band.load(p, seq, seg, FULL);
    float st[2][32];
    float lm = 0.f;
#pragma unroll
    for (int i = 0; i < 64; i++) {
        st[i >> 5][i & 31] = band.st[i >> 2][i & 3];
        lm = fmaxf(lm, fabsf(st[i >> 5][i & 31]));
    }
#pragma unroll
    for (int x = 16; x > 0; x >>= 1) lm = fmaxf(lm, __shfl_xor_sync(0xffffffffu, lm, x));
    if (lane == 0) red[warp] = lm;
    mbarWait(bar, 0);
    convertChunk<FULL>(sm, sm + RING, rowe, warp, lane);
    fenceProxyAsync();
    __syncthreads();
    if (t0seg + C < t1seg) issue(t0seg + C);
    float bound = 0.f;
#pragma unroll
    for (int x = 0; x < 8; x++) bound = fmaxf(bound, red[x]);
    // the state's registers hold 2^-gPrev S, the incoming state's largest magnitude at 2^36 (a chunk
    // adds at most 2^36 in these units), and `bound` bounds them
    int gPrev = 0, es = 0;
    if (bound > 0.f) {
        gPrev = ceilLog2(bound) - 36;
#pragma unroll
        for (int x = 0; x < 32; x++) {
            st[0][x] = ldexpf(st[0][x], -gPrev);
            st[1][x] = ldexpf(st[1][x], -gPrev);
        }
        bound = ldexpf(bound, -gPrev);
    }
    // the 16-bit copy of the state registers times 2^z (the bound times 2^z at most 2^15); es the
    // copy's exponent against the true state
    auto copyState = [&]() {
        const int z = max(-126, min(127, 15 - ceilLog2(bound)));
        es = z - gPrev;
        hopper::copyStateRows<__half, false>(sm + SCOPY, st, wg, wq, lane, pow2(z));
    };
    if constexpr (FULL) copyState();
    fenceProxyAsync();
    __syncthreads();

    // the exponents of the largest masked decay factor and key weight
    const float growth = fmaxf(1.f, pw[C - 1]);
    const int aexp = ceilLog2(fabsf(alpha) * growth), kexp = ceilLog2(fabsf(kappa) * growth);
    int i = 0;
    for (i64 t0 = t0seg; t0 < t1seg; t0 += C, i++) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) p.ofs0 : 1;
        const int stage = i & 1;
        LA2_MARK(LA2_MARK_CHUNK);
        const u32 qa = smemAddr(sm + RING + stage * RSTAGE), ka = qa + TILE, va = qa + 2 * TILE;
        const unsigned char* kTile = sm + RING + stage * RSTAGE + TILE;
        const signed char* re = rowe + stage * 3 * C;
        // the chunk's largest column exponent -ek_b - ev_b
        int cmx = max(-(re[C + lane] + re[2 * C + lane]), -(re[C + 32 + lane] + re[2 * C + 32 + lane]));
#pragma unroll
        for (int x = 16; x > 0; x >>= 1) cmx = max(cmx, __shfl_xor_sync(0xffffffffu, cmx, x));
        // g and f as above, raised where the state's bound (2^logB) needs it: the state's registers
        // then stay within 2^60 (what a chunk adds, 2^36 at most, being 2^-24 of it when raised),
        // and the outputs' q S part within 2^100 of the accumulator's units
        const int logB = bound > 0.f ? ceilLog2(bound) + gPrev : -(1 << 20);
        const int gi = max(kexp + cmx, logB - 60), f = max(22 + aexp + cmx, logB - 78);
        const float carry = pw[cc - 1 + ofsi];
        const float pre = carry * pow2(gPrev - gi);
#pragma unroll
        for (int x = 0; x < 32; x++) {
            st[0][x] *= pre;
            st[1][x] *= pre;
        }
        bound = bound * pre + 68719476736.f;  // + 2^36: 64 tokens of |A| <= 2^15 times |v^| < 2^15
        gPrev = gi;
        pinRegisters(st[0]);
        pinRegisters(st[1]);
        float sc[32], ot[32];
        if constexpr (FULL) {
            wgmmaFence();
            wgmmaSsKMajor<__half>(sc, qa, C * 128, ka, C * 128);
            wgmmaSsNMajor<__half>(ot, qa, C * 128, smemAddr(sm + SCOPY) + wg * (D * 128));
            wgmmaCommit();
        }
        {
            u32 kt[4][4], none[1][4];
            hopper::weightedTransposed<__half, false>(kt, none, kTile, wg, wq, lane, [&](int r) {
                const int tb = tokenOf(r);
                return tb < cc ? kappa * pw[cc - 1 - tb] * pow2(-(re[C + r] + re[2 * C + r]) - cmx - kexp) : 0.f;
            });
            pinRegisters(kt);
            wgmmaFence();
            wgmmaRsTiles<__half>(st, kt, va, C * 128);
            wgmmaCommit();
        }
        // the next chunk, landed a chunk ago, into the other ring stage while the products run
        const bool next = t0 + C < t1seg;
        if (next) {
            mbarWait(bar, (i + 1) & 1);
            convertChunk<FULL>(sm, sm + RING + (stage ^ 1) * RSTAGE, rowe + (stage ^ 1) * 3 * C, warp, lane);
            // the fp32 stage is free once every warp has converted it: chunk i + 2's loads go out now,
            // not after the chunk's products
            warpArrive(empty, lane);
            if (tid == 0 && t0 + 2 * C < t1seg) {
                mbarWait(empty, i & 1);
                issue(t0 + 2 * C);
            }
        }
        if constexpr (FULL) {
            // column factors 2^(-ek_c - ev_c - f) of this thread's 16 score columns 8j + t2 (+ 1)
            float cf[16];
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int x = 0; x < 2; x++) {
                    const int c = 8 * j + t2 + x;
                    cf[2 * j + x] = pow2(-(re[C + c] + re[2 * C + c]) - f);
                }
            wgmmaWait<1>();
            pinRegisters(sc);
            pinRegisters(ot);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                sc[4 * j] *= cf[2 * j];
                sc[4 * j + 1] *= cf[2 * j + 1];
                sc[4 * j + 2] *= cf[2 * j];
                sc[4 * j + 3] *= cf[2 * j + 1];
            }
            u32 pa[4][4];
            hopper::maskScores<__half>(sc, pa, wq, lane, mt, tokenOf);
            hopper::scaleRows(ot, wq, lane, beta * pow2(-f - es), pw, ofsi, tokenOf);
            pinRegisters(pa);
            pinRegisters(ot);
            wgmmaFence();
            wgmmaRsTile<__half>(ot, pa, va + wg * (C * 128));
            wgmmaCommit();
        }
        wgmmaWait<0>();
        pinRegisters(st[0]);
        pinRegisters(st[1]);
        if constexpr (FULL) {
            pinRegisters(ot);
            if constexpr (EXACT) {
#pragma unroll
                for (int x = 0; x < 32; x++) nonFinite[x & 3] = fmaf(ot[x], 0.f, nonFinite[x & 3]);
            }
            if (p.writeOut) {
#pragma unroll
                for (int hr = 0; hr < 2; hr++) {
                    const int r = 16 * wq + g + 8 * hr, a = tokenOf(r);
                    if (a >= cc) continue;
                    // 2^(f - eq) in two factors: the product is in range where 2^(f - eq) alone is not
                    const int E = f - re[r];
                    const float f1 = pow2(E >> 1), f2 = pow2(E - (E >> 1));
                    const i64 t = t0 + a, tr = FLIP ? p.N - 1 - t : t;
                    float* orow = o + tr * p.vT + 64 * wg + t2;
#pragma unroll
                    for (int j = 0; j < 8; j++)
                        *(float2*) (orow + 8 * j) = make_float2(ot[4 * j + 2 * hr] * f1 * f2, ot[4 * j + 2 * hr + 1] * f1 * f2);
                }
            }
        }
        __syncthreads();  // every product of the chunk is done (the state copy is free)
        if constexpr (FULL) {
            if (next) copyState();
        }
        fenceProxyAsync();
        __syncthreads();  // the converted stage and the state copy are visible to the tensor cores
    }
    if constexpr (EXACT) {
        if (__syncthreads_or(p.writeOut && !(nonFinite[0] + nonFinite[1] + nonFinite[2] + nonFinite[3] == 0.f))) return true;
    }
#pragma unroll
    for (int x = 0; x < 64; x++) band.st[x >> 2][x & 3] = ldexpf(st[x >> 5][x & 31], gPrev);
    band.store(p, seq, seg, FULL, s);
    LA2_MARK(LA2_MARK_EXIT);
    return false;
}

// A forward segment again on the fp32 FMA sweep (sweep_generic.cuh) after a non-finite output: the
// tensor-core products cannot skip the masked half of a diagonal tile (0 * NaN is NaN); the FMA
// sweep sums only the tokens j <= a. Its buffers fit below the converted ring.
__device__ __noinline__ void sweepHopperTf32Again(SweepParams p) {
    static_assert(sharedBytes::fmaSweep(hopperTf32::D, hopperTf32::D, hopperTf32::C) <= hopperTf32::TAB, "the FMA sweep's buffers in the Hopper TF32 sweep's");
    p.ET = hopperTf32::D;
    p.C = hopperTf32::C;
    sweepGeneric<float>(p);
}

// The entry points (grid (sequences, segments), 256 threads, hopperTf32::SMEM bytes of dynamic shared
// memory; the tensor maps of fp32 q, k, v after the SweepParams, boxes of 32 columns x 64 tokens):
// the forward's (rev = 0, the exact re-sum), the backward's in forward time (_bwd, rev = 0) and
// reversed (_bwd_rev, rev = 1). Built only for sm_90a, as the 16-bit Hopper sweep's are.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
#define LA2_HOPPER_TF32_BODY(...) __VA_ARGS__
#else
#define LA2_HOPPER_TF32_BODY(...) __trap();
#endif
#define LA2_SWEEP_HOPPER_TF32(name) \
    extern "C" __global__ void __launch_bounds__(256, 1) name(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_TF32_BODY(if (p.mode != 1) { \
            sweepHopperTf32Mode<false, false, false>(p, &maps); \
        } else if (sweepHopperTf32Mode<true, true, false>(p, &maps)) { \
            __syncthreads(); \
            sweepHopperTf32Again(p); \
        }) \
    } \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_TF32_BODY(if (p.mode == 1) sweepHopperTf32Mode<true, false, false>(p, &maps); \
                             else sweepHopperTf32Mode<false, false, false>(p, &maps);) \
    } \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_bwd_rev(const SweepParams p, const __grid_constant__ HopperMaps maps) { \
        LA2_HOPPER_TF32_BODY(if (p.mode == 1) sweepHopperTf32Mode<true, false, true>(p, &maps); \
                             else sweepHopperTf32Mode<false, false, true>(p, &maps);) \
    }
