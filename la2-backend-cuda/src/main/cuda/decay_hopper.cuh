// The decay gradient's fourth sweep (decay.cuh, decaySweep) on Hopper warpgroups, for 16-bit
// storage with Dk = Dv = 128 (la2_decay_sweep_hopper_*_d128): the same sums, T = -dS/ds carried
// beside S, with the products on 16-bit operands and fp32 accumulators. Every term is summed with
// nothing to cancel, so the 16-bit copies of S and T that the products read leave errors far
// inside 16-bit storage's tolerance at every rate (ALGORITHM.md 3.6).
//
// Per chunk of l tokens (local a, b) entering with S and T, token a adds
//   dO_a . [ c lambda^(a+1) q_a ((a+1) S + T) + sum_{b<a} c (a-b) lambda^(a-b) (q_a . k_b) v_b ]
// and the chunk updates T <- lambda^l (T + l S) + (diag(w') K)^T V, S <- lambda^l S + (diag(w) K)^T V
// with w_b = lambda^(l-1-b), w'_b = (l-1-b) lambda^(l-1-b).
//
// Three warpgroups, 384 threads:
// - the output warpgroup (threads 0..127): per chunk the scores Q K^T, then Q S from S's copy,
//   its rows times (a+1), Q T from T's copy added, the rows times c lambda^(a+1), the scores
//   masked with c (a-b) lambda^(a-b) times V added, and each row dotted with dO_a; its thread 0
//   issues the ring's loads;
// - two state warpgroups (threads 128..383), warpgroup w owning rows 64w.. of both S and T in
//   fp32 (128 registers a thread): per chunk the two updates, then the 16-bit copies of its rows
//   for the next chunk's products, once the output warpgroup is done reading the last ones.
// The copies are single: the output warpgroup's named-barrier arrival after Q T lets the state
// warpgroups overwrite them, and theirs after writing lets it read. The state warpgroups hold
// sigma T, sigma = 2^min(0, floor(log2 s)) (exact), so that fp16's copy holds it where T grows as
// 1/s^2 (s = max(rate, 1 / N)); the output rows' factors (a+1) sigma and c lambda^(a+1) / sigma undo it.
//
// One segment per sequence (mode 1 of a plan with one segment; SweepPlanner.hopperDecay): each
// block adds its sequence's sum and <dS_final, T_{N-1}> to acc[seq]. A call with several segments
// per sequence takes another route (Backward).
#pragma once

#include "decay.cuh"
#include "hopper_fragments.cuh"
#include "smem.cuh"
#include "sweep_hopper_roles.cuh"

// The tensor maps of q, k, v and dO (as HopperMaps: rank 4, boxes of 64 columns x 64 tokens).
struct alignas(64) DecayMaps {
    unsigned long long q[16], k[16], v[16], dO[16];
};

namespace tangent {
constexpr int STAGES = 2, THREADS = 384;
constexpr u32 STAGE = 4 * hopper::TILE;              // q, k, v, dO
constexpr u32 SBUF = STAGES * STAGE;                 // S's copy, then T's
constexpr u32 TABLE = SBUF + 2 * hopper::STATE;      // lambda^m, then m lambda^m (66 floats each)
constexpr u32 BARS = TABLE + 640;                    // per stage: landed, released
constexpr u32 RED = BARS + 64;                       // one double per warp
constexpr int SMEM = (int) (RED + 128 + 1024);       // and the slack that aligns the base
constexpr int COPY_FULL = 1, COPY_EMPTY = 2;         // named barriers
// Registers a thread (setmaxnreg): the launch gives each 168 (65536 / 384, rounded down to 8), and
// the warpgroups can only share out those; the output warpgroup hands 40 of each thread's to the
// state warpgroups (16 to each of their threads), whose S and T take 128.
constexpr int LAUNCH_REGS = 168, OUTPUT_REGS = 128, STATE_REGS = 184;
static_assert(OUTPUT_REGS + 2 * STATE_REGS <= 3 * LAUNCH_REGS && LAUNCH_REGS * THREADS <= 65536, "the register file");
static_assert(SMEM == sharedBytes::hopperDecay(STAGES), "smem.cuh's formula");
static_assert(TABLE + 8 * (hopper::C + 2) <= BARS && BARS + 16 * STAGES <= RED && SMEM <= 227 * 1024, "decay sweep buffers");
}  // namespace tangent

