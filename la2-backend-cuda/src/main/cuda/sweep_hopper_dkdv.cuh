// The backward's dk and dv passes as one reversed-time Hopper sweep (la2_sweep_hopper_*_dkdv):
// Backward.java routes 16-bit Dk = Dv = 128 backwards without a dot product to it on compute
// capability 9.0, dense or packed, after the dv pass's mode 0 and the scan where a sequence has
// several segments.
//
// The dv pass (q' = k, k' = q, v' = dO, state G, D x E) and the dk pass (q' = v, k' = dO, v' = q,
// state G^T) walk the same reversed time with the same scales, and dk's state is the transpose of
// dv's. One walk computes both from one state. Per chunk, from a ring stage holding k, q, dO and v
// (ring row r = the chunk's token C - 1 - r, as FLIP's boxes):
//   dv = alpha (K Q^T (.) M) dO + beta diag(lambda^(a+o)) K G
//   dk = alpha (V dO^T (.) M) Q + beta diag(lambda^(a+o)) V G^T
//   G <- lambda^(cc-1+o) G + (diag(wk) Q)^T dO
// G's 16-bit copy serves both products with the state: as B of K G it is N-major (its rows d are
// the contraction), as B of V G^T K-major (its rows d are G^T's columns, each row's e contiguous).
// So the walk reads k, q, dO and v once and writes dk and dv (six tensor movements where the two
// passes make eight), and updates one state where they update two; a segmented call runs one
// state-only pass before it (the dv pass's mode 0), where the two passes run two.
//
// Order of the products in a chunk, warpgroup w owning rows 64w.. of G and columns 64w.. of dk and
// dv: (1) K Q^T and K G; (2) the state update; (3) once (1) is done, masked scores times dO onto dv;
// (4) V dO^T and V G^T; dv leaves while (4) runs; (5) the masked second scores times Q onto dk, the
// state copy for the next chunk written meanwhile; dk leaves. The peak of live accumulators is at
// (4): the state, dv, its A fragments and (4)'s two tiles.
//
// Shared memory: two ring stages of four 16 KB tiles (128 KB; the loads of chunk i + 1 have chunk
// i's time to land), two 32 KB state copies, the lambda^m table, two transaction barriers and the
// output staging.
//
// Chunks come by TMA (TMA_LOADS, the dense entry point la2_sweep_hopper_tma_*_dkdv) or by cp.async
// (la2_sweep_hopper_*_dkdv and its _packed twin: a TMA box cannot stop at a sequence's end inside a
// packed tensor), into the same ring rows.
#pragma once

#include "packed.cuh"
#include "smem.cuh"
#include "sweep_hopper.cuh"

namespace dkdv {
constexpr int STAGES = 2;
constexpr u32 STAGE = 4 * hopper::TILE;                 // k, q, dO, v
constexpr u32 SBUF = STAGES * STAGE;                    // [2][128 x 128] 16-bit state copies
constexpr u32 TABLE = SBUF + 2 * hopper::STATE;         // lambda^m (66 floats)
constexpr u32 BARS = TABLE + 384;                       // one transaction barrier per ring stage
constexpr u32 MASKS = TABLE + 512;                      // the masked decay factors (2C floats)
constexpr u32 OUTS = TABLE + 1024;                      // per warp 16 rows x 64 columns
constexpr int SMEM = (int) (OUTS + hopper::OUTBUF + 1024);  // and the slack that aligns the base
static_assert(SMEM == sharedBytes::hopperDkDv(STAGES), "smem.cuh's formula");
static_assert(TABLE + 4 * (hopper::C + 2) <= BARS && BARS + 8 * STAGES <= MASKS && MASKS + 8 * hopper::C <= OUTS && SMEM <= 227 * 1024,
              "dkdv buffers");
}  // namespace dkdv

