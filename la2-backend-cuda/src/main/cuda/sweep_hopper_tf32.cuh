// The Hopper sweep for fp32 storage with Precision.TF32 (la2_sweep_hopper_tma_tf32_d128*: sm_90a,
// Dk = Dv = 128, tensor maps of fp32 q, k and v): the function and parameters of sweepWide's TF32
// instance (sweep_wide.cuh) on warpgroup products of scaled fp16 operands. Every pass of PassArgs
// without the w dot product: forward time, or reversed (FLIP, as the 16-bit Hopper sweep's: ring row
// r holds the chunk's token C - 1 - r in the pass's time); mode 1 (outputs) and mode 0 (a segment's
// local end state). One block of three warpgroups per sequence segment; chunks of 64 tokens. This
// file holds the two roles' walks; sweep_hopper_tf32_entries.cuh the blocks and entry points (one
// pass a launch, or the backward's three passes walked one after the other) and the forward's re-sum
// of segments with a non-finite output on the fp32 FMA sweep, as the 16-bit Hopper forward's.
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
// Three warpgroups, 384 threads: two multiply (threads 0..255; warpgroup wg owns state rows 64 wg..
// and output columns 64 wg..) and one converts (threads 256..383). Shared memory: the chunk's fp32
// q, k and v as TMA lands them (three tiles of 32 KB in boxes of 32 columns, each with its own
// transaction barrier), a two-stage ring of their fp16 forms (48 KB a stage), one fp16 state copy
// (32 KB), tables. The converting warpgroup walks a chunk ahead: it converts each tile of chunk
// i + 1, as it lands, into the ring stage that the products of chunk i - 1 have left (an arrival
// barrier of the 8 multiplying warps), and as soon as its four warps are done reading a tile (a
// named barrier) that tile's load for chunk i + 2 goes out, so that loads stay in flight while the
// other tiles convert; the converted stage is handed on by an arrival barrier of its four warps.
// Per chunk the multiplying warpgroups write the state copy for q S while the chunk's scores run
// (between two named barriers: each warpgroup's q S reads the rows the other writes), issue q S and
// the state update, then the masked scores times v; then (mode 1) they wait for the next chunk's
// converted stage and issue its scores, which run while this chunk's outputs are stored (16 bytes a
// lane: adjacent lanes trade column pairs), so that a chunk's scores are off its chain.
#pragma once

#include "smem.cuh"
#include "sweep_generic.cuh"
#include "sweep_hopper.cuh"