template <typename T>
__device__ void decaySweepHopper(const DecaySweepParams& p, const DecayMaps* maps) {
    using namespace hopper;
    using W = WgmmaOp<T>;
    extern __shared__ __align__(128) unsigned char smraw[];
    unsigned char* sm = hopper::alignedBase(smraw);
    unsigned char* ring = sm;
    unsigned char* sCopy = sm + tangent::SBUF;
    unsigned char* tCopy = sCopy + STATE;
    float* pw = (float*) (sm + tangent::TABLE);  // lambda^m
    float* pm = pw + (C + 2);                    // m lambda^m
    double* red = (double*) (sm + tangent::RED);
    constexpr int NT = tangent::THREADS;
    if (p.Dk != D || p.Dv != D || p.C != C || p.mode != 1 || p.nseg != 1 || gridDim.y != 1) __trap();

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wq = warp & 3, g = lane >> 2, t2 = (lane & 3) * 2;
    const i64 seq = blockIdx.x;
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    const int nc = (int) ((p.N + C - 1) / C);
    const float c = (float) p.scale;
    // T grows as 1 / s^2 for s >= 1 / N, as N^2 below (s = 0 included)
    const float sigma = exp2f(fminf(0.f, floorf(log2f(fmaxf(s, 1.f / (float) p.N)))));
    const i64 DkDv = (i64) D * D;
    auto same = [](int r) { return r; };
    for (int m = tid; m < C + 2; m += NT) {
        const float x = lpow(s, (float) m);
        pw[m] = x;
        pm[m] = (float) m * x;
    }
    const u32 landed = smemAddr(sm + tangent::BARS), released = landed + 8 * tangent::STAGES;
    if (tid == 0) {
        for (int x = 0; x < tangent::STAGES; x++) {
            mbarInit(landed + 8 * x, 1);
            mbarInit(released + 8 * x, NT / 32);
        }
    }
    fenceProxyAsync();
    __syncthreads();
    // chunk i into ring stage i % STAGES (thread 0), once every warp is done with chunk i - STAGES
    auto issue = [&](int i) {
        const int st = i % tangent::STAGES;
        if (i >= tangent::STAGES) mbarWait(released + 8 * st, ((i - tangent::STAGES) / tangent::STAGES) & 1);
        const u32 dst = smemAddr(ring + st * tangent::STAGE), bar = landed + 8 * st;
        const int c0 = i * C;
        mbarExpectTx(bar, 4 * TILE);
#pragma unroll
        for (int half = 0; half < 2; half++) {
            const u32 off = half * C * 128;
            tmaLoad4(dst + off, maps->q, 64 * half, c0, (int) h, (int) b, bar);
            tmaLoad4(dst + TILE + off, maps->k, 64 * half, c0, (int) h, (int) b, bar);
            tmaLoad4(dst + 2 * TILE + off, maps->v, 64 * half, c0, (int) h, (int) b, bar);
            tmaLoad4(dst + 3 * TILE + off, maps->dO, 64 * half, c0, (int) h, (int) b, bar);
        }
    };
    if (tid == 0) issue(0);
    auto release = [&](int st) {
        __syncwarp();
        if (lane == 0) mbarArrive(released + 8 * st);
    };
    // each branch ends here with its threads' share of the sequence's sum
    auto finish = [&](double part) {
        const double total = blockSum(part, red);
        if (tid == 0) atomicAdd(&p.acc[seq], total);
    };

    if (tid >= 128) {
        // a state warpgroup: rows 64 wg + 16 wq + g (+ 8) of S and T, columns 64 hf + 8 j + t2 (+ 1)
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(tangent::STATE_REGS));
        const int wg = (tid >> 7) - 1;
        float st[2][32], tt[2][32];  // S and sigma T
#pragma unroll
        for (int hf = 0; hf < 2; hf++)
#pragma unroll
            for (int x = 0; x < 32; x++) {
                const int d = 64 * wg + 16 * wq + g + 8 * ((x >> 1) & 1), e = 64 * hf + 8 * (x >> 2) + t2 + (x & 1);
                st[hf][x] = p.s0 != nullptr ? p.s0[seq * DkDv + d * D + e] : 0.f;
                tt[hf][x] = 0.f;
            }
        auto copyStates = [&]() {
            copyStateRows<T, false>(sCopy, st, wg, wq, lane);
            copyStateRows<T, false>(tCopy, tt, wg, wq, lane);
            fenceProxyAsync();
            namedArrive(tangent::COPY_FULL, NT);
        };
        copyStates();
        for (int i = 0; i < nc; i++) {
            const int sti = i % tangent::STAGES;
            const int cc = (int) min((i64) C, p.N - (i64) i * C);
            unsigned char* stage = ring + sti * tangent::STAGE;
            const u32 va = smemAddr(stage) + 2 * TILE;
            mbarWait(landed + 8 * sti, (i / tangent::STAGES) & 1);
            const float carry = pw[cc], grow = (float) cc * sigma;
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int x = 0; x < 32; x++) {
                    tt[hf][x] = carry * fmaf(grow, st[hf][x], tt[hf][x]);
                    st[hf][x] *= carry;
                }
            // S's update, then T's, one set of weighted keys at a time (both at once would spill)
            auto update = [&](float (&x)[2][32], float kappa, const float* table) {
                u32 kt[4][4];
                weightedKeys<T>(kt, stage + TILE, wg, wq, lane, cc, kappa, table, same);
                pinRegisters(x[0]);
                pinRegisters(x[1]);
                pinRegisters(kt);
                wgmmaFence();
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int hf = 0; hf < 2; hf++) W::template rs<1>(x[hf], kt[j], smemDesc(va + hf * (C * 128) + j * 2048));
                wgmmaCommit();
                wgmmaWait<0>();
                pinRegisters(x[0]);
                pinRegisters(x[1]);
            };
            update(st, 1.f, pw);
            update(tt, sigma, pm);
            release(sti);
            if (i + 1 < nc) {
                namedSync(tangent::COPY_EMPTY, NT);  // the output warpgroup has read chunk i's copies
                copyStates();
            }
        }
        double part = 0.0;
        if (p.dSf != nullptr) {
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int x = 0; x < 32; x++) {
                    const int d = 64 * wg + 16 * wq + g + 8 * ((x >> 1) & 1), e = 64 * hf + 8 * (x >> 2) + t2 + (x & 1);
                    part += (double) p.dSf[seq * DkDv + d * D + e] * (tt[hf][x] / sigma);
                }
        }
        finish(part);
    } else {
        // the output warpgroup: rows 16 wq + g (+ 8) of the chunk
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(tangent::OUTPUT_REGS));
        const u32 sa = smemAddr(sCopy), ta = smemAddr(tCopy);
        double part = 0.0;
        for (int i = 0; i < nc; i++) {
            const int sti = i % tangent::STAGES;
            unsigned char* stage = ring + sti * tangent::STAGE;
            const u32 qa = smemAddr(stage), ka = qa + TILE, va = qa + 2 * TILE;
            if (tid == 0 && i + 1 < nc) issue(i + 1);
            mbarWait(landed + 8 * sti, (i / tangent::STAGES) & 1);
            float sc[32], ot[2][32];
            u32 pa[4][4];
            wgmmaFence();
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                const u32 kOff = (kk >> 2) * (C * 128) + (kk & 3) * 32;
                W::template ss<0>(sc, smemDesc(qa + kOff), smemDesc(ka + kOff), kk > 0);
            }
            wgmmaCommit();
            namedSync(tangent::COPY_FULL, NT);
            wgmmaFence();
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int kk = 0; kk < D / 16; kk++)
                    W::template ss<1>(ot[hf], smemDesc(qa + (kk >> 2) * (C * 128) + (kk & 3) * 32), smemDesc(sa + hf * (D * 128) + kk * 2048),
                                      kk > 0);
            wgmmaCommit();
            // mask the scores with c (a-b) lambda^(a-b) while q S is in flight
            wgmmaWait<1>();
            pinRegisters(sc);
            maskScores<T>(sc, pa, wq, lane, c, pm, same);
            pinRegisters(pa);
            wgmmaWait<0>();
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                pinRegisters(ot[hf]);
#pragma unroll
                for (int hr = 0; hr < 2; hr++) {
                    const float f = (float) (16 * wq + g + 8 * hr + 1) * sigma;
#pragma unroll
                    for (int j = 0; j < 8; j++) {
                        ot[hf][4 * j + 2 * hr] *= f;
                        ot[hf][4 * j + 2 * hr + 1] *= f;
                    }
                }
                pinRegisters(ot[hf]);
            }
            wgmmaFence();
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int kk = 0; kk < D / 16; kk++)
                    W::template ss<1>(ot[hf], smemDesc(qa + (kk >> 2) * (C * 128) + (kk & 3) * 32), smemDesc(ta + hf * (D * 128) + kk * 2048),
                                      1);
            wgmmaCommit();
            wgmmaWait<0>();
            pinRegisters(ot[0]);
            pinRegisters(ot[1]);
            if (i + 1 < nc) namedArrive(tangent::COPY_EMPTY, NT);  // done with chunk i's copies
            scaleRows(ot[0], wq, lane, c / sigma, pw, 1, same);
            scaleRows(ot[1], wq, lane, c / sigma, pw, 1, same);
            pinRegisters(ot[0]);
            pinRegisters(ot[1]);
            wgmmaFence();
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int kk = 0; kk < 4; kk++) W::template rs<1>(ot[hf], pa[kk], smemDesc(va + hf * (C * 128) + kk * 2048));
            wgmmaCommit();
            wgmmaWait<0>();
            pinRegisters(ot[0]);
            pinRegisters(ot[1]);
            // each row against dO_a (rows past the chunk's end are zero in both)
            const unsigned char* gt = stage + 3 * TILE;
            float x = 0.f;
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int j = 0; j < 8; j++)
#pragma unroll
                    for (int hr = 0; hr < 2; hr++) {
                        const float2 y = unpack2<T>(*(const u32*) (gt + tileOffset(16 * wq + g + 8 * hr, 64 * hf + 8 * j + t2, C)));
                        x = fmaf(ot[hf][4 * j + 2 * hr], y.x, fmaf(ot[hf][4 * j + 2 * hr + 1], y.y, x));
                    }
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
