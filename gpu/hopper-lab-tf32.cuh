// hopper-lab's tf32 section, included by hopper-lab.cu after its helpers (compare, report, timeMs):
// the Hopper TF32 sweep the backend runs for fp32 storage with Precision.TF32 on compute capability
// 9.0 (la2_sweep_hopper_tma_tf32_d128, _bwd, _bwd_rev: sweep_hopper_tf32_entries.cuh, scaled fp16
// products) against the wide TF32 sweep it replaces there (la2_sweep_wide_tf32_d128, _bwd), every
// pass without a dot product on the same fp32 inputs and segment split (one block per sequence
// segment, as SweepPlanner gives both); then the forward and dq + dv + dk timed on both. Cases:
// segments with a partial last chunk, one segment with more blocks than SMs, one partial chunk
// (a reversed box mostly before token 0), a NaN in v (the forward's exact propagation), and inputs
// far from 1 (q times 2^40, k times 2^-50, v times 2^30, the initial state times 2^20), where a
// scale that did not follow the rows would overflow or flush fp16. LA2_TF32_CASE=k runs case k
// alone (5 is B=4 H=32 N=32768, 6 is B=1 H=16 N=131072).
#pragma once

// A segment split: SMs resident blocks, one per sequence segment.
struct Split {
    long long nseg, segLen;
};
static Split splitFor(long long N, long long BH) {
    const long long nChunks = (N + 63) / 64;
    const long long nseg = std::min(std::min(nChunks, 65535LL), std::max(1LL, (long long) gSms / BH));
    const long long segLen = (nChunks + nseg - 1) / nseg * 64;
    return {(N + segLen - 1) / segLen, segLen};
}

// Inputs and the two sweeps' outputs (0: wide, 1: Hopper) of one shape.
struct Tf32Bufs {
    Shape s;
    long long BH, elems;
    float *q, *k, *v, *o[2], *decay, *s0, *sf[2], *scratch[2];
    Split split;
    HopperMaps maps;
};

__global__ void labScale(float* x, long long n, float f) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) x[i] *= f;
}

