// The Hopper sweep (la2_sweep_hopper_*: sm_90a, 16-bit storage, Dk = Dv = 128): the function and
// parameters of sweepWide (common.cuh, sweep_wide.cuh) on warpgroup products (wgmma.cuh), every
// pass included (reversed time, transposed state strides, no output, the w dot product). Two
// warpgroups, 256 threads, per sequence segment; chunks of 64 tokens.
//
// Per chunk, warpgroup w (w = 0, 1):
// - scores Q K^T (64 x 64, both operands K-major in shared memory) in registers, then masked and
//   decayed (alpha lambda^(a-b), b <= a) and packed to 16-bit A fragments: each warpgroup computes
//   the whole tile, which costs less than trading halves through shared memory;
// - the output columns 64w .. 64w + 63: lambda^(a+o) beta Q S (B = the 16-bit state copy,
//   N-major) into the accumulator, its rows scaled, then (masked scores) V added on top
//   (B = v, N-major), stored through a per-warp staging buffer as 16-byte row pieces (STAGED_OUT);
// - state rows 64w .. 64w + 63, all 128 columns, fp32 in registers:
//   S <- lambda^(cc-1+o) S + (diag(wk) K)^T V, A = K^T read by ldmatrix.trans and weighted in
//   registers (as StateBand does), B = v; the 16-bit copy the next chunk's Q S reads goes to the
//   other of two state buffers.
// Chunks stream in by cp.async (or, on the TMA entry points, by the tensor memory accelerator) into
// a three-stage ring (two chunks ahead), written in the swizzled layout the descriptors describe;
// one block barrier per chunk orders the ring and the state copies.
// Rounding matches sweepWide: fp32 products of 16-bit operands, the masked scores and the state
// copy rounded to 16 bits, k rows weighted in fp32 and rounded once.
#pragma once

#include "common.cuh"
#include "mma.cuh"
#include "packed.cuh"
#include "params.cuh"
#include "smem.cuh"
#include "state_band.cuh"
#include "sweep_common.cuh"
#include "hopper_fragments.cuh"
#include "hopper_loads.cuh"
#include "pairs16.cuh"
#include "wgmma.cuh"