namespace hopperTf32 {
constexpr int C = 64, D = 128, THREADS = 384;
constexpr int MATH = 256;                    // the multiplying warpgroups' threads; the converting one's follow
constexpr u32 F32TILE = C * D * 4;           // a chunk of q, k or v in fp32: four 32-column quarters
constexpr u32 TILE = C * D * 2;              // the same in fp16: two 64-column halves (tileOffset)
constexpr u32 RSTAGE = 3 * TILE;             // q^, k^, v^
constexpr u32 RING = 3 * F32TILE;            // after the fp32 tiles
constexpr u32 SCOPY = RING + 2 * RSTAGE;     // the fp16 state copy (128 x 128)
constexpr u32 TAB = SCOPY + D * D * 2;
constexpr u32 PW = TAB;                      // lambda^m, m = 0 .. C + 1
constexpr u32 RED = TAB + 272;               // 8 floats: the initial state's largest magnitude per multiplying warp
constexpr u32 BARS = TAB + 304;              // landed[q, k, v] (transactions), converted[2], freed[2] (per ring stage)
constexpr u32 MASKS = TAB + 384;             // 2C floats (maskTable)
constexpr u32 ROWE = TAB + 896;              // [2 stages][q, k, v][64 rows]: the rows' exponents e (int8)
constexpr u32 END = ROWE + 2 * 3 * C;
constexpr int SMEM = (int) (END + 1024);     // and the slack that aligns the base to 1024 bytes
static_assert(SMEM == sharedBytes::hopperTf32(2), "smem.cuh's formula");
static_assert(4 * (C + 2) <= 272 && RED + 32 <= BARS && BARS + 7 * 8 <= MASKS && SMEM <= 232448, "hopperTf32: shared memory of one block");
// Registers a thread (setmaxnreg, as decay_hopper.cuh's): the launch gives each 168, and the
// converting warpgroup hands 80 of each thread's to the multiplying ones (40 to each of theirs).
constexpr int LAUNCH_REGS = 168, MATH_REGS = 208, CONVERT_REGS = 88;
static_assert(2 * MATH_REGS + CONVERT_REGS <= 3 * LAUNCH_REGS && LAUNCH_REGS * THREADS <= 65536, "the register file");
constexpr int MATH_BAR = 1, CONVERT_BAR = 2;  // named barriers of the multiplying and of the converting warps

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

// ceil(log2 x) for x > 0 (the exponent of the smallest power of two >= x); 0 for x = 0.
__device__ __forceinline__ int ceilLog2(float x) {
    if (x == 0.f) return 0;
    int e;
    const float m = frexpf(x, &e);  // x = m 2^e, m in [0.5, 1)
    return m == 0.5f ? e - 1 : e;
}

// Tile x of a landed fp32 chunk at `src` into its fp16 form at `dst`, each row scaled by 2^e and
// rounded to fp16, e into rowe[row]; by the converting warpgroup's warp cw (0..3), rows 16 cw ..
// + 15, eight at a time: lane l takes row 16 cw + 8 it + l % 8 and its 32 columns of quarter l / 8.
// TMA lands a tile as four 32-column quarters of 64 rows of 128 bytes with the 128-byte swizzle
// (16-byte piece c of row r at c ^ (r % 8)), so the eight lanes of a shared-memory phase, eight
// rows, read eight different bank groups, and write eight in the fp16 tile; a lane's eight loads
// are in flight together, and the row's maximum is a tree, then two shuffles across the quarters.
__device__ __forceinline__ void convertTile(const unsigned char* src, unsigned char* dst, signed char* rowe, int cw, int lane) {
    const int r8 = lane & 7, cq = lane >> 3;
#pragma unroll 1
    for (int it = 0; it < 2; it++) {
        const int row = 16 * cw + 8 * it + r8;
        const unsigned char* rp = src + cq * (C * 128) + row * 128;
        float x[32];
#pragma unroll
        for (int u = 0; u < 8; u++) {
            const float4 f = *(const float4*) (rp + ((u ^ r8) << 4));
            x[4 * u] = f.x;
            x[4 * u + 1] = f.y;
            x[4 * u + 2] = f.z;
            x[4 * u + 3] = f.w;
        }
        // fmaxf drops a NaN (a subtree of NaNs only gives NaN, dropped above it, and the last fmaxf
        // with 0 drops a quarter of NaNs only): the largest finite magnitude, as a chain from 0 gives
        // it. A row with a NaN among finite values takes their scale and the NaN converts as a NaN
        // (the forward sums such a segment again anyway).
        float a[8];
#pragma unroll
        for (int u = 0; u < 8; u++) a[u] = fmaxf(fmaxf(fabsf(x[4 * u]), fabsf(x[4 * u + 1])), fmaxf(fabsf(x[4 * u + 2]), fabsf(x[4 * u + 3])));
#pragma unroll
        for (int w = 4; w > 0; w >>= 1)
#pragma unroll
            for (int u = 0; u < w; u++) a[u] = fmaxf(a[u], a[u + w]);
        float mx = fmaxf(a[0], 0.f);
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 8));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 16));
        const int e = rowExponent(mx);
        const float sc = pow2(e);
#pragma unroll
        for (int u = 0; u < 4; u++) {
            u32 h[4];
#pragma unroll
            for (int v = 0; v < 4; v++) h[v] = pack2<__half>(x[8 * u + 2 * v] * sc, x[8 * u + 2 * v + 1] * sc);
            *(uint4*) (dst + tileOffset(row, 32 * cq + 8 * u, C)) = make_uint4(h[0], h[1], h[2], h[3]);
        }
        if (cq == 0) rowe[row] = (signed char) e;
    }
}

