// The Hopper sweep with its two warpgroups split by role (hopper::ROLES, sweep_hopper.cuh): mode 1
// of a forward-time pass without the w dot product, on TMA chunks, computing what sweepHopperMode
// computes with the same products in the same order (so the same bits), but with the warpgroups
// split by role instead of by output columns and state rows:
// - the state warpgroup (threads 128..255) owns the whole 128 x 128 fp32 state (rows 16 wq + g
//   (+ 8) and 64 + 16 wq + g (+ 8) of warp wq): per chunk it decays it, adds (diag(wk) K)^T V
//   and writes the 16-bit copy the output warpgroup's q S of the next chunk reads;
// - the output warpgroup (threads 0..127) owns the chunk's 64 x 128 outputs: the scores Q K^T
//   (computed once, not once per warpgroup), q S from the copy, the masked scores times v, the
//   staged stores; its thread 0 issues the ring's loads.
// The two run a chunk apart: the state warpgroup writes copy i + 1 while the output warpgroup
// works on chunk i, and no block barrier separates chunks. Synchronisation: per ring stage a
// transaction barrier (landed) and an arrival barrier that the 8 warps arrive on when done with it
// (the producer waits on it before reloading the stage); per state copy buffer two named barriers
// (written by the state warpgroup; read by the output one). SCORES_FIRST: the scores are issued
// before the wait for the state copy, and masked while q S is in flight. EXACT: non-finite outputs
// are noted and returned as sweepHopperMode notes and returns them.
// The backend runs it on the dq pass (the _bwd TMA entry point, sweep_hopper_entries.cuh);
// gpu/hopper-lab.cu times it against the column split on the forward and the backward's passes.
#pragma once

#include "sweep_hopper.cuh"

namespace hopper {
// named barrier ids: copy b written (COPY_FULL + b), copy b read (COPY_EMPTY + b)
constexpr int COPY_FULL = 1, COPY_EMPTY = 3;
}  // namespace hopper

