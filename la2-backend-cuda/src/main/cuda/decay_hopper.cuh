// The decay gradient's fourth sweep (decay.cuh, decaySweep) on Hopper warpgroups, for 16-bit
// storage with Dk = Dv = 128 (la2_decay_sweep_hopper_*_d128), fused with the backward's dq pass:
// the same sums, T = -dS/ds carried beside S in fp32, with the products on 16-bit operands and fp32
// accumulators, and dq from the same walk over S. Every term is summed with nothing to cancel, so
// the 16-bit operands leave errors far inside 16-bit storage's tolerance at every rate (ALGORITHM.md
// 3.6).
//
// Per chunk of l tokens (local a, b) entering with S and T, token a adds
//   c lambda^(a+1) (a+1) q_a S dO_a^T + c lambda^(a+1) q_a T dO_a^T + sum_{b<a} c (a-b) lambda^(a-b) (q_a . k_b)(v_b . dO_a)
// and the chunk updates T <- lambda^l (T + l S) + (diag(w') K)^T V, S <- lambda^l S + (diag(w) K)^T V
// with w_b = lambda^(l-1-b), w'_b = (l-1-b) lambda^(l-1-b). The first term is (a+1) q_a . dq_a(S),
// dq's state term c lambda^(a+1) dO_a S^T, which the dq pass computes anyway:
//   dq_a = c lambda^(a+1) dO_a S^T + sum_{b<=a} c lambda^(a-b) (dO_a . v_b) k_b.
//
// Three warpgroups, 384 threads:
// - the output warpgroup (threads 0..127), rows 16 wq + g (+ 8) of the chunk: the scores Q K^T and
//   dO V^T, whose products masked with c (a-b) lambda^(a-b) give the pairs' term in fp32 and whose
//   second, masked with c lambda^(a-b) into 16-bit A fragments, multiplies K; then per 64-column
//   half, dO S^T from S's 16-bit copy, dotted row by row with q_a for the first term, its rows times
//   c lambda^(a+1), the masked dO V^T times K added: dq, stored through a per-warp staging buffer;
//   its thread 0 issues the ring's loads. Both halves of dq stay in registers, so each product is
//   in flight while the warpgroup works on the one before it: dO S^T's first half under the pairs'
//   term and the masking, its second under the first half's term and factors, P K's halves under
//   the second half's and under the first half's store (the walk in 0.95x the time of one product
//   at a time on an H100, BENCHMARKS.md 1.7.7);
// - two state warpgroups (threads 128..383), warpgroup w owning rows 64w.. of S and T in fp32 (128
//   registers a thread): per chunk T's term <T, (diag(c lambda^(a+1)) Q)^T dO> over its rows (its
//   64 columns of q weighted into shared memory, then products over the chunk's 64 tokens: the
//   same multiply-adds as Q T, on the state side, and no copy of T), the two updates, then the
//   16-bit copy of its rows of S for the next chunk's dO S^T.
// S's copies alternate between two buffers: the state warpgroups write chunk i + 1's
// while the output warpgroup still reads chunk i's, and wait (named barrier COPY_EMPTY + c) only
// for its reading of chunk i - 1's; their arrival after writing (COPY_FULL + c) lets it read. One
// copy, which made the state warpgroups wait for the output warpgroup's second dO S^T each chunk,
// took 1.04-1.08x the time of the walk.
//
// Segments as in the double sweep (SweepPlanner.hopperDecay takes the forward's Hopper plan): mode 0
// (grid BH x (nseg - 1)) runs the state warpgroups alone over k and v from zero states (the output
// warpgroup leaves at once; thread 128 issues the loads, and the ring's stages wait for the 8 state
// warps) and leaves each segment's local S and T in scratch in double; la2_decay_scan chains them;
// mode 1 (grid BH x nseg) starts each segment from s0 or the chained states, writes its dq and adds
// its sum, and the last segment <dS_final, T_{N-1}>, to acc[seq].
#pragma once

