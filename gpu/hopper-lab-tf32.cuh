// hopper-lab's tf32 section, included by hopper-lab.cu after its helpers (compare, report, timeMs):
// the Hopper TF32 sweeps (hopper_tf32.cuh, its q-register form, hopper_tf32_ws.cuh; each with
// rounded and with truncated tiles) against the wide TF32 sweep the backend runs for fp32
// storage with Precision.TF32 (la2_sweep_wide_tf32_d128, _bwd), every pass on the same fp32
// inputs, each kernel with the segment split SweepPlanner would give it (one resident block per
// SM; the Hopper sweep has two blocks per sequence).
#pragma once

// A segment split: `blocks` resident blocks per wave over BH x (blocks per sequence).
struct Split {
    long long nseg, segLen;
};
static Split splitFor(long long N, long long BH, long long perSeq) {
    const long long nChunks = (N + 63) / 64;
    const long long nseg = std::min(std::min(nChunks, 65535LL), std::max(1LL, (long long) gSms / (BH * perSeq)));
    const long long segLen = (nChunks + nseg - 1) / nseg * 64;
    return {(N + segLen - 1) / segLen, segLen};
}

struct Tf32Bufs {
    Shape s;
    long long BH, elems;
    float *q, *k, *v, *o[2], *decay, *s0, *sf[2], *scratch[2];
    Split split[2];  // 0: the wide sweep's, 1: the Hopper forward's
    HopperMaps maps;
};

static Tf32Bufs tf32Allocate(Shape s, bool nan) {
    Tf32Bufs b{};
    b.s = s;
    b.BH = s.B * s.H;
    b.elems = b.BH * s.N * D;
    b.split[0] = splitFor(s.N, b.BH, 1);
    b.split[1] = splitFor(s.N, b.BH, 2);
    float** ins[3] = {&b.q, &b.k, &b.v};
    for (int x = 0; x < 3; x++) {
        CK(cudaMalloc(ins[x], b.elems * 4));
        la2_random_f32<<<1024, 256>>>(RandomParams{*ins[x], b.elems, 2000 + x, x < 2 ? 1.0 / std::sqrt((double) D) : 1.0});
    }
    CK(cudaMalloc(&b.decay, s.H * 4));
    CK(cudaMalloc(&b.s0, b.BH * DD * 4));
    for (int x = 0; x < 2; x++) {
        CK(cudaMalloc(&b.o[x], b.elems * 4));
        CK(cudaMalloc(&b.sf[x], b.BH * DD * 4));
        b.scratch[x] = nullptr;
        if (b.split[x].nseg > 1) CK(cudaMalloc(&b.scratch[x], b.BH * (b.split[x].nseg - 1) * DD * 4));
    }
    std::vector<float> hd(s.H);
    for (int h = 0; h < s.H; h++) hd[h] = (float) std::pow(2.0, -8.0 * (h + 1) / s.H);
    CK(cudaMemcpy(b.decay, hd.data(), s.H * 4, cudaMemcpyHostToDevice));
    la2_random_f32<<<1024, 256>>>(RandomParams{b.s0, b.BH * DD, 78, 0.1});
    if (nan) {
        const float bad = std::nanf("");
        CK(cudaMemcpy(b.v + (1 * s.N + 300) * D + 5, &bad, 4, cudaMemcpyHostToDevice));
    }
    b.maps = tensorMaps(b.q, b.k, b.v, s.B, s.H, s.N, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4);
    CK(cudaGetLastError());
    return b;
}

static void tf32Release(Tf32Bufs& b) {
    void* ps[] = {b.q, b.k, b.v, b.decay, b.s0};
    for (void* p : ps) CK(cudaFree(p));
    for (int x = 0; x < 2; x++) {
        CK(cudaFree(b.o[x]));
        CK(cudaFree(b.sf[x]));
        if (b.scratch[x]) CK(cudaFree(b.scratch[x]));
    }
}