template <typename T, bool EXACT, bool SCORES_FIRST>
__device__ bool sweepHopperRoles(const SweepParams& p, const HopperMaps* maps) {
    using namespace hopper;
    extern __shared__ __align__(128) unsigned char smraw[];  // aligned to 1024 below
    unsigned char* sm = hopper::alignedBase(smraw);
    unsigned char* ring = sm;                   // [STAGES][q, k, v][64 x 128]
    unsigned char* sbuf = sm + STAGES * STAGE;  // [2][128 x 128]: 16-bit state copies
    float* pw = (float*) (sm + TABLE);          // [C + 2] lambda^m
    float* mt = (float*) (sm + MASKS);          // [2C] the masked decay factors

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wq = warp & 3;
    LA2_MARK(LA2_MARK_ENTRY);
    const Segment sg = blockSegment(p);
    const i64 seq = sg.seq, b = sg.b, h = sg.h, t0seg = sg.t0, t1seg = sg.t1;
    const int seg = sg.seg;
    const float s = sg.s;
    const int nc = (int) ((t1seg - t0seg + C - 1) / C);
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    auto same = [](int r) { return r; };
    for (int m = tid; m < C + 2; m += THREADS) pw[m] = lpow(s, (float) m);
    maskTable(mt, s, alpha, tid, THREADS);
    const u32 full = smemAddr(sm + BARS), empty = full + 8 * STAGES;
    if (p.rev) __trap();
    if (tid == 0) {
        for (int x = 0; x < STAGES; x++) {
            mbarInit(full + 8 * x, 1);
            mbarInit(empty + 8 * x, THREADS / 32);
        }
    }
    fenceProxyAsync();
    __syncthreads();
    // chunk c into ring stage c % STAGES, once all warps are done with chunk c - STAGES
    auto issue = [&](int c) {
        const int st = c % STAGES;
        if (c >= STAGES) mbarWait(empty + 8 * st, ((c - STAGES) / STAGES) & 1);
        hopperTmaChunk(maps, true, (int) (t0seg + (i64) c * C), (int) h, (int) b, ring + st * STAGE, full + 8 * st);
    };
    if (tid == 0) {
        issue(0);
        if (nc > 1) issue(1);
    }
    // chunk i: its first token, length, first decay offset, ring stage and the stage's tiles
    struct Chunk {
        i64 t0;
        int cc, ofs, st;
        unsigned char* stage;
    };
    auto chunk = [&](int i) {
        Chunk c;
        c.t0 = t0seg + (i64) i * C;
        c.cc = (int) min((i64) C, t1seg - c.t0);
        c.ofs = (c.t0 == 0) ? (int) p.ofs0 : 1;
        c.st = i % STAGES;
        c.stage = ring + c.st * STAGE;
        return c;
    };
    // this warp is done with ring stage st
    auto release = [&](int st) {
        warpArrive(empty + 8 * st, lane);
    };

    if (tid >= 128) {
        // the state warpgroup: st[m] holds rows 64 m + 16 wq + g (+ 8), in StateBand<T, Mma<T>, 16>'s layout
        float st[2][2][32];
        {
            StateBand<T, Mma<T>, 16> band0(16 * wq, 0, 0), band1(64 + 16 * wq, 0, 0);
            band0.load(p, seq, seg, true);
            band1.load(p, seq, seg, true);
#pragma unroll
            for (int i = 0; i < 64; i++) {
                st[0][i >> 5][i & 31] = band0.st[i >> 2][i & 3];
                st[1][i >> 5][i & 31] = band1.st[i >> 2][i & 3];
            }
        }
        LA2_MARK(LA2_MARK_STATE_LOADED);
        auto copyState = [&](int to) {
            copyStateRows<T, false>(sbuf + to * STATE, st[0], 0, wq, lane);
            copyStateRows<T, false>(sbuf + to * STATE, st[1], 1, wq, lane);
            fenceProxyAsync();
            namedArrive(COPY_FULL + to, THREADS);
        };
        copyState(0);
        LA2_MARK(LA2_MARK_STATE_COPY);
        for (int i = 0; i < nc; i++) {
            const Chunk ch = chunk(i);
            const int cc = ch.cc, ofsi = ch.ofs, sti = ch.st;
            unsigned char* stage = ch.stage;
            const u32 va = smemAddr(stage) + 2 * TILE;
            const float carry = pw[cc - 1 + ofsi];
            mbarWait(full + 8 * sti, (i / STAGES) & 1);
            LA2_MARK(LA2_MARK_STATE_CHUNK);
#pragma unroll
            for (int m = 0; m < 2; m++)
#pragma unroll
                for (int x = 0; x < 32; x++) {
                    st[m][0][x] *= carry;
                    st[m][1][x] *= carry;
                }
            u32 kt[2][4][4];
            weightedKeys<T>(kt[0], stage + TILE, 0, wq, lane, cc, kappa, pw, same);
            weightedKeys<T>(kt[1], stage + TILE, 1, wq, lane, cc, kappa, pw, same);
#pragma unroll
            for (int m = 0; m < 2; m++) {
                pinRegisters(st[m][0]);
                pinRegisters(st[m][1]);
                pinRegisters(kt[m]);
            }
            wgmmaFence();
#pragma unroll
            for (int m = 0; m < 2; m++) wgmmaRsTiles<T>(st[m], kt[m], va, C * 128);
            wgmmaCommit();
            wgmmaWait<0>();
#pragma unroll
            for (int m = 0; m < 2; m++) {
                pinRegisters(st[m][0]);
                pinRegisters(st[m][1]);
            }
            release(sti);
            LA2_MARK(LA2_MARK_STATE_DONE);
            if (i + 1 < nc) {
                // buffer (i + 1) % 2 held copy i - 1, which chunk i - 1's outputs read
                if (i >= 1) namedSync(COPY_EMPTY + ((i + 1) & 1), THREADS);
                copyState((i + 1) & 1);
                LA2_MARK(LA2_MARK_STATE_COPY);
            }
        }
        if constexpr (EXACT) {
            if (__syncthreads_or(false)) return true;
        }
        StateBand<T, Mma<T>, 16> band0(16 * wq, 0, 0), band1(64 + 16 * wq, 0, 0);
#pragma unroll
        for (int i = 0; i < 64; i++) {
            band0.st[i >> 2][i & 3] = st[0][i >> 5][i & 31];
            band1.st[i >> 2][i & 3] = st[1][i >> 5][i & 31];
        }
        band0.store(p, seq, seg, true, s);
        band1.store(p, seq, seg, true, s);
        return false;
    }

    // the output warpgroup
    T* o = (T*) p.o + b * p.vB + h * p.vH;
    float nonFinite = 0.f;  // 0 * each output added in: zero, or NaN after a non-finite one
    for (int i = 0; i < nc; i++) {
        const Chunk ch = chunk(i);
        const i64 t0 = ch.t0;
        const int cc = ch.cc, ofsi = ch.ofs, sti = ch.st;
        unsigned char* stage = ch.stage;
        const u32 qa = smemAddr(stage), ka = qa + TILE, va = qa + 2 * TILE;
        const unsigned char* sb = sbuf + (i & 1) * STATE;
        const u32 sa = smemAddr(sb);
        if (tid == 0 && i + 2 < nc) issue(i + 2);
        mbarWait(full + 8 * sti, (i / STAGES) & 1);
        LA2_MARK(LA2_MARK_CHUNK);
        float sc[32], ot[2][32];
        u32 pa[4][4];
        // the scores need only the chunk; q S also the copy
        wgmmaFence();
        wgmmaSsKMajor<T>(sc, qa, C * 128, ka, C * 128);
        if constexpr (SCORES_FIRST) wgmmaCommit();
        namedSync(COPY_FULL + (i & 1), THREADS);
        if constexpr (SCORES_FIRST) wgmmaFence();
#pragma unroll
        for (int hf = 0; hf < 2; hf++) wgmmaSsNMajor<T>(ot[hf], qa, C * 128, sa + hf * (D * 128));
        wgmmaCommit();
        if constexpr (SCORES_FIRST) {
            // mask the scores while q S is in flight
            wgmmaWait<1>();
            pinRegisters(sc);
            maskScores<T>(sc, pa, wq, lane, mt, same);
            pinRegisters(pa);
        }
        wgmmaWait<0>();
        pinRegisters(sc);
        pinRegisters(ot[0]);
        pinRegisters(ot[1]);
        if constexpr (!SCORES_FIRST) maskScores<T>(sc, pa, wq, lane, mt, same);
        scaleRows(ot[0], wq, lane, beta, pw, ofsi, same);
        scaleRows(ot[1], wq, lane, beta, pw, ofsi, same);
        pinRegisters(pa);
        pinRegisters(ot[0]);
        pinRegisters(ot[1]);
        wgmmaFence();
#pragma unroll
        for (int hf = 0; hf < 2; hf++) wgmmaRsTile<T>(ot[hf], pa, va + hf * (C * 128));
        wgmmaCommit();
        wgmmaWait<0>();
        pinRegisters(ot[0]);
        pinRegisters(ot[1]);
        if constexpr (EXACT) {
#pragma unroll
            for (int x = 0; x < 32; x++) nonFinite = fmaf(ot[0][x], 0.f, fmaf(ot[1][x], 0.f, nonFinite));
        }
        // done with the stage and with copy i (buffer i % 2, rewritten with copy i + 2)
        release(sti);
        if (i + 2 < nc) namedArrive(COPY_EMPTY + (i & 1), THREADS);
        LA2_MARK(LA2_MARK_DONE);
        if (p.writeOut) {
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                unsigned char* ob = sm + OUTS + wq * (2 * 16 * 128) + hf * (16 * 128);
                stageOutBlock<T>(ob, ot[hf], lane, outRows<false>(o + 64 * hf, p.vT, t0, cc, wq, false, p.N));
            }
        }
    }
    LA2_MARK(LA2_MARK_EXIT);
    if constexpr (EXACT) return __syncthreads_or(p.writeOut && !(nonFinite == 0.f));
    return false;
}