#include "decay.cuh"
#include "hopper_fragments.cuh"
#include "smem.cuh"
#include "sweep_hopper.cuh"

// The tensor maps of q, k, v and dO (as HopperMaps: rank 4, boxes of 64 columns x 64 tokens).
struct alignas(64) DecayMaps {
    unsigned long long q[16], k[16], v[16], dO[16];
};

namespace tangent {
constexpr int STAGES = 2, THREADS = 384;
// Lab only, for timing (the results are wrong): the output warpgroup skips its products and stores
// (NO_OUTPUT), the state warpgroups all theirs (NO_STATE), keeping the ring's and the copies'
// barriers (gpu/hopper-lab's decay section times them against the backend's build, V = 0).
constexpr int NO_OUTPUT = 1, NO_STATE = 2;
constexpr int COPIES = 2;  // of S, in 16 bits
// Registers a thread (setmaxnreg): the launch gives each 168 (65536 / 384, rounded down to 8), and
// the warpgroups can only share out those (in multiples of 8). The output warpgroup keeps 136 (both
// score tiles and dO S^T's first half, then both halves of dq and P, live at once; at 128 ptxas
// serializes its products) and hands 32 to the state warpgroups (16 to each of their threads),
// whose S and T take 128 and T's term 16 more. ptxas -v reports no spills with these.
constexpr int LAUNCH_REGS = 168, OUTPUT_REGS = 136, STATE_REGS = 184;
static_assert(OUTPUT_REGS + 2 * STATE_REGS <= 3 * LAUNCH_REGS && LAUNCH_REGS * THREADS <= 65536, "the register file");
struct Layout {
    static constexpr u32 STAGE = 4 * hopper::TILE;                          // q, k, v, dO
    static constexpr u32 SBUF = STAGES * STAGE;                             // S's copies
    static constexpr u32 QW = SBUF + COPIES * hopper::STATE;                // the weighted q, state warpgroup w's 64 columns at w * 8192
    static constexpr u32 OUTS = QW + hopper::TILE;                          // dq's staging buffers, 16 rows of 128 bytes a warp
    static constexpr u32 TABLE = OUTS + 4 * 16 * 128;                       // lambda^m, then m lambda^m (66 floats each)
    static constexpr u32 MASKS = TABLE + 640;                               // the masked decay factors of dO V^T (2C floats)
    static constexpr u32 BARS = MASKS + 512;                                // per stage: landed, released
    static constexpr u32 RED = BARS + 64;                                   // one double per warp
    static constexpr int SMEM = (int) (RED + 128 + 1024);                   // and the slack that aligns the base
    static_assert(TABLE + 8 * (hopper::C + 2) <= MASKS && MASKS + 8 * hopper::C <= BARS && BARS + 16 * STAGES <= RED &&
                      SMEM <= 227 * 1024,
                  "decay sweep buffers");
};
constexpr int SMEM = Layout::SMEM;
// Named barriers: S's copy c written (COPY_FULL + c) and read (COPY_EMPTY + c); warpgroup w's
// weighted q written (QW_READY + w).
constexpr int COPY_FULL = 1, COPY_EMPTY = 3, QW_READY = 5;
static_assert(SMEM == sharedBytes::hopperDecay(STAGES), "smem.cuh's formula");

// The pairs' term of this thread's scores: sum over its (a, b), b < a, of c (a-b) lambda^(a-b)
// (q_a . k_b)(dO_a . v_b), from the accumulators of Q K^T (sc) and dO V^T (dp); pm[m] = m lambda^m.
__device__ __forceinline__ float pairTerm(const float (&sc)[32], const float (&dp)[32], int wq, int lane, float c, const float* pm) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    float x = 0.f;
#pragma unroll
    for (int jb = 0; jb < 8; jb++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int a = 16 * wq + g + 8 * hr, b0 = 8 * jb + t2;
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int y = 4 * jb + 2 * hr + e;
                if (b0 + e < a) x = fmaf(pm[a - b0 - e] * sc[y], dp[y], x);
            }
        }
    return c * x;
}