// The chunk at token c0 (pass time) of k, q, dO and v into a ring stage by cp.async, in the rows
// FLIP's boxes give it (ring row r = the chunk's token C - 1 - r), tokens at or past the segment's
// end zero; every thread copies its share and commits one group.
template <typename T>
__device__ __forceinline__ void dkdvIssueChunk(const T* k, const T* q, const T* dO, const T* v, const SweepParams& pv,
                                               const SweepParams& pk, i64 c0, i64 t1seg, unsigned char* stage) {
    using namespace hopper;
#pragma unroll
    for (int i = 0; i < C * 16 / THREADS; i++) {
        const int x = threadIdx.x + i * THREADS;
        const int a = x >> 4, col = (x & 15) * 8;
        const i64 t = c0 + C - 1 - a;
        const bool ok = t < t1seg;
        const i64 tr = pv.N - 1 - (ok ? t : c0);  // in memory order; a token of the segment either way
        const u32 off = tileOffset(a, col, C);
        cpAsync16(stage + off, k + tr * pv.kT + col, ok);
        cpAsync16(stage + TILE + off, q + tr * pv.kT + col, ok);
        cpAsync16(stage + 2 * TILE + off, dO + tr * pv.vT + col, ok);
        cpAsync16(stage + 3 * TILE + off, v + tr * pk.kT + col, ok);
    }
    cpAsyncCommit();
}