namespace hopper {
// Variants (bit flags of sweepHopperMode's V):
// - STAGED_OUT: each warp's 16 x 64 output block goes through shared memory and out as 16-byte
//   stores, whole 128-byte row halves per 8 lanes, instead of 4-byte stores from the accumulator;
// - TMA: thread 0 loads each chunk with the tensor memory accelerator (q, k, v tensor maps,
//   HopperMaps) onto a transaction barrier per ring stage, instead of every thread's cp.async;
//   a box is read in increasing token order;
// - FLIP (with TMA, the entry points of reversed passes, rev = 1): the box of a chunk holds its
//   tokens in natural order, so ring row r is the chunk's token C - 1 - r in the pass's (reversed)
//   time; the masks, decay powers, key weights and output rows follow that map (row tokenOf), and
//   rows before the sequence's start (a partial chunk's missing tokens) are zero-filled by the unit.
// - SPLIT (= SPLIT_P | SPLIT_S | SPLIT_K): products of about fp32 accuracy for the decay
//   gradient's sums (Backward.java): the three intermediates rounded to 16 bits (P the masked
//   scores, S the state copy, K the weighted keys) are carried as hi + lo, both 16-bit, and each
//   product they enter is issued twice, so that only q, k, v (exact in storage) and fp32
//   accumulation remain. The hi and lo state copies share the two state buffers, so the copy
//   waits for a block barrier after the chunk's products. The lab times the parts alone.
// - EARLY_W (with DOT and STAGED_OUT): each warp's block of w is copied (cp.async) into its output
//   staging buffer as the chunk starts, so that the load overlaps the chunk's products instead of
//   following them.
// - AHEAD (with TMA, FULL modes, not with SPLIT): the scores Q K^T of chunk i + 1 are issued as a
//   product group of their own at the end of chunk i, once its ring stage has landed and after
//   chunk i's products of v, and complete while chunk i's outputs and state copy are written: chunk
//   i + 1 then waits only for its q S before the masking, and the scores leave its critical chain.
// - ROLES (with TMA, not with FLIP or SPLIT): mode 1 without w runs sweepHopperRoles
//   (sweep_hopper_roles.cuh), whose warpgroups split by role (state, outputs) and run a chunk
//   apart; with AHEAD its scores are issued before the wait for the state copy. Other modes keep
//   this file's sweep.
// The backend's entry points run STAGED_OUT (LA2_SWEEP_HOPPER), TMA | STAGED_OUT | AHEAD (the
// forward of LA2_SWEEP_HOPPER_TMA), TMA | STAGED_OUT | EARLY_W | ROLES (its backward in forward
// time), TMA | STAGED_OUT | EARLY_W | FLIP (reversed) and TMA | STAGED_OUT | SPLIT | EARLY_W
// (LA2_SWEEP_HOPPER_SPLIT); gpu/hopper-lab.cu times the others beside them.
constexpr int STAGED_OUT = 1, TMA = 2, FLIP = 4, SPLIT_P = 8, SPLIT_S = 16, SPLIT_K = 32, SPLIT = SPLIT_P | SPLIT_S | SPLIT_K,
              EARLY_W = 64, AHEAD = 128, ROLES = 256;

// The 1024-byte-aligned base of the dynamic shared memory `raw` (the swizzled tiles' atoms need it;
// each Hopper kernel asks for 1024 bytes of slack).
__device__ __forceinline__ unsigned char* alignedBase(unsigned char* raw) { return raw + ((1024 - (smemAddr(raw) & 1023)) & 1023); }

// The block's sequence segment: grid x is the sequence (batch b, head h, decay rate s), grid y the
// segment, tokens [t0, t1) of it.
struct Segment {
    i64 seq, b, h, t0, t1;
    int seg;
    float s;
};
__device__ __forceinline__ Segment blockSegment(const SweepParams& p) {
    Segment x;
    x.seq = blockIdx.x;
    x.seg = blockIdx.y;
    x.b = x.seq / p.H;
    x.h = x.seq % p.H;
    x.s = p.decay[x.h];
    x.t0 = (i64) x.seg * p.L;
    x.t1 = min(p.N, x.t0 + p.L);
    return x;
}
}  // namespace hopper

