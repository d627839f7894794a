// The Hopper TF32 sweep with its warpgroups specialized (lab only: hopper-lab's tf32 section checks
// it against the wide TF32 sweep on every pass and times it beside the lab's first TF32 sweep,
// hopper_tf32.cuh, whose products, layouts and re-sum it keeps). Two blocks per sequence, each
// owning 64 value columns, 384 threads:
// - warpgroup 2 (the producer): issues each chunk's TMA boxes (and, with L2 = 1, an L2 prefetch
//   two chunks ahead of them), then, as a chunk lands, rounds its q and k tiles to tf32 in place
//   (R = 1) and writes v's half transposed (v^T, rounded, tokens permuted as hopper_tf32.cuh
//   says) into one of two v^T buffers, and marks the chunk ready (an mbarrier of 128 arrivals);
// - warpgroups 0 and 1 (the consumers): the products of hopper_tf32.cuh on a ready chunk, then the
//   end state's S^T copy for the next chunk's q S (both warpgroups write rows of it, so a named
//   barrier before and one after), a `freed` arrival (256) that lets the producer load the chunk
//   after next into the stage, and the outputs.
// While the consumers multiply chunk i the producer prepares chunk i + 1, so the rounding and the
// transpose leave the consumers' path; the stage of chunk i + 2 is loaded once chunk i is freed.
// ptxas gives every thread the launch's 168 registers (65536 / 384) and spills 56 bytes (forward)
// to 132 (backward); with setmaxnreg (producer 40 to 56, consumers 224 to 232) it spilled more.
#pragma once

#include "hopper_tf32.cuh"
#include "../la2-backend-cuda/src/main/cuda/sweep_hopper_roles.cuh"

namespace tf32w {
constexpr int THREADS = 384, STAGES = 2;
constexpr u32 QK = tf32h::QK, VH = tf32h::VH, STAGE = tf32h::STAGE;
constexpr u32 VTR = STAGES * STAGE;                 // two v^T buffers [EH][C], tokens permuted
constexpr u32 SCOPY = VTR + STAGES * VH;            // S^T [EH][D]
constexpr u32 TABLE = SCOPY + tf32h::EH * tf32h::D * 4;  // lambda^m (66 floats)
constexpr u32 BARS = TABLE + 384;                   // full[2] (TMA), ready[2] (producer), freed[2] (consumers)
constexpr int SMEM = (int) (BARS + 64 + 1024);      // and the slack that aligns the base
static_assert(SMEM <= 227 * 1024, "tf32w: shared memory of one SM");
constexpr int COPY_READ = 1, COPY_WRITTEN = 2;      // named barriers of the two consumer warpgroups
}  // namespace tf32w