// pv: the dv pass's parameters (k, q, dO, dv, the state G from dS_final, the end state, segment
// scratch, scales); pk: the dk pass's, of which only q (v), o (dk) and their strides are read. mv:
// the tensor maps of k, q and dO (as the dv pass's q, k, v); mk.q: the map of v (TMA_LOADS only).
// Mode 1 only.
template <typename T, bool TMA_LOADS>
__device__ void sweepHopperDkDv(const SweepParams& pv, const SweepParams& pk, const HopperMaps* mv, const HopperMaps* mk) {
    using namespace hopper;
    extern __shared__ __align__(128) unsigned char smraw[];
    unsigned char* sm = hopper::alignedBase(smraw);
    unsigned char* ring = sm;
    unsigned char* sbuf = sm + dkdv::SBUF;
    float* pw = (float*) (sm + dkdv::TABLE);
    float* mt = (float*) (sm + dkdv::MASKS);  // the masked decay factors
    // one walk: the dk pass must agree with the dv pass on everything but its output; no dot product
    if (pv.mode != 1 || !pv.rev || !pk.rev || pk.alpha != pv.alpha || pk.beta != pv.beta || pk.kappa != pv.kappa || pk.ofs0 != pv.ofs0
        || pk.N != pv.N || pk.L != pv.L || pk.nseg != pv.nseg || pk.H != pv.H || pk.decay != pv.decay || pv.w || pk.w)
        __trap();

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wg = __shfl_sync(0xffffffffu, warp >> 2, 0), wq = warp & 3;  // uniform (sweep_hopper.cuh says why)
    LA2_MARK(LA2_MARK_ENTRY);
    const Segment sg = blockSegment(pv);
    const i64 seq = sg.seq, b = sg.b, h = sg.h, t0seg = sg.t0, t1seg = sg.t1;
    const int seg = sg.seg;
    const float s = sg.s;
    T* dv = (T*) pv.o + b * pv.vB + h * pv.vH;
    T* dk = (T*) pk.o + b * pk.vB + h * pk.vH;
    const float alpha = (float) pv.alpha, beta = (float) pv.beta, kappa = (float) pv.kappa;
    for (int m = tid; m < C + 2; m += THREADS) pw[m] = lpow(s, (float) m);
    maskTable(mt, s, alpha, tid, THREADS);
    auto tokenOf = [](int r) { return C - 1 - r; };
    const u32 bars = smemAddr(sm + dkdv::BARS);
    const T* kIn = (const T*) pv.q + b * pv.kB + h * pv.kH;
    const T* qIn = (const T*) pv.k + b * pv.kB + h * pv.kH;
    const T* dOIn = (const T*) pv.v + b * pv.vB + h * pv.vH;
    const T* vIn = (const T*) pk.q + b * pk.kB + h * pk.kH;
    // the chunk at token c0 (pass time) into ring stage st: boxes of memory tokens N - C - c0 ..
    auto issue = [&](i64 c0, int st) {
        if constexpr (!TMA_LOADS) {
            dkdvIssueChunk<T>(kIn, qIn, dOIn, vIn, pv, pk, c0, t1seg, ring + st * dkdv::STAGE);
            return;
        }
        if (tid != 0) return;
        const int first = (int) (pv.N - C - c0);
        const u32 dst = smemAddr(ring + st * dkdv::STAGE), bar = bars + 8 * st;
        mbarExpectTx(bar, 4 * TILE);
#pragma unroll
        for (int half = 0; half < 2; half++) {
            const u32 off = half * C * 128;
            tmaLoad4(dst + off, mv->q, 64 * half, first, (int) h, (int) b, bar);             // k
            tmaLoad4(dst + TILE + off, mv->k, 64 * half, first, (int) h, (int) b, bar);      // q
            tmaLoad4(dst + 2 * TILE + off, mv->v, 64 * half, first, (int) h, (int) b, bar);  // dO
            tmaLoad4(dst + 3 * TILE + off, mk->q, 64 * half, first, (int) h, (int) b, bar);  // v
        }
    };
    if (TMA_LOADS && tid == 0) {
        for (int x = 0; x < dkdv::STAGES; x++) mbarInit(bars + 8 * x, 1);
    }
    fenceProxyAsync();
    __syncthreads();
    issue(t0seg, 0);

    StateBand<T, Mma<T>, 16> band(64 * wg + 16 * wq, 0, 0);
    band.load(pv, seq, seg, true);
    float st[2][32];
#pragma unroll
    for (int i = 0; i < 64; i++) st[i >> 5][i & 31] = band.st[i >> 2][i & 3];
    auto copyState = [&](int to) { copyStateRows<T, false>(sbuf + to * STATE, st, wg, wq, lane); };
    copyState(0);

    int i = 0;
    for (i64 t0 = t0seg; t0 < t1seg; t0 += C, i++) {
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) pv.ofs0 : 1;
        unsigned char* stage = ring + (i & 1) * dkdv::STAGE;
        const u32 ka = smemAddr(stage), qa = ka + TILE, oa = ka + 2 * TILE, va = ka + 3 * TILE;
        const u32 sa = smemAddr(sbuf + (i & 1) * STATE);
        // this chunk has landed; everybody is done with the stage the next loads overwrite and with
        // the state copy this chunk writes
        if constexpr (TMA_LOADS) mbarWait(bars + 8 * (i & 1), (i >> 1) & 1);
        else cpAsyncWaitAll();
        fenceProxyAsync();
        __syncthreads();
        LA2_MARK(LA2_MARK_CHUNK);
        if (t0 + C < t1seg) issue(t0 + C, (i + 1) & 1);

        const float carry = pw[cc - 1 + ofsi];
#pragma unroll
        for (int x = 0; x < 32; x++) {
            st[0][x] *= carry;
            st[1][x] *= carry;
        }
        pinRegisters(st[0]);
        pinRegisters(st[1]);
        // (1) the dv pass's scores K Q^T and K G (B: columns 64 wg.. of the copy, N-major)
        float sc[32], ot[32];
        wgmmaFence();
        wgmmaSsKMajor<T>(sc, ka, C * 128, qa, C * 128);
        wgmmaSsNMajor<T>(ot, ka, C * 128, sa + wg * (D * 128));
        wgmmaCommit();
        // (2) G <- G + (diag(wk) Q)^T dO: rows 64 wg + 16 wq .., A = Q^T by ldmatrix.trans, weighted
        {
            u32 kt[4][4];
            weightedKeys<T>(kt, stage + TILE, wg, wq, lane, cc, kappa, pw, tokenOf);
            pinRegisters(kt);
            wgmmaFence();
            wgmmaRsTiles<T>(st, kt, oa, C * 128);
            wgmmaCommit();
        }
        // the warp's 16 x 64 block of an output through its staging buffer, rows past the chunk's end skipped
        auto store = [&](const float (&x)[32], T* out, i64 vT) {
            stageOutBlock<T>(sm + dkdv::OUTS + warp * (16 * 128), x, lane, outRows<true>(out + 64 * wg, vT, t0, cc, wq, true, pv.N));
        };

        wgmmaWait<1>();  // (1)
        pinRegisters(sc);
        pinRegisters(ot);
        u32 pa[4][4];
        maskScores<T>(sc, pa, wq, lane, mt, tokenOf);
        scaleRows(ot, wq, lane, beta, pw, ofsi, tokenOf);
        pinRegisters(pa);
        pinRegisters(ot);
        // (3) dv += P dO (B = columns 64 wg.. of dO, N-major)
        wgmmaFence();
        wgmmaRsTile<T>(ot, pa, oa + wg * (C * 128));
        wgmmaCommit();
        // (4) the dk pass's scores V dO^T and V G^T (B: rows 64 wg.. of the copy, K-major)
        float sc2[32], ot2[32];
        wgmmaFence();
        wgmmaSsKMajor<T>(sc2, va, C * 128, oa, C * 128);
        wgmmaSsKMajor<T>(ot2, va, C * 128, sa + wg * (64 * 128), D * 128);
        wgmmaCommit();
        wgmmaWait<1>();  // (2) and (3)
        pinRegisters(ot);
        pinRegisters(st[0]);
        pinRegisters(st[1]);
        if (pv.writeOut) store(ot, dv, pv.vT);
        wgmmaWait<0>();  // (4)
        pinRegisters(sc2);
        pinRegisters(ot2);
        u32 pb[4][4];
        maskScores<T>(sc2, pb, wq, lane, mt, tokenOf);
        scaleRows(ot2, wq, lane, beta, pw, ofsi, tokenOf);
        pinRegisters(pb);
        pinRegisters(ot2);
        // (5) dk += P' Q (B = columns 64 wg.. of q, N-major)
        wgmmaFence();
        wgmmaRsTile<T>(ot2, pb, qa + wg * (C * 128));
        wgmmaCommit();
        // the next chunk's products with the state read the other copy; its first barrier publishes it
        if (t0 + C < t1seg) copyState((i + 1) & 1);
        wgmmaWait<0>();
        pinRegisters(ot2);
        if (pk.writeOut) store(ot2, dk, pk.vT);
    }