// S's term of this thread's rows over dq's columns 64 hf ..: sum_a c (a+1) lambda^(a+1) q_a . (dO_a S^T),
// from the accumulator of dO S^T (ot, rows not yet scaled) and the chunk's q tile at `qt`.
template <typename T>
__device__ __forceinline__ float stateTerm(const float (&ot)[32], const unsigned char* qt, int hf, int wq, int lane, float c,
                                           const float* pm) {
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    float x = 0.f;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        const int a = 16 * wq + g + 8 * hr;
        float r = 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const float2 y = unpack2<T>(*(const u32*) (qt + tileOffset(a, 64 * hf + 8 * j + t2, hopper::C)));
            r = fmaf(ot[4 * j + 2 * hr], y.x, fmaf(ot[4 * j + 2 * hr + 1], y.y, r));
        }
        x = fmaf(pm[a + 1], r, x);
    }
    return c * x;
}
}  // namespace tangent

template <typename T, int V = 0>
__device__ void decaySweepHopper(const DecaySweepParams& p, const DecayMaps* maps) {
    using namespace hopper;
    using W = WgmmaOp<T>;
    using L = tangent::Layout;
    extern __shared__ __align__(128) unsigned char smraw[];
    unsigned char* sm = hopper::alignedBase(smraw);
    unsigned char* ring = sm;
    unsigned char* sCopy = sm + L::SBUF;
    unsigned char* qw = sm + L::QW;
    float* pw = (float*) (sm + L::TABLE);  // lambda^m
    float* pm = pw + (C + 2);              // m lambda^m
    float* mt = (float*) (sm + L::MASKS);  // c lambda^m, masked (maskTable)
    double* red = (double*) (sm + L::RED);
    constexpr int NT = tangent::THREADS;
    if (p.Dk != D || p.Dv != D || p.C != C || p.L % C != 0) __trap();

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wq = warp & 3, g = lane >> 2, t2 = (lane & 3) * 2;
    const i64 seq = blockIdx.x;
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    // mode 0 walks segment seg for its local S and T (the state warpgroups alone, k and v loaded by
    // thread 128, the ring's stages released by the 8 state warps); mode 1 walks it from the S and T
    // it starts with and sums its share (thread 0 loads, all 12 warps release)
    const bool full = p.mode == 1;
    const int producer = full ? 0 : 128;
    const int seg = blockIdx.y;
    const i64 t0seg = (i64) seg * p.L, t1seg = min(p.N, t0seg + p.L);
    const int nc = (int) ((t1seg - t0seg + C - 1) / C);
    const float c = (float) p.scale;
    const i64 DkDv = (i64) D * D;
    auto same = [](int r) { return r; };
    for (int m = tid; m < C + 2; m += NT) {
        const float x = lpow(s, (float) m);
        pw[m] = x;
        pm[m] = (float) m * x;
    }
    maskTable(mt, s, c, tid, NT);
    const u32 landed = smemAddr(sm + L::BARS), released = landed + 8 * tangent::STAGES;
    if (tid == 0) {
        for (int x = 0; x < tangent::STAGES; x++) {
            mbarInit(landed + 8 * x, 1);
            mbarInit(released + 8 * x, full ? NT / 32 : 8);
        }
    }
    fenceProxyAsync();
    __syncthreads();
    // chunk i into ring stage i % STAGES (thread 0), once every warp is done with chunk i - STAGES
    auto issue = [&](int i) {
        const int st = i % tangent::STAGES;
        if (i >= tangent::STAGES) mbarWait(released + 8 * st, ((i - tangent::STAGES) / tangent::STAGES) & 1);
        const u32 dst = smemAddr(ring + st * L::STAGE), bar = landed + 8 * st;
        const int c0 = (int) (t0seg + (i64) i * C);
        mbarExpectTx(bar, (full ? 4 : 2) * TILE);
#pragma unroll
        for (int half = 0; half < 2; half++) {
            const u32 off = half * C * 128;
            if (full) tmaLoad4(dst + off, maps->q, 64 * half, c0, (int) h, (int) b, bar);
            tmaLoad4(dst + TILE + off, maps->k, 64 * half, c0, (int) h, (int) b, bar);
            tmaLoad4(dst + 2 * TILE + off, maps->v, 64 * half, c0, (int) h, (int) b, bar);
            if (full) tmaLoad4(dst + 3 * TILE + off, maps->dO, 64 * half, c0, (int) h, (int) b, bar);
        }
    };
    if (tid == producer) issue(0);
    auto release = [&](int st) {
        warpArrive(released + 8 * st, lane);
    };
    // each branch of mode 1 ends here with its threads' share of the segment's sum
    auto finish = [&](double part) {
        const double total = blockSum(part, red);
        if (tid == 0) atomicAdd(&p.acc[seq], total);
    };
    // scratch slot g: S then T that segment g + 1 starts from (after la2_decay_scan; mode 0 leaves
    // segment g's local ones there)
    auto slot = [&](int g) { return p.scratch + (seq * (p.nseg - 1) + g) * 2 * DkDv; };

    if (tid >= 128) {
        // a state warpgroup: rows 64 wg + 16 wq + g (+ 8) of S and T, columns 64 hf + 8 j + t2 (+ 1)
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(tangent::STATE_REGS));
        const int wg = (tid >> 7) - 1;
        // S and T to start from: the scan's (a later segment of mode 1), or s0 and zero
        const double* from = full && seg > 0 ? slot(seg - 1) : nullptr;
        const float* s0 = full && seg == 0 && p.s0 != nullptr ? p.s0 + seq * DkDv : nullptr;
        float st[2][32], tt[2][32];
        // a walk from zero states branches past the loads (as StateBand::load does)
        if (from == nullptr && s0 == nullptr) {
#pragma unroll
            for (int x = 0; x < 32; x++) st[0][x] = st[1][x] = tt[0][x] = tt[1][x] = 0.f;
        } else {
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int x = 0; x < 32; x++) {
                    const int d = 64 * wg + 16 * wq + g + 8 * ((x >> 1) & 1), e = 64 * hf + 8 * (x >> 2) + t2 + (x & 1);
                    st[hf][x] = from != nullptr ? (float) from[d * D + e] : s0[d * D + e];
                    tt[hf][x] = from != nullptr ? (float) from[DkDv + d * D + e] : 0.f;
                }
        }
        // S's copy for chunk j, into copy j % COPIES once the output warpgroup has read chunk j - COPIES's
        auto copyS = [&](int j) {
            const int x = j % tangent::COPIES;
            if (j >= tangent::COPIES) namedSync(tangent::COPY_EMPTY + x, NT);
            copyStateRows<T, false>(sCopy + x * STATE, st, wg, wq, lane);
            fenceProxyAsync();
            namedArrive(tangent::COPY_FULL + x, NT);
        };
        if (full) copyS(0);
        double part = 0.0;
        for (int i = 0; i < nc; i++) {
            const int sti = i % tangent::STAGES;
            if (!full) {
                if (tid == producer && i + 1 < nc) issue(i + 1);
                __syncwarp();
            }
            const int cc = (int) min((i64) C, t1seg - t0seg - (i64) i * C);
            unsigned char* stage = ring + sti * L::STAGE;
            const u32 va = smemAddr(stage) + 2 * TILE, ga = va + TILE;
            mbarWait(landed + 8 * sti, (i / tangent::STAGES) & 1);
            // T's term: <T, (diag(c lambda^(a+1)) Q)^T dO> over this warpgroup's rows. Its 64 columns of
            // q, weighted, go to its half of qw (the same swizzled places: row r is 8 pieces of 16
            // bytes), then (qw)^T dO 32 columns at a time, A and B both MN-major.
            if (full && (V & tangent::NO_STATE) == 0) {
                const unsigned char* src = stage + wg * (C * 128);
                unsigned char* dst = qw + wg * (C * 128);
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    const int piece = (tid & 127) + 128 * u, r = piece >> 3;
                    const float w = r < cc ? c * pw[r + 1] : 0.f;
                    uint4 y = *(const uint4*) (src + 16 * piece);
                    y.x = Mma<T>::scale2(y.x, w, w);
                    y.y = Mma<T>::scale2(y.y, w, w);
                    y.z = Mma<T>::scale2(y.z, w, w);
                    y.w = Mma<T>::scale2(y.w, w, w);
                    *(uint4*) (dst + 16 * piece) = y;
                }
                fenceProxyAsync();
                namedSync(tangent::QW_READY + wg, 128);
                const u32 lq = smemDescLo(smemAddr(dst)), lg = smemDescLo(ga);
#pragma unroll
                for (int qr = 0; qr < 4; qr++) {
                    const int hf = qr >> 1, n0 = 16 * (qr & 1);  // columns 64 hf + 32 (qr & 1) .., tt[hf][n0 ..]
                    float gq[16];
                    wgmmaFence();
#pragma unroll
                    for (int j = 0; j < 4; j++)
                        W::template ss32<1, 1>(gq, smemDescAt(lq, j * 2048), smemDescAt(lg, hf * (C * 128) + (qr & 1) * 64 + j * 2048),
                                               j > 0);
                    wgmmaCommit();
                    wgmmaWait<0>();
                    pinRegisters(gq);
                    float x = 0.f;
#pragma unroll
                    for (int y = 0; y < 16; y++) x = fmaf(tt[hf][n0 + y], gq[y], x);
                    part += (double) x;
                }
            }
            const float carry = pw[cc], grow = (float) cc;
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int x = 0; x < 32; x++) {
                    tt[hf][x] = carry * fmaf(grow, st[hf][x], tt[hf][x]);
                    st[hf][x] *= carry;
                }
            // S's update, then T's, one set of weighted keys at a time (both at once would spill)
            auto update = [&](float (&x)[2][32], const float* table) {
                u32 kt[4][4];
                weightedKeys<T>(kt, stage + TILE, wg, wq, lane, cc, 1.f, table, same);
                pinRegisters(x[0]);
                pinRegisters(x[1]);
                pinRegisters(kt);
                wgmmaFence();
                wgmmaRsTiles<T>(x, kt, va, C * 128);
                wgmmaCommit();
                wgmmaWait<0>();
                pinRegisters(x[0]);
                pinRegisters(x[1]);
            };
            if constexpr ((V & tangent::NO_STATE) == 0) {
                update(st, pw);
                update(tt, pm);
            }
            release(sti);
            if (full && i + 1 < nc) copyS(i + 1);
        }
        if (!full) {
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int x = 0; x < 32; x++) {
                    const int d = 64 * wg + 16 * wq + g + 8 * ((x >> 1) & 1), e = 64 * hf + 8 * (x >> 2) + t2 + (x & 1);
                    slot(seg)[d * D + e] = st[hf][x];
                    slot(seg)[DkDv + d * D + e] = tt[hf][x];
                }
            return;
        }
        if (p.dSf != nullptr && seg == p.nseg - 1) {
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int x = 0; x < 32; x++) {
                    const int d = 64 * wg + 16 * wq + g + 8 * ((x >> 1) & 1), e = 64 * hf + 8 * (x >> 2) + t2 + (x & 1);
                    part += (double) p.dSf[seq * DkDv + d * D + e] * tt[hf][x];
                }
        }
        finish(part);
    } else {
        // the output warpgroup: rows 16 wq + g (+ 8) of the chunk
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(tangent::OUTPUT_REGS));
        if (!full) return;
        const u32 s0a = smemAddr(sCopy);
        T* dq = (T*) p.dq + b * p.kB + h * p.kH;
        unsigned char* ob = sm + L::OUTS + wq * (16 * 128);
        double part = 0.0;
        for (int i = 0; i < nc; i++) {
            const int sti = i % tangent::STAGES;
            const i64 t0 = t0seg + (i64) i * C;
            const int cc = (int) min((i64) C, t1seg - t0);
            unsigned char* stage = ring + sti * L::STAGE;
            const u32 qa = smemAddr(stage), ka = qa + TILE, va = qa + 2 * TILE, ga = qa + 3 * TILE;
            if (tid == 0 && i + 1 < nc) issue(i + 1);
            mbarWait(landed + 8 * sti, (i / tangent::STAGES) & 1);
            const int cx = i % tangent::COPIES;  // S's copy for chunk i
            if constexpr ((V & tangent::NO_OUTPUT) != 0) {
                namedSync(tangent::COPY_FULL + cx, NT);
                if (i + tangent::COPIES < nc) namedArrive(tangent::COPY_EMPTY + cx, NT);
                release(sti);
                continue;
            }
            // dq's columns 64 hf ..: dO S^T (B = S^T, K-major: S's copy holds row d's columns 64 hf' ..
            // as 128 bytes of half hf')
            const u32 sa = s0a + cx * STATE;
            auto stateProduct = [&](float (&d)[32], int hf) {
                wgmmaFence();
                wgmmaSsKMajor<T>(d, ga, C * 128, sa + hf * (64 * 128), D * 128);
                wgmmaCommit();
            };
            // commit groups in order: the scores Q K^T and dO V^T, dO S^T's halves 0 (ot) and 1 (ou),
            // P K's halves 0 and 1; each wait leaves the group after it in flight
            float x, ot[32], ou[32];
            u32 pa[4][4];
            {
                float sc[32], dp[32];
                wgmmaFence();
                wgmmaSsKMajor<T>(sc, qa, C * 128, ka, C * 128);
                wgmmaSsKMajor<T>(dp, ga, C * 128, va, C * 128);
                wgmmaCommit();
                namedSync(tangent::COPY_FULL + cx, NT);
                stateProduct(ot, 0);
                wgmmaWait<1>();
                pinRegisters(sc);
                pinRegisters(dp);
                // the pairs' term, then dO V^T masked into dq's A fragments
                x = tangent::pairTerm(sc, dp, wq, lane, c, pm);
                maskScores<T>(dp, pa, wq, lane, mt, same);
                pinRegisters(pa);
            }
            stateProduct(ou, 1);
            // each half: S's term of the sum, the rows' factors, then P K in flight
            auto half = [&](float (&d)[32], int hf) {
                wgmmaWait<1>();
                pinRegisters(d);
                if (hf == 1 && i + tangent::COPIES < nc) namedArrive(tangent::COPY_EMPTY + cx, NT);  // done with chunk i's copy
                x += tangent::stateTerm<T>(d, stage, hf, wq, lane, c, pm);
                scaleRows(d, wq, lane, c, pw, 1, same);
                pinRegisters(d);
                wgmmaFence();
                wgmmaRsTile<T>(d, pa, ka + hf * (C * 128));
                wgmmaCommit();
            };
            half(ot, 0);
            half(ou, 1);
            wgmmaWait<1>();
            pinRegisters(ot);
            stageOutBlock<T>(ob, ot, lane, outRows<false>(dq, p.kT, t0, cc, wq, false, p.N));
            wgmmaWait<0>();
            pinRegisters(ou);
            stageOutBlock<T>(ob, ou, lane, outRows<false>(dq + 64, p.kT, t0, cc, wq, false, p.N));
            part += (double) x;
            release(sti);
        }
        finish(part);
    }
}

// Built only for sm_90a; elsewhere the entry points exist and trap (the planner picks them only on
// compute capability 9.0).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
#define LA2_DECAY_HOPPER_BODY(T) decaySweepHopper<T>(p, &maps);
#else
#define LA2_DECAY_HOPPER_BODY(T) __trap();
#endif
#define LA2_DECAY_SWEEP_HOPPER(name, T)                                                                                           \
    extern "C" __global__ void __launch_bounds__(tangent::THREADS, 1) name(const DecaySweepParams p, const __grid_constant__ DecayMaps maps) { \
        LA2_DECAY_HOPPER_BODY(T)                                                                                                  \
    }