// PassArgs' parameters of pass `ps` for run x: x = 0 the wide sweep, 1 the Hopper sweep.
static SweepParams tf32Params(const Tf32Bufs& b, const Pass& ps, int x, int mode) {
    SweepParams p = passParams(ps, b.s, mode);
    p.q = b.q; p.k = b.k; p.v = b.v; p.o = b.o[x]; p.s0 = b.s0; p.sfinal = b.sf[x]; p.scratch = b.scratch[x]; p.decay = b.decay;
    p.ET = x == 0 ? 128 : 64; p.L = b.split[x].segLen; p.nseg = b.split[x].nseg;
    return p;
}

static constexpr int wideTf32Smem = (int) sharedBytes::tensorCoreSweep(4, 128, 128, 4, 4, 1, 2, 1);

// The Hopper entry points of one sweep: the forward's, the backward's, the backward's reversed,
// with their block size and shared memory.
struct Tf32Entries {
    const char* name;
    const void *fwd, *bwd, *rev;
    int threads, smem;
};
template <int R>
static Tf32Entries tf32Entries() {
    return {R ? "rounded" : "truncated", (const void*) labHopperTf32<R>, (const void*) labHopperTf32Bwd<R, false>,
            (const void*) labHopperTf32Bwd<R, true>, 256, tf32h::SMEM};
}
template <int R, int L2>
static Tf32Entries tf32WsEntries() {
    return {L2 ? (R ? "ws rounded" : "ws truncated") : (R ? "ws rounded, no L2" : "ws truncated, no L2"), (const void*) labHopperTf32Ws<R, L2>,
            (const void*) labHopperTf32WsBwd<R, false, L2>, (const void*) labHopperTf32WsBwd<R, true, L2>, 384, tf32w::SMEM};
}
template <int R>
static Tf32Entries tf32QEntries() {
    return {R ? "q regs rounded" : "q regs truncated", (const void*) labHopperTf32<R, 1>, (const void*) labHopperTf32Bwd<R, false, 1>,
            (const void*) labHopperTf32Bwd<R, true, 1>, 256, tf32h::SMEM};
}

// Pass ps as SweepRunner.segmented queues it: x = 0 on the wide sweep, 1 on the Hopper entry points e.
static void tf32Run(const Tf32Bufs& b, const Pass& ps, int x, const Tf32Entries& e) {
    const Split sp = b.split[x];
    for (int mode = 0; mode <= 1; mode++) {
        if (mode == 0 && sp.nseg == 1) continue;
        SweepParams p = tf32Params(b, ps, x, mode);
        HopperMaps m = b.maps;
        void* args[] = {&p, &m};
        if (mode == 1 && sp.nseg > 1) CK(cudaLaunchKernel((const void*) la2_scan, dim3(b.BH, DD / 256), dim3(256), args, 0, 0));
        const long long segs = mode == 0 ? sp.nseg - 1 : sp.nseg;
        if (x == 0) {
            const void* wide = ps.bwd ? (const void*) la2_sweep_wide_tf32_d128_bwd : (const void*) la2_sweep_wide_tf32_d128;
            CK(cudaLaunchKernel(wide, dim3(b.BH, segs), dim3(512), args, (size_t) wideTf32Smem, 0));
        } else {
            const void* fn = !ps.bwd ? e.fwd : ps.rev ? e.rev : e.bwd;
            CK(cudaLaunchKernel(fn, dim3(2 * b.BH, segs), dim3(e.threads), args, (size_t) e.smem, 0));
        }
    }
}