#pragma unroll
    for (int x = 0; x < 64; x++) band.st[x >> 2][x & 3] = st[x >> 5][x & 31];
    band.store(pv, seq, seg, true, s);
    LA2_MARK(LA2_MARK_EXIT);
}

// The entry points, built only for sm_90a: elsewhere they exist and trap, as the Hopper sweep's
// entry points do (sweep_hopper_entries.cuh). LA2_SWEEP_HOPPER_DKDV: NAME_dkdv (pv, pk, mv, mk), by
// TMA. LA2_SWEEP_HOPPER_DKDV_LOADED: NAME_dkdv (pv, pk) by cp.async, and NAME_dkdv_packed (pv, pk,
// the call's PackedParams) on a packed call's sequences, both parameter structs rebound in place
// (packed.cuh says why in place).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
#define LA2_HOPPER_DKDV_BODY(T, TMA_LOADS, MV, MK) sweepHopperDkDv<T, TMA_LOADS>(pv, pk, MV, MK);
#else
#define LA2_HOPPER_DKDV_BODY(T, TMA_LOADS, MV, MK) __trap();
#endif
#define LA2_SWEEP_HOPPER_DKDV(name, T)                                                                                      \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_dkdv(const SweepParams pv, const SweepParams pk,          \
                                                                     const __grid_constant__ HopperMaps mv,              \
                                                                     const __grid_constant__ HopperMaps mk) {            \
        LA2_HOPPER_DKDV_BODY(T, true, &mv, &mk)                                                                             \
    }
#define LA2_SWEEP_HOPPER_DKDV_LOADED(name, T)                                                                               \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_dkdv(const SweepParams pv, const SweepParams pk) {        \
        LA2_HOPPER_DKDV_BODY(T, false, nullptr, nullptr)                                                                    \
    }                                                                                                                       \
    extern "C" __global__ void __launch_bounds__(256, 1) name##_dkdv_packed(SweepParams pv, SweepParams pk,               \
                                                                            const PackedParams pkd) {                       \
        if (rebindSweep<T>(pv, pkd, false) && rebindSweep<T>(pk, pkd, false)) {                                             \
            LA2_HOPPER_DKDV_BODY(T, false, nullptr, nullptr)                                                                \
        }                                                                                                                   \
    }