// The walk after this one in a chain (sweep_hopper_tf32_entries.cuh), whose first chunk this one
// loads: its tensor maps (null: none) and direction; it walks the same segment of a pass as long.
struct NextWalk {
    const HopperMaps* maps = nullptr;
    bool flip = false;
};

// What both roles share: the shared memory's base, the block's segment, its barriers' addresses;
// `base`, the chunks the block walked before this walk (a chain counts ring stages and barrier
// phases on across its walks), `ahead` where the walk before loaded this walk's first chunk, and
// the walk after.
struct Walk {
    unsigned char* sm;
    hopper::Segment sg;
    u32 landed, converted, freed;  // landed + 8 x: fp32 tile x; converted and freed + 8 stage: ring stage
    int base = 0;
    bool ahead = false;
    NextWalk next;
};

// Tile x (q, k, v) of the chunk of segment sg starting at time t, of a pass over N tokens walked in
// reverse where flip, into fp32 tile x (from one thread): four boxes of 32 columns, one barrier.
__device__ __forceinline__ void loadTile(const HopperMaps* maps, const Walk& w, const hopper::Segment& sg, i64 N, bool flip, int x,
                                         i64 t) {
    const i64 c0 = flip ? N - C - t : t;  // the box's first token in memory order
    const u32 bar = w.landed + 8 * x, dst = smemAddr(w.sm) + x * F32TILE;
    const void* map = x == 0 ? (const void*) maps->q : x == 1 ? (const void*) maps->k : (const void*) maps->v;
    mbarExpectTx(bar, F32TILE);
#pragma unroll
    for (int u = 0; u < 4; u++) tmaLoad4(dst + u * (C * 128), map, 32 * u, (int) c0, (int) sg.h, (int) sg.b, bar);
}

// The converting warpgroup (FULL: q, k and v; else k and v): the fp32 tiles of chunk i, as they land,
// into ring stage i % 2 once the products of chunk i - 2 are done with it; each tile's next load goes
// out (from the warpgroup's first thread) as soon as its four warps have read it, after the last
// chunk the next walk's first (a chain's walks are all FULL or all not).
template <bool FULL, bool FLIP>
__device__ __forceinline__ void convertWalk(const SweepParams& p, const HopperMaps* maps, const Walk& w, int warp, int lane) {
    const int cw = warp - MATH / 32;
    const hopper::Segment& sg = w.sg;
    signed char* rowe = (signed char*) (w.sm + ROWE);
    const bool producer = threadIdx.x == MATH;
    constexpr int FIRST = FULL ? 0 : 1;
    if (producer && !w.ahead)
        for (int x = FIRST; x < 3; x++) loadTile(maps, w, sg, p.N, FLIP, x, sg.t0);
    int i = w.base;
    for (i64 t0 = sg.t0; t0 < sg.t1; t0 += C, i++) {
        const int stage = i & 1;
        if (i >= 2) mbarWait(w.freed + 8 * stage, ((i - 2) >> 1) & 1);
        LA2_MARK(LA2_MARK_CONVERT_FREE);
        const bool next = t0 + C < sg.t1, after = !next && w.next.maps != nullptr;
#pragma unroll 1
        for (int x = FIRST; x < 3; x++) {
            mbarWait(w.landed + 8 * x, i & 1);
            if (x == FIRST) LA2_MARK(LA2_MARK_CONVERT_LANDED);
            convertTile(w.sm + x * F32TILE, w.sm + RING + stage * RSTAGE + x * TILE, rowe + (stage * 3 + x) * C, cw, lane);
            if (next || after) {
                namedSync(CONVERT_BAR, THREADS - MATH);  // every converting warp has read the tile
                if (producer) {
                    if (next) loadTile(maps, w, sg, p.N, FLIP, x, t0 + C);
                    else loadTile(w.next.maps, w, sg, p.N, w.next.flip, x, sg.t0);
                }
            }
        }
        fenceProxyAsync();  // the stage's fp16 tiles, for the tensor cores
        warpArrive(w.converted + 8 * stage, lane);
        LA2_MARK(LA2_MARK_CONVERT_DONE);
    }
}