static void tf32Section() {
    constexpr int NH = 7;
    const Tf32Entries hop[NH] = {tf32Entries<1>(),       tf32Entries<0>(),       tf32QEntries<1>(),     tf32QEntries<0>(),
                                 tf32WsEntries<1, 1>(), tf32WsEntries<0, 1>(), tf32WsEntries<1, 0>()};
    for (const void* f : {(const void*) la2_sweep_wide_tf32_d128, (const void*) la2_sweep_wide_tf32_d128_bwd})
        CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, wideTf32Smem));
    for (const Tf32Entries& e : hop)
        for (const void* f : {e.fwd, e.bwd, e.rev}) CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, e.smem));
    const std::vector<Pass> all = passes();
    // every pass without a dot product (a TF32 call's decay gradient takes the fp32-copy route)
    std::vector<Pass> checked;
    for (const Pass& ps : all)
        if (!ps.dot) checked.push_back(ps);
    const std::vector<Pass> bwd = {all[2], all[3], all[5]};  // dq, dv, dk
    const std::vector<std::pair<Shape, bool>> cases = {
        {{2, 4, 4096 + 37}, false},  // segments, a partial last chunk
        {{2, 66, 700}, false},       // one segment, more blocks than SMs
        {{1, 2, 50}, false},         // one partial chunk (a reversed box mostly before token 0)
        {{2, 3, 1000}, true},        // a NaN in v: the forward's exact propagation
        {{4, 32, 32768}, false}, {{1, 16, 131072}, false},  // timed
    };
    const char* only = std::getenv("LA2_TF32_CASE");  // one case (its index) instead of all
    for (size_t ci = 0; ci < cases.size(); ci++) {
        if (only && (size_t) std::atoi(only) != ci) continue;
        const Shape s = cases[ci].first;
        const bool timed = ci >= 4;
        Tf32Bufs b = tf32Allocate(s, cases[ci].second);
        for (const Pass& ps : checked) {
            if ((timed || cases[ci].second) && ps.name != all[0].name) continue;  // the forward alone on these
            std::printf("\n== tf32 pass %s B=%lld H=%lld N=%lld D=E=128: wide %lld segment(s), hopper %lld segment(s)%s\n", ps.name, s.B,
                        s.H, s.N, b.split[0].nseg, b.split[1].nseg, cases[ci].second ? ", NaN in v" : "");
            for (int r = 0; r < NH; r++) {
                for (int x = 0; x < 2; x++) {
                    CK(cudaMemset(b.o[x], 0xff, b.elems * 4));
                    CK(cudaMemset(b.sf[x], 0xff, b.BH * DD * 4));
                    tf32Run(b, ps, x, hop[r]);
                    CK(cudaGetLastError());
                    CK(cudaDeviceSynchronize());
                }
                std::printf(" hopper tf32 (%s) vs wide:\n", hop[r].name);
                report("outputs", compare<float>(b.o[1], b.o[0], b.elems), 3e-3, 3e-2);
                report("final state", compare<float>(b.sf[1], b.sf[0], b.BH * DD), 3e-3, 3e-2);
            }
        }
        if (timed) {
            const double floorMs = 4.0 * b.elems * 4 / 4.8e12 * 1e3;  // q, k, v read and o written once
            const Pass fwd = all[0];
            const double tw = timeMs([&]() { tf32Run(b, fwd, 0, hop[0]); });
            const double twb = timeMs([&]() { for (const Pass& ps : bwd) tf32Run(b, ps, 0, hop[0]); });
            std::printf(" time wide tf32 forward           median %8.3f ms  (HBM floor at 4.8 TB/s %.3f ms)\n", tw, floorMs);
            std::printf(" time wide tf32 dq + dv + dk      median %8.3f ms  (floor %.3f ms)\n", twb, 3 * floorMs);
            for (int r = 0; r < NH; r++) {
                const double th = timeMs([&]() { tf32Run(b, fwd, 1, hop[r]); });
                const double thb = timeMs([&]() { for (const Pass& ps : bwd) tf32Run(b, ps, 1, hop[r]); });
                const char* how = hop[r].name;
                std::printf(" time hopper tf32 %-17s forward  median %8.3f ms  (%.2fx wide)\n", how, th, tw / th);
                std::printf(" time hopper tf32 %-17s backward median %8.3f ms  (%.2fx wide)\n", how, thb, twb / thb);
            }
        }
        tf32Release(b);
    }
}