static Tf32Bufs tf32Allocate(Shape s, bool nan, bool far) {
    Tf32Bufs b{};
    b.s = s;
    b.BH = s.B * s.H;
    b.elems = b.BH * s.N * D;
    b.split = splitFor(s.N, b.BH);
    float** ins[3] = {&b.q, &b.k, &b.v};
    const float farBy[3] = {0x1p40f, 0x1p-50f, 0x1p30f};
    for (int x = 0; x < 3; x++) {
        CK(cudaMalloc(ins[x], b.elems * 4));
        la2_random_f32<<<1024, 256>>>(RandomParams{*ins[x], b.elems, 2000 + x, x < 2 ? 1.0 / std::sqrt((double) D) : 1.0});
        if (far) labScale<<<1024, 256>>>(*ins[x], b.elems, farBy[x]);
    }
    CK(cudaMalloc(&b.decay, s.H * 4));
    CK(cudaMalloc(&b.s0, b.BH * DD * 4));
    for (int x = 0; x < 2; x++) {
        CK(cudaMalloc(&b.o[x], b.elems * 4));
        CK(cudaMalloc(&b.sf[x], b.BH * DD * 4));
        b.scratch[x] = nullptr;
        if (b.split.nseg > 1) CK(cudaMalloc(&b.scratch[x], b.BH * (b.split.nseg - 1) * DD * 4));
    }
    std::vector<float> hd(s.H);
    for (int h = 0; h < s.H; h++) hd[h] = (float) std::pow(2.0, -8.0 * (h + 1) / s.H);
    CK(cudaMemcpy(b.decay, hd.data(), s.H * 4, cudaMemcpyHostToDevice));
    la2_random_f32<<<1024, 256>>>(RandomParams{b.s0, b.BH * DD, 78, 0.1});
    if (far) labScale<<<1024, 256>>>(b.s0, b.BH * DD, 0x1p20f);
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

static constexpr int wideTf32Smem = (int) sharedBytes::tensorCoreSweep(4, 128, 128, 4, 4, 1, 2, 1);

// Pass ps as SweepRunner.segmented queues it: x = 0 on the wide sweep, 1 on the Hopper TF32 sweep.
static void tf32Run(const Tf32Bufs& b, const Pass& ps, int x) {
    for (int mode = 0; mode <= 1; mode++) {
        if (mode == 0 && b.split.nseg == 1) continue;
        SweepParams p = passParams(ps, b.s, mode);
        p.q = b.q; p.k = b.k; p.v = b.v; p.o = b.o[x]; p.s0 = b.s0; p.sfinal = b.sf[x]; p.scratch = b.scratch[x]; p.decay = b.decay;
        p.ET = 128; p.L = b.split.segLen; p.nseg = b.split.nseg;
        HopperMaps m = b.maps;
        void* args[] = {&p, &m};
        if (mode == 1 && b.split.nseg > 1) CK(cudaLaunchKernel((const void*) la2_scan, dim3(b.BH, DD / 256), dim3(256), args, 0, 0));
        const dim3 grid(b.BH, mode == 0 ? b.split.nseg - 1 : b.split.nseg);
        if (x == 0) {
            const void* wide = ps.bwd ? (const void*) la2_sweep_wide_tf32_d128_bwd : (const void*) la2_sweep_wide_tf32_d128;
            CK(cudaLaunchKernel(wide, grid, dim3(512), args, (size_t) wideTf32Smem, 0));
        } else {
            const void* hop = !ps.bwd ? (const void*) la2_sweep_hopper_tma_tf32_d128
                              : ps.rev ? (const void*) la2_sweep_hopper_tma_tf32_d128_bwd_rev : (const void*) la2_sweep_hopper_tma_tf32_d128_bwd;
            CK(cudaLaunchKernel(hop, grid, dim3(hopperTf32::THREADS), args, (size_t) hopperTf32::SMEM, 0));
        }
    }
}

static void tf32Section() {
    for (const void* f : {(const void*) la2_sweep_wide_tf32_d128, (const void*) la2_sweep_wide_tf32_d128_bwd})
        CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, wideTf32Smem));
    for (const void* f : {(const void*) la2_sweep_hopper_tma_tf32_d128, (const void*) la2_sweep_hopper_tma_tf32_d128_bwd,
                          (const void*) la2_sweep_hopper_tma_tf32_d128_bwd_rev})
        CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, hopperTf32::SMEM));
    const std::vector<Pass> all = passes();
    // every pass without a dot product (a TF32 call's decay gradient takes the fp32-copy route)
    std::vector<Pass> checked;
    for (const Pass& ps : all)
        if (!ps.dot) checked.push_back(ps);
    const std::vector<Pass> bwd = {all[2], all[3], all[5]};  // dq, dv, dk
    struct Case {
        Shape s;
        bool nan, far;
    };
    const Case cases[] = {{{2, 4, 4096 + 37}, false, false}, {{2, 66, 700}, false, false}, {{1, 2, 50}, false, false},
                          {{2, 3, 1000}, true, false},       {{2, 4, 3000 + 5}, false, true}, {{4, 32, 32768}, false, false},
                          {{1, 16, 131072}, false, false}};
    const char* only = std::getenv("LA2_TF32_CASE");  // one case (its index) instead of all
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        if (only && (size_t) std::atoi(only) != ci) continue;
        const Case& c = cases[ci];
        const Shape s = c.s;
        const bool timed = s.N >= 32768;
        Tf32Bufs b = tf32Allocate(s, c.nan, c.far);
        for (const Pass& ps : checked) {
            if ((timed || c.nan) && ps.name != all[0].name) continue;  // the forward alone on these
            std::printf("\n== tf32 pass %s B=%lld H=%lld N=%lld D=E=128, %lld segment(s)%s\n", ps.name, s.B, s.H, s.N, b.split.nseg,
                        c.nan ? ", NaN in v" : c.far ? ", inputs far from 1" : "");
            for (int x = 0; x < 2; x++) {
                CK(cudaMemset(b.o[x], 0xff, b.elems * 4));
                CK(cudaMemset(b.sf[x], 0xff, b.BH * DD * 4));
                tf32Run(b, ps, x);
                CK(cudaGetLastError());
                CK(cudaDeviceSynchronize());
            }
            std::printf(" hopper tf32 vs wide tf32:\n");
            report("outputs", compare<float>(b.o[1], b.o[0], b.elems), 3e-3, 3e-2);
            report("final state", compare<float>(b.sf[1], b.sf[0], b.BH * DD), 3e-3, 3e-2);
        }
        if (timed) {
            const double floorMs = 4.0 * b.elems * 4 / 4.8e12 * 1e3;  // q, k, v read and o written once
            const Pass fwd = all[0];
            for (int r = 0; r < 2; r++) {
                const double tw = timeMs([&]() { tf32Run(b, fwd, 0); });
                const double th = timeMs([&]() { tf32Run(b, fwd, 1); });
                const double twb = timeMs([&]() { for (const Pass& ps : bwd) tf32Run(b, ps, 0); });
                const double thb = timeMs([&]() { for (const Pass& ps : bwd) tf32Run(b, ps, 1); });
                std::printf(" time forward: wide %8.3f ms, hopper %8.3f ms (%.2fx; HBM floor at 4.8 TB/s %.3f ms)\n", tw, th, tw / th, floorMs);
                std::printf(" time dq + dv + dk: wide %8.3f ms, hopper %8.3f ms (%.2fx)\n", twb, thb, twb / thb);
            }
        }
        tf32Release(b);
    }
}