// The multiplying warpgroups' walk: returns true (EXACT; to every multiplying thread, the state not
// stored) where an output of the segment came out non-finite.
template <bool FULL, bool EXACT, bool FLIP>
__device__ __forceinline__ bool multiplyWalk(const SweepParams& p, const Walk& w, int warp, int lane) {
    unsigned char* sm = w.sm;
    const float* pw = (const float*) (sm + PW);
    const float* mt = (const float*) (sm + MASKS);
    float* red = (float*) (sm + RED);
    const signed char* rowe = (const signed char*) (sm + ROWE);
    const int wg = warp >> 2, wq = warp & 3;
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    const hopper::Segment& sg = w.sg;
    const i64 t0seg = sg.t0, t1seg = sg.t1;
    float* o = (float*) p.o + sg.b * p.vB + sg.h * p.vH;
    // 16-byte output stores where every row of o is 16-byte aligned
    const bool o16 = ((reinterpret_cast<unsigned long long>(o) | (unsigned long long) (p.vT * 4)) & 15) == 0;
    const bool odd = lane & 1;
    const int c4 = 2 * (lane & 3) + (odd ? 6 : 0);  // this lane's first column of four in each 16
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    auto tokenOf = [](int r) { return FLIP ? C - 1 - r : r; };
    float nonFinite[4] = {};  // 0 * each output (four chains): zero, or NaN after a non-finite one

    StateBand<__half, Mma<__half>, 16> band(64 * wg + 16 * wq, 0, 0);
    band.load(p, sg.seq, sg.seg, FULL);
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
    namedSync(MATH_BAR, MATH);
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
    // the 16-bit copy of the state registers times 2^z (the bound times 2^z at most 2^15), visible
    // to both warpgroups' tensor cores on return; es the copy's exponent against the true state
    auto copyState = [&]() {
        const int z = max(-126, min(127, 15 - ceilLog2(bound)));
        es = z - gPrev;
        hopper::copyStateRows<__half, false>(sm + SCOPY, st, wg, wq, lane, pow2(z));
        fenceProxyAsync();
        namedSync(MATH_BAR, MATH);
    };

    // the exponents of the largest masked decay factor and key weight
    const float growth = fmaxf(1.f, pw[C - 1]);
    const int aexp = ceilLog2(fabsf(alpha) * growth), kexp = ceilLog2(fabsf(kappa) * growth);
    // the scores q^ k^T of the chunk in ring stage `stage` into sc, a product group of their own
    float sc[32];
    auto issueScores = [&](int stage) {
        const u32 qa = smemAddr(sm + RING + stage * RSTAGE);
        wgmmaFence();
        wgmmaSsKMajor<__half>(sc, qa, C * 128, qa + TILE, C * 128);
        wgmmaCommit();
    };
    // mode 1: the scores of the loop's next chunk are in flight across its back edge (the first
    // chunk's issued here, once its stage is converted)
    if constexpr (FULL) {
        mbarWait(w.converted + 8 * (w.base & 1), (w.base >> 1) & 1);
        issueScores(w.base & 1);
    }
    int i = w.base;
    for (i64 t0 = t0seg; t0 < t1seg; t0 += C, i++) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) p.ofs0 : 1;
        const int stage = i & 1;
        if constexpr (!FULL) {
            LA2_MARK(LA2_MARK_WAIT);
            mbarWait(w.converted + 8 * stage, (i >> 1) & 1);
        }
        LA2_MARK(LA2_MARK_CHUNK);
        const u32 qa = smemAddr(sm + RING + stage * RSTAGE), va = qa + 2 * TILE;
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
        float ot[32];
        if constexpr (FULL) {
            // the scores, issued before the loop or at the end of the last chunk, are in flight:
            // the state copy for q S is written while they run
            if (i > 0) namedSync(MATH_BAR, MATH);  // every q S of the last chunk is done: the copy is free
            copyState();
            wgmmaFence();
            wgmmaSsNMajor<__half>(ot, qa, C * 128, smemAddr(sm + SCOPY) + wg * (D * 128));
            wgmmaCommit();
        }
        // the state to this chunk's units 2^-gi, decayed over its cc tokens
        const float pre = pw[cc - 1 + ofsi] * pow2(gPrev - gi);