// FULL = mode 1 (outputs); mode 0 runs the state update alone. The mode is a template argument so
// that no product is issued under a branch: ptxas then sees every product's group retire in order
// and keeps the asynchronous products in flight together. DOT (mode 1 with p.w) adds the decay
// gradient's sum_t t <o_t, w_t> into p.acc, as sweepWide does. V: the variant flags above;
// `maps` only with TMA. EXACT (mode 1 without w): returns true, to every thread of the block and
// without storing the final state, where an output of the segment came out non-finite; the entry
// point then computes the segment again (sweep_hopper_entries.cuh, sweepHopperAgain).
template <typename T, bool EXACT, bool FULL, bool DOT, int V = 0>
__device__ bool sweepHopperMode(const SweepParams& p, const HopperMaps* maps = nullptr) {
    using namespace hopper;
    using W = WgmmaOp<T>;
    extern __shared__ __align__(128) unsigned char smraw[];  // aligned to 1024 below
    unsigned char* sm = hopper::alignedBase(smraw);
    unsigned char* ring = sm;                        // [STAGES][q, k, v][64 x 128]
    unsigned char* sbuf = sm + STAGES * STAGE;       // [2][128 x 128]: 16-bit state copies
    float* pw = (float*) (sm + TABLE);               // [C + 2] lambda^m
    float* mt = (float*) (sm + MASKS);               // [2C] the masked decay factors

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    // the warpgroup, through a shuffle so that the compiler knows it uniform across the warp (its
    // shared addresses, and the products' descriptors built on them, then live in uniform registers)
    const int wg = __shfl_sync(0xffffffffu, warp >> 2, 0), wq = warp & 3;
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    LA2_MARK(LA2_MARK_ENTRY);
    const Segment sg = blockSegment(p);
    const i64 seq = sg.seq, b = sg.b, h = sg.h, t0seg = sg.t0, t1seg = sg.t1;
    const int seg = sg.seg;
    const float s = sg.s;
    const T* q = (const T*) p.q + b * p.kB + h * p.kH;
    const T* k = (const T*) p.k + b * p.kB + h * p.kH;
    const T* v = (const T*) p.v + b * p.vB + h * p.vH;
    T* o = (T*) p.o + b * p.vB + h * p.vH;
    const T* w = DOT ? (const T*) p.w + b * p.vB + h * p.vH : nullptr;
    double dotAcc = 0.0;
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    constexpr bool full = FULL;
    for (int m = tid; m < C + 2; m += THREADS) pw[m] = lpow(s, (float) m);
    maskTable(mt, s, alpha, tid, THREADS);
    constexpr bool tma = (V & TMA) != 0, flip = (V & FLIP) != 0;
    constexpr bool splitP = (V & SPLIT_P) != 0, splitS = (V & SPLIT_S) != 0, splitK = (V & SPLIT_K) != 0;
    static_assert(!flip || (tma && !EXACT), "FLIP: TMA boxes of a backward pass");
    static_assert(!(V & SPLIT) || !EXACT, "SPLIT: a backward pass");
    // each thread waits for the next chunk's transaction barrier itself (cp.async chunks would need a
    // block barrier); SPLIT's late state update would retire its groups in another order
    static_assert(!(V & AHEAD) || (tma && !(V & SPLIT)), "AHEAD: TMA, without SPLIT");
    constexpr bool ahead = full && (V & AHEAD) != 0;
    // the forward (EXACT) walks forward in time, a TMA pass in FLIP's direction (checked below)
    if (EXACT && p.rev) __trap();
    const bool rev = tma ? flip : !EXACT && p.rev;
    constexpr bool noteNonFinite = full && !DOT && EXACT;
    float nonFinite[4] = {};  // 0 * each output added in (four chains): zero, or NaN after a non-finite one
    // the chunk's token (in the pass's time) of ring row r
    auto tokenOf = [](int r) { return flip ? C - 1 - r : r; };
    const u32 bars = smemAddr(sm + BARS);
    // the loads of the chunk at token c0 (in the pass's time) into ring stage `st`
    auto issue = [&](i64 c0, int st) {
        if constexpr (tma) {
            const int first = (int) (flip ? p.N - C - c0 : c0);  // the box's first token in memory order
            if (tid == 0) hopperTmaChunk(maps, full, first, (int) h, (int) b, ring + st * STAGE, bars + 8 * st);
        } else {
            hopperIssueChunk<T>(p, q, k, v, full, c0, t1seg, ring + st * STAGE);
        }
    };
    // EARLY_W: this warp's block of w for the chunk at token c0 into its output staging buffer
    // (rows past the chunk's end zero), a cp.async group of its own committed before the ring's
    // next chunk's
    constexpr bool earlyW = DOT && (V & EARLY_W) && (V & STAGED_OUT);
    auto loadW = [&](i64 c0, int cc) {
        unsigned char* ob = sm + OUTS + warp * (16 * 128);
#pragma unroll
        for (int it = 0; it < 4; it++) {
            const int r = 4 * it + (lane >> 3), pc = lane & 7, a = tokenOf(16 * wq + r);
            const bool ok = a < cc;
            const i64 t = c0 + (ok ? a : 0), tr = rev ? (p.N - 1 - t) : t;
            cpAsync16(ob + r * 128 + ((pc ^ (r & 7)) << 4), w + tr * p.vT + 64 * wg + 8 * pc, ok);
        }
        cpAsyncCommit();
    };
    if constexpr (tma) {
        if (p.rev != flip) __trap();
        if (tid == 0) {
            for (int x = 0; x < STAGES; x++) mbarInit(bars + 8 * x, 1);
        }
        fenceProxyAsync();
        __syncthreads();
    }

    issue(t0seg, 0);
    if (t0seg + C < t1seg) issue(t0seg + C, 1);
    else if (!tma) cpAsyncCommit();

    // The state: rows 64 wg + 16 wq + g (+ 8) of warp wq, in the accumulator layout of two
    // m64n64 halves (columns 0-63, 64-127), which is StateBand<..., 16>'s layout with r0 = 64 wg + 16 wq.
    StateBand<T, Mma<T>, 16> band(64 * wg + 16 * wq, 0, 0);
    band.load(p, seq, seg, full);
    float st[2][32];
#pragma unroll
    for (int i = 0; i < 64; i++) st[i >> 5][i & 31] = band.st[i >> 2][i & 3];
    // the 16-bit copy of the state into buffer `to`; SPLIT: hi into buffer 0 and lo into buffer 1
    auto copyState = [&](int to) { copyStateRows<T, splitS>(sbuf + (splitS ? 0 : to * STATE), st, wg, wq, lane); };
    if constexpr (full) copyState(0);
    // the scores Q K^T of the chunk whose q and k tiles are at shared addresses qa, ka into d (one
    // k-step per 16 of D; K-major: half, then 32 bytes per k-step); the caller fences and commits
    auto issueScores = [&](float(&d)[32], u32 qa, u32 ka) { wgmmaSsKMajor<T>(d, qa, C * 128, ka, C * 128); };
    // AHEAD: the scores of the loop's next chunk, in flight across its back edge (the first chunk's
    // issued here, once its stage has landed)
    float scNext[32];
    if constexpr (ahead) {
        mbarWait(bars, 0);
        wgmmaFence();
        issueScores(scNext, smemAddr(ring), smemAddr(ring + TILE));
        wgmmaCommit();
    }

    int i = 0;
    for (i64 t0 = t0seg; t0 < t1seg; t0 += C, i++) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) p.ofs0 : 1;
        unsigned char* stage = ring + (i % STAGES) * STAGE;
        const u32 qa = smemAddr(stage), ka = qa + TILE, va = qa + 2 * TILE;
        const unsigned char* sb = sbuf + (splitS ? 0 : (i & 1) * STATE);
        const u32 sa = smemAddr(sb);
        // this chunk's copies (this thread's) have landed; the barrier makes everybody's visible, and
        // says everybody is done with the stage the next copies overwrite and with the state buffer
        // this chunk writes (AHEAD: the scores in flight read this chunk's stage)
        if constexpr (tma) mbarWait(bars + 8 * (i % STAGES), (i / STAGES) & 1);
        else asm volatile("cp.async.wait_group %0;\n" :: "n"(STAGES - 2));
        fenceProxyAsync();
        __syncthreads();
        LA2_MARK(LA2_MARK_CHUNK);
        if constexpr (earlyW) loadW(t0, cc);
        if (t0 + 2 * C < t1seg) issue(t0 + 2 * C, (i + 2) % STAGES);
        else if (!tma) cpAsyncCommit();

        // the state's decay over the chunk, before any product of it is in flight (AHEAD: the
        // chunk's scores are)
        const float carry = pw[cc - 1 + ofsi];