// The box of tensor map `map` at (c0, c1, c2, c3) into L2 only (no shared memory, no barrier).
__device__ __forceinline__ void tmaPrefetch4(const void* map, int c0, int c1, int c2, int c3) {
    asm volatile("cp.async.bulk.prefetch.tensor.4d.L2.global.tile [%0, {%1, %2, %3, %4}];\n"
                 :: "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(c3) : "memory");
}

// FULL = mode 1 (outputs), else mode 0 (the state alone); EXACT: the forward's re-sum; FLIP: a
// reversed pass (p.rev = 1); R = 1: round the tiles; L2 = 0: no L2 prefetch.
template <bool FULL, bool EXACT, bool FLIP, int R, int L2 = 1>
__device__ void sweepHopperTf32WsMode(const SweepParams& p, const HopperMaps* maps) {
    using namespace tf32h;
    using hopper::mbarArrive;
    using hopper::namedSync;
    using tf32w::THREADS;
    static_assert(!(FLIP && EXACT), "the re-sum reads ring rows in time order");
    if (p.rev != (FLIP ? 1 : 0) || p.w || p.Dk != D || p.Dv != D) __trap();
    extern __shared__ __align__(128) unsigned char smraw[];
    unsigned char* sm = smraw + ((1024 - (smemAddr(smraw) & 1023)) & 1023);
    float* pw = (float*) (sm + tf32w::TABLE);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wg = warp >> 2, wq = warp & 3;
    const i64 seq = blockIdx.x >> 1;
    const int half = blockIdx.x & 1, seg = blockIdx.y;
    const i64 b = seq / p.H, h = seq % p.H;
    const float s = p.decay[h];
    const i64 t0seg = (i64) seg * p.L;
    const i64 t1seg = min(p.N, t0seg + p.L);
    const int nc = (int) ((t1seg - t0seg + C - 1) / C);
    for (int m = tid; m < C + 2; m += THREADS) pw[m] = lpow(s, (float) m);
    const u32 bars = smemAddr(sm + tf32w::BARS);
    auto full = [&](int st) { return bars + 8 * st; };
    auto ready = [&](int st) { return bars + 16 + 8 * st; };
    auto freed = [&](int st) { return bars + 32 + 8 * st; };
    if (tid == 0) {
        for (int x = 0; x < tf32w::STAGES; x++) {
            mbarInit(full(x), 1);
            mbarInit(ready(x), 128);
            mbarInit(freed(x), 256);
        }
    }
    fenceProxyAsync();
    __syncthreads();

    if (wg == 2) {
        const int ptid = tid - 256;
        // chunk i's boxes (pass time; tokens outside the sequence come in as zeros): into its ring
        // stage, or (prefetch) into L2
        auto boxes = [&](int i, bool prefetch) {
            const i64 t = t0seg + (i64) i * C;
            const int c0 = (int) (FLIP ? p.N - C - t : t);
            const int st = i & 1;
            const u32 dst = smemAddr(sm + st * STAGE), bar = full(st);
            if (!prefetch) mbarExpectTx(bar, FULL ? STAGE : QK + VH);
#pragma unroll
            for (int x = 0; x < 4; x++) {
                if (prefetch) {
                    if (FULL) tmaPrefetch4(maps->q, 32 * x, c0, (int) h, (int) b);
                    tmaPrefetch4(maps->k, 32 * x, c0, (int) h, (int) b);
                } else {
                    if (FULL) tmaLoad4(dst + x * (C * 128), maps->q, 32 * x, c0, (int) h, (int) b, bar);
                    tmaLoad4(dst + QK + x * (C * 128), maps->k, 32 * x, c0, (int) h, (int) b, bar);
                }
            }
#pragma unroll
            for (int x = 0; x < 2; x++) {
                if (prefetch) tmaPrefetch4(maps->v, 64 * half + 32 * x, c0, (int) h, (int) b);
                else tmaLoad4(dst + 2 * QK + x * (C * 128), maps->v, 64 * half + 32 * x, c0, (int) h, (int) b, bar);
            }
        };
        if (ptid == 0) {
            boxes(0, false);
            if (nc > 1) boxes(1, false);
            for (int i = 2; i < min(nc, 4) && L2; i++) boxes(i, true);
        }
        for (int i = 0; i < nc; i++) {
            const int st = i & 1;
            unsigned char* stage = sm + st * STAGE;
            mbarWait(full(st), (i >> 1) & 1);
            prepareChunkTf32<R>(stage, sm + tf32w::VTR + st * VH, FULL ? 0 : QK, ptid, 128);
            fenceProxyAsync();
            mbarArrive(ready(st));
            // chunk i + 1 into the other stage, once the consumers are done with chunk i - 1 there
            if (i + 1 < nc && i >= 1) {
                mbarWait(freed(st ^ 1), ((i - 1) >> 1) & 1);
                if (ptid == 0) {
                    boxes(i + 1, false);
                    if (i + 3 < nc && L2) boxes(i + 3, true);
                }
            }
        }
        return;
    }

    float* o = (float*) p.o + b * p.vB + h * p.vH + 64 * half;
    const float alpha = (float) p.alpha, beta = (float) p.beta, kappa = (float) p.kappa;
    unsigned char* scopy = sm + tf32w::SCOPY;
    // the state half: rows 64 wg + 16 wq + g (+ 8), columns 64 half + 8j + 2t (+ 1), in the
    // m64n64 accumulator layout
    StateBand<float, Mma<float>, 8> band(64 * wg + 16 * wq, 0, 64 * half);
    band.load(p, seq, seg, FULL);
    float st[32];
#pragma unroll
    for (int x = 0; x < 32; x++) st[x] = band.st[x >> 2][x & 3];
    // S^T, rows e, columns d, rounded to tf32: the copy q S reads
    auto writeCopy = [&]() {
        writeStateCopyTf32(scopy, st, wg, wq, lane);
        fenceProxyAsync();
    };
    if constexpr (FULL) {
        writeCopy();
        namedSync(tf32w::COPY_WRITTEN, 256);
    }

    for (int i = 0; i < nc; i++) {
        const i64 t0 = t0seg + (i64) i * C;
        const int cc = (int) min((i64) C, t1seg - t0);
        const int ofsi = (t0 == 0) ? (int) p.ofs0 : 1;
        const int sti = i & 1;
        unsigned char* stage = sm + sti * STAGE;
        mbarWait(ready(sti), (i >> 1) & 1);

        const float carry = pw[cc - 1 + ofsi];
#pragma unroll
        for (int x = 0; x < 32; x++) st[x] *= carry;
        pinRegisters(st);
        const u32 qa = smemAddr(stage), ka = qa + QK, vt = smemAddr(sm + tf32w::VTR + sti * VH), sa = smemAddr(scopy);
        float sc[32], ot[16];
        if constexpr (FULL) issueScoresTf32(sc, ot, qa, ka, sa, wg);
        issueStateUpdateTf32<FLIP>(st, stage + QK, vt, wg, wq, lane, cc, kappa, pw);
        if constexpr (FULL) issueMaskedProductTf32<FLIP>(sc, ot, vt, wg, wq, lane, alpha, beta, pw, ofsi);
        wgmmaWait<0>();
        pinRegisters(st);
        if constexpr (FULL) {
            pinRegisters(ot);
            if constexpr (EXACT) resumNonFiniteTf32(ot, stage, scopy, pw, wg, wq, lane, alpha, beta, ofsi);
            namedSync(tf32w::COPY_READ, 256);  // both warpgroups are done with the copy of S_i
            writeCopy();
        }
        mbarArrive(freed(sti));
        if constexpr (FULL) {
            if (p.writeOut) storeOutputsTf32<FLIP>(ot, o, p, t0, cc, wg, wq, lane);
            namedSync(tf32w::COPY_WRITTEN, 256);  // the copy of S_(i+1) is whole
        }
    }
#pragma unroll
    for (int x = 0; x < 32; x++) band.st[x >> 2][x & 3] = st[x];
    band.store(p, seq, seg, FULL, s);
}

// grid (2 x sequences, segments), 384 threads, tf32w::SMEM bytes of dynamic shared memory
template <int R, int L2 = 1>
__global__ void __launch_bounds__(384, 1) labHopperTf32Ws(const SweepParams p, const __grid_constant__ HopperMaps maps) {
    if (p.mode == 1) sweepHopperTf32WsMode<true, true, false, R, L2>(p, &maps);
    else sweepHopperTf32WsMode<false, true, false, R, L2>(p, &maps);
}
template <int R, bool FLIP, int L2 = 1>
__global__ void __launch_bounds__(384, 1) labHopperTf32WsBwd(const SweepParams p, const __grid_constant__ HopperMaps maps) {
    if (p.mode == 1) sweepHopperTf32WsMode<true, false, FLIP, R, L2>(p, &maps);
    else sweepHopperTf32WsMode<false, false, FLIP, R, L2>(p, &maps);
}