#pragma unroll
        for (int x = 0; x < 32; x++) {
            st[0][x] *= pre;
            st[1][x] *= pre;
        }
        bound = bound * pre + 68719476736.f;  // + 2^36: 64 tokens of |A| <= 2^15 times |v^| < 2^15
        gPrev = gi;
        pinRegisters(st[0]);
        pinRegisters(st[1]);
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
            wgmmaWait<1>();  // the scores and q S
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
        if constexpr (FULL) {
            // the next chunk's scores, once its stage is converted: they run while this chunk's
            // outputs are stored. The last chunk issues them again from its own stage, so that one
            // group is always in flight here (drained after the loop, its result unused) and no
            // product is issued under a branch; in a chain the next walk's conversion may write
            // that stage while they read it, which changes only that unused result.
            const bool next = t0 + C < t1seg;
            if (next) mbarWait(w.converted + 8 * (stage ^ 1), ((i + 1) >> 1) & 1);
            issueScores(next ? stage ^ 1 : stage);
        }
        wgmmaWait<FULL ? 1 : 0>();  // all but the next chunk's scores
        pinRegisters(st[0]);
        pinRegisters(st[1]);
        LA2_MARK(LA2_MARK_DONE);
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
                    // 2^(f - eq) in two factors: the product is in range where 2^(f - eq) alone is not
                    const int E = f - re[r];
                    const float f1 = pow2(E >> 1), f2 = pow2(E - (E >> 1));
                    const i64 t = t0 + a, tr = FLIP ? p.N - 1 - t : t;
                    float* orow = o + tr * p.vT + 64 * wg;
                    if (o16) {
                        // a quad's even and odd lanes trade a pair: lane 4g + qp stores columns
                        // 16 m + (0, 8, 4, 12)[qp] .. + 3, a quad 64 bytes of its row an instruction
#pragma unroll
                        for (int m = 0; m < 4; m++) {
                            const float a0 = ot[8 * m + 2 * hr] * f1 * f2, a1 = ot[8 * m + 2 * hr + 1] * f1 * f2;
                            const float b0 = ot[8 * m + 4 + 2 * hr] * f1 * f2, b1 = ot[8 * m + 4 + 2 * hr + 1] * f1 * f2;
                            const float r0 = __shfl_xor_sync(0xffffffffu, odd ? a0 : b0, 1);
                            const float r1 = __shfl_xor_sync(0xffffffffu, odd ? a1 : b1, 1);
                            const float4 v4 = odd ? make_float4(r0, r1, b0, b1) : make_float4(a0, a1, r0, r1);
                            if (a < cc) *(float4*) (orow + 16 * m + c4) = v4;
                        }
                    } else if (a < cc) {
#pragma unroll
                        for (int j = 0; j < 8; j++)
                            *(float2*) (orow + t2 + 8 * j) = make_float2(ot[4 * j + 2 * hr] * f1 * f2, ot[4 * j + 2 * hr + 1] * f1 * f2);
                    }
                }
            }
        }
        warpArrive(w.freed + 8 * stage, lane);  // this warp's products and reads of the stage are done
        LA2_MARK(LA2_MARK_STORED);
    }
    if constexpr (FULL) wgmmaWait<0>();
    if constexpr (EXACT) {
        if (namedOr(MATH_BAR, MATH, p.writeOut && !(nonFinite[0] + nonFinite[1] + nonFinite[2] + nonFinite[3] == 0.f)))
            return true;
    }
#pragma unroll
    for (int x = 0; x < 64; x++) band.st[x >> 2][x & 3] = ldexpf(st[x >> 5][x & 31], gPrev);
    band.store(p, sg.seq, sg.seg, FULL, sg.s);
    return false;
}
}  // namespace hopperTf32