#pragma unroll
        for (int x = 0; x < 32; x++) {
            st[0][x] *= carry;
            st[1][x] *= carry;
        }
        pinRegisters(st[0]);
        pinRegisters(st[1]);
        float scOwn[32], ot[32];  // written by the first product of each (accumulate = 0)
        float(&sc)[32] = ahead ? scNext : scOwn;
        if constexpr (full) {
            wgmmaFence();
            if constexpr (!ahead) issueScores(sc, qa, ka);
            // B = columns 64 wg .. of the state copy, N-major: half wg, 16 rows (2048 bytes) per k-step
            wgmmaSsNMajor<T>(ot, qa, C * 128, sa + wg * (D * 128));
            if constexpr (splitS) {
                const u32 lq = smemDescLo(qa), ls = smemDescLo(sa + STATE + wg * (D * 128));
#pragma unroll
                for (int kk = 0; kk < D / 16; kk++)
                    W::template ss<1>(ot, smemDescAt(lq, (kk >> 2) * (C * 128) + (kk & 3) * 32), smemDescAt(ls, kk * 2048), 1);
            }
            wgmmaCommit();
        }

        // state update: A = (diag(wk) K)^T for rows 64 wg + 16 wq .., k-step j = tokens 16j ..; its
        // products are issued before the masked scores are built (their registers then overlap
        // them), or with SPLIT after the products of v (late), which keeps the split's extra A
        // fragments off the scores' registers.
        auto updateState = [&]() {
            u32 kt[4][4], kl[splitK ? 4 : 1][4];  // SPLIT_K: kt the hi parts, kl the lo ones
            weightedKeys<T, splitK>(kt, kl, stage + TILE, wg, wq, lane, cc, kappa, pw, tokenOf);
            pinRegisters(kt);
            if constexpr (splitK) pinRegisters(kl);
            wgmmaFence();
            wgmmaRsTiles<T>(st, kt, va, C * 128);
            if constexpr (splitK) wgmmaRsTiles<T>(st, kl, va, C * 128);
            wgmmaCommit();
        };
        constexpr bool late = (V & SPLIT) != 0;
        if constexpr (!late) updateState();

        if constexpr (full) {
            wgmmaWait<late ? 0 : 1>();  // the scores (AHEAD: issued a chunk earlier) and q S
            pinRegisters(sc);
            pinRegisters(ot);
            // the masked, decayed scores as A fragments, and q S's row factors
            u32 pa[4][4], pl[splitP ? 4 : 1][4];  // SPLIT_P: pa the hi parts, pl the lo ones
            maskScores<T, splitP, !noteNonFinite>(sc, pa, pl, wq, lane, mt, tokenOf);
            scaleRows(ot, wq, lane, beta, pw, ofsi, tokenOf);
            pinRegisters(pa);
            if constexpr (splitP) pinRegisters(pl);
            pinRegisters(ot);
            wgmmaFence();
            wgmmaRsTile<T>(ot, pa, va + wg * (C * 128));
            if constexpr (splitP) wgmmaRsTile<T>(ot, pl, va + wg * (C * 128));
            wgmmaCommit();
        }
        if constexpr (late) updateState();
        if constexpr (ahead) {
            // the next chunk's scores, once its stage has landed (the wait at its start is on the same
            // phase), retired by that chunk's first wait: before its barrier, after which the loads
            // it issues overwrite this chunk's stage, not the one they read. The last chunk issues
            // them again from its own stage, which no load overwrites, so that one group is always
            // left in flight here (drained after the loop).
            const bool next = t0 + C < t1seg;
            const int ns = (i + (next ? 1 : 0)) % STAGES;
            if (next) mbarWait(bars + 8 * ns, ((i + 1) / STAGES) & 1);
            wgmmaFence();
            const u32 na = smemAddr(ring + ns * STAGE);
            issueScores(sc, na, na + TILE);
            wgmmaCommit();
        }
        wgmmaWait<ahead ? 1 : 0>();  // all but the next chunk's scores
        pinRegisters(st[0]);
        pinRegisters(st[1]);

        if constexpr (full) {
            pinRegisters(ot);
            if constexpr (noteNonFinite) {
#pragma unroll
                for (int x = 0; x < 32; x++) nonFinite[x & 3] = fmaf(ot[x], 0.f, nonFinite[x & 3]);
            }
            // the warp's staging buffer (stageOutBlock's layout)
            unsigned char* ob = sm + OUTS + warp * (16 * 128);
            if constexpr (DOT && (V & STAGED_OUT)) {
                // w's block comes in through the buffer (16-byte reads, rows past the chunk's end
                // zero; EARLY_W: loaded as the chunk started), then each thread takes the pairs at
                // its accumulator's places
                if constexpr (earlyW) {
                    if constexpr (tma) cpAsyncWaitAll();
                    else asm volatile("cp.async.wait_group 1;\n" ::);  // all but the ring's newest chunk
                } else {
#pragma unroll
                    for (int it = 0; it < 4; it++) {
                        const int r = 4 * it + (lane >> 3), pc = lane & 7, a = tokenOf(16 * wq + r);
                        uint4 x = make_uint4(0, 0, 0, 0);
                        if (a < cc) {
                            const i64 t = t0 + a, tr = rev ? (p.N - 1 - t) : t;
                            x = *(const uint4*) (w + tr * p.vT + 64 * wg + 8 * pc);
                        }
                        *(uint4*) (ob + r * 128 + ((pc ^ (r & 7)) << 4)) = x;
                    }
                }
                __syncwarp();
#pragma unroll
                for (int hr = 0; hr < 2; hr++) {
                    const int a = tokenOf(16 * wq + g + 8 * hr);
                    float dsum = 0.f;
#pragma unroll
                    for (int j = 0; j < 8; j++) {
                        const float2 f = unpack2<T>(*(const u32*) (ob + (g + 8 * hr) * 128 + ((j ^ g) << 4) + t2 * 2));
                        dsum = fmaf(ot[4 * j + 2 * hr], f.x, fmaf(ot[4 * j + 2 * hr + 1], f.y, dsum));
                    }
                    if (a < cc) {
                        const i64 t = t0 + a, tr = rev ? (p.N - 1 - t) : t;
                        dotAcc += (double) tr * (double) dsum;
                    }
                }
                __syncwarp();
            }
            if ((V & STAGED_OUT) && p.writeOut) {
                stageOutBlock<T>(ob, ot, lane, outRows<flip>(o + 64 * wg, p.vT, t0, cc, wq, rev, p.N));
            }
#pragma unroll
            for (int hr = 0; hr < 2; hr++) {
                const int a = tokenOf(16 * wq + g + 8 * hr);
                if (a >= cc) continue;
                const i64 t = t0 + a, tr = rev ? (p.N - 1 - t) : t;
                if (!(V & STAGED_OUT) && p.writeOut) {
                    T* orow = o + tr * p.vT + 64 * wg + t2;
#pragma unroll
                    for (int j = 0; j < 8; j++) *(u32*) (orow + 8 * j) = pack2<T>(ot[4 * j + 2 * hr], ot[4 * j + 2 * hr + 1]);
                }
                if constexpr (DOT && !(V & STAGED_OUT)) {
                    const T* wrow = w + tr * p.vT + 64 * wg + t2;
                    float dsum = 0.f;
#pragma unroll
                    for (int j = 0; j < 8; j++)
                        dsum = fmaf(ot[4 * j + 2 * hr], toF<T>(wrow[8 * j]), fmaf(ot[4 * j + 2 * hr + 1], toF<T>(wrow[8 * j + 1]), dsum));
                    dotAcc += (double) tr * (double) dsum;
                }
            }
            // the next chunk's q S reads the other copy; the barrier at its start publishes this one.
            // SPLIT overwrites the copy this chunk read: both warpgroups' products must be done.
            if (t0 + C < t1seg) {
                if constexpr (splitS) __syncthreads();
                copyState((i + 1) & 1);
            }
        }
    }
    if constexpr (ahead) wgmmaWait<0>();
    if constexpr (DOT) {
        __shared__ double red[THREADS / 32];
        addBlockDot(p, seq, dotAcc, red);
    }
    if constexpr (noteNonFinite) {
        if (__syncthreads_or(p.writeOut && !(nonFinite[0] + nonFinite[1] + nonFinite[2] + nonFinite[3] == 0.f))) return true;
    }
#pragma unroll
    for (int x = 0; x < 64; x++) band.st[x >> 2][x & 3] = st[x >> 5][x & 31];
    band.store(p, seq, seg, full, s);
    LA2_MARK(LA2_MARK_EXIT);
    return false;
}
