// hopper-lab's dkdv section, included by hopper-lab.cu after its helpers (Bufs, params, compare,
// report, timeMs): the backend's fused dk + dv pass (la2_sweep_hopper_tma_*_dkdv) against the dv
// and dk passes on its reversed TMA entry point, as the backward queues them.
//
// The lab's random tensors b.q, b.k, b.v and b.w stand for k, q, dO and v: the dv pass is
// (b.q, b.k, b.v), the dk pass (b.w, b.v, b.k) with transposed states.
#pragma once

struct DkDvRun {
    const Bufs& b;
    const void* rev;    // la2_sweep_hopper_tma_*_d128_bwd_rev
    const void* fused;  // la2_sweep_hopper_tma_*_d128_dkdv
    HopperMaps mk;      // of b.w, b.v, b.k (the dk pass's q, k, v)
    void* dk[2];
};

static SweepParams dvParams(const Bufs& b, int x, int mode) { return params(b, passes()[3], x, mode); }

static SweepParams dkParams(const DkDvRun& r, int x, int mode) {
    SweepParams p = params(r.b, passes()[5], x, mode);
    p.q = r.b.w;
    p.k = r.b.v;
    p.v = r.b.k;
    p.o = r.dk[x];
    p.sfinal = nullptr;  // the backward keeps dv's end state (dS0) only
    return p;
}

static void launch(const void* fn, dim3 grid, int threads, int smem, void** args) {
    CK(cudaLaunchKernel(fn, grid, dim3(threads), args, (size_t) smem, labStream));
}

// dv, then dk, each as SweepRunner.segmented queues it, into slot x.
static void runSeparate(const DkDvRun& r, int x) {
    for (int pass = 0; pass < 2; pass++) {
        for (int mode = 0; mode <= 1; mode++) {
            if (mode == 0 && r.b.nseg == 1) continue;
            SweepParams p = pass == 0 ? dvParams(r.b, x, mode) : dkParams(r, x, mode);
            HopperMaps m = pass == 0 ? r.b.maps : r.mk;
            void* args[] = {&p, &m};
            if (mode == 1 && r.b.nseg > 1) launch((const void*) la2_scan, dim3(r.b.BH, DD / 256), 256, 0, args);
            launch(r.rev, dim3(r.b.BH, mode == 0 ? r.b.nseg - 1 : r.b.nseg), 256, hopper::SMEM, args);
        }
    }
}

// The fused pass into slot x: a segmented call's state-only pass (dv's mode 0) and scan, then one walk.
static void runFused(const DkDvRun& r, int x) {
    if (r.b.nseg > 1) {
        SweepParams p0 = dvParams(r.b, x, 0);
        HopperMaps m = r.b.maps;
        void* a0[] = {&p0, &m};
        launch(r.rev, dim3(r.b.BH, r.b.nseg - 1), 256, hopper::SMEM, a0);
        SweepParams p1 = dvParams(r.b, x, 1);
        void* a1[] = {&p1};
        launch((const void*) la2_scan, dim3(r.b.BH, DD / 256), 256, 0, a1);
    }
    SweepParams pv = dvParams(r.b, x, 1), pk = dkParams(r, x, 1);
    HopperMaps mv = r.b.maps, mk = r.mk;
    void* args[] = {&pv, &pk, &mv, &mk};
    launch(r.fused, dim3(r.b.BH, r.b.nseg), 256, dkdv::SMEM, args);
}

// Elements of x and y whose bits differ, and the largest relative error of a row of 128 (its
// error norm over the reference row's): [0] count, [1] max row error.
template <typename T>
__global__ void labRowCompare(const T* x, const T* y, long long rows, double* acc) {
    for (long long r = (long long) blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (long long) gridDim.x * blockDim.x) {
        double num = 0, den = 0, differ = 0;
        for (int c = 0; c < 128; c++) {
            const T a = x[r * 128 + c], b = y[r * 128 + c];
            if (*(const unsigned short*) &a != *(const unsigned short*) &b) differ += 1;
            const double fa = (double) (float) a, fb = (double) (float) b;
            num += (fa - fb) * (fa - fb);
            den += fb * fb;
        }
        if (differ > 0) atomicAdd(acc, differ);
        const double rel = den > 0 ? sqrt(num / den) : (num > 0 ? 1.0 : 0.0);
        atomicMax((unsigned long long*) (acc + 1), (unsigned long long) __double_as_longlong(rel));
    }
}

// Reports the bits that differ (with `exact`, any is a failure) and the worst row against `rowTol`.
template <typename T>
static void rowReport(const char* what, const void* x, const void* y, long long elems, bool exact, double rowTol) {
    CK(cudaMemset(gAcc, 0, 2 * sizeof(double)));
    labRowCompare<T><<<1024, 256>>>((const T*) x, (const T*) y, elems / 128, gAcc);
    double h[2];
    CK(cudaMemcpy(h, gAcc, sizeof h, cudaMemcpyDeviceToHost));
    const bool ok = (!exact || h[0] == 0) && h[1] <= rowTol;
    std::printf("  %-12s elements differing %.0f of %lld  worst row rel. %.2e  %s\n", what, h[0], elems, h[1], ok ? "PASS" : "FAIL");
    gAllPass &= ok;
}

template <typename T>
static DkDvRun dkdvRun(const Bufs& b, const void* rev) {
    constexpr bool f16 = std::is_same<T, __half>::value;
    const void* fused = f16 ? (const void*) la2_sweep_hopper_tma_f16_d128_dkdv : (const void*) la2_sweep_hopper_tma_bf16_d128_dkdv;
    DkDvRun r{b, rev, fused, hopperMaps(b.w, b.v, b.k, b.s.B, b.s.H, b.s.N, f16), {}};
    for (int x = 0; x < 2; x++) CK(cudaMalloc(&r.dk[x], b.elems * 2));
    CK(cudaFuncSetAttribute(r.fused, cudaFuncAttributeMaxDynamicSharedMemorySize, dkdv::SMEM));
    return r;
}

// Separate passes into slot 0 and the fused one into slot 1, from poisoned outputs, compared. dv
// and the end state come from the same products in the same order, so they agree bit for bit;
// dk's state is the transpose of the dk pass's, which rounds its weighted keys (dO, not q)
// differently, so dk agrees to 16-bit rounding, row by row.
template <typename T>
static void dkdvCompare(const DkDvRun& r, const Bufs& b) {
    for (int x = 0; x < 2; x++) {
        CK(cudaMemset(b.o[x], 0xff, b.elems * 2));
        CK(cudaMemset(r.dk[x], 0xff, b.elems * 2));
        CK(cudaMemset(b.sf[x], 0xff, b.BH * DD * 4));
        if (x == 0) runSeparate(r, x);
        else runFused(r, x);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
    }
    report("dv", compare<T>(b.o[1], b.o[0], b.elems), 1e-5, 1e-2);
    rowReport<T>("dv rows", b.o[1], b.o[0], b.elems, true, 0);
    report("dk", compare<T>(r.dk[1], r.dk[0], b.elems), 1e-2, 2e-2);
    rowReport<T>("dk rows", r.dk[1], r.dk[0], b.elems, false, 3e-2);
    report("final state", compare<float>(b.sf[1], b.sf[0], b.BH * DD), 1e-6, 1e-5);
}

template <typename T>
static void dkdvCheck(const char* type, const void* rev) {
    // segments with a partial chunk; one segment; one-chunk segments; one partial chunk alone
    for (const Shape& s : {Shape{2, 4, 4096 + 37}, Shape{2, 66, 700}, Shape{1, 3, 64 * 5}, Shape{1, 2, 50}}) {
        Bufs b = allocate<T>(s, false);
        DkDvRun r = dkdvRun<T>(b, rev);
        std::printf("\n== dkdv %s: B=%lld H=%lld N=%lld, %lld segment(s) of %lld tokens\n", type, s.B, s.H, s.N, b.nseg, b.segLen);
        dkdvCompare<T>(r, b);
        for (int x = 0; x < 2; x++) CK(cudaFree(r.dk[x]));
        release(b);
    }
}

static void dkdvSection() {
    dkdvCheck<__nv_bfloat16>("bf16", (const void*) la2_sweep_hopper_tma_bf16_d128_bwd_rev);
    dkdvCheck<__half>("f16", (const void*) la2_sweep_hopper_tma_f16_d128_bwd_rev);
    for (const Shape& s : {Shape{4, 32, 32768}, Shape{1, 16, 131072}}) {
        Bufs b = allocate<__nv_bfloat16>(s, false);
        DkDvRun r = dkdvRun<__nv_bfloat16>(b, (const void*) la2_sweep_hopper_tma_bf16_d128_bwd_rev);
        std::printf("\n== dkdv timed, B=%lld H=%lld N=%lld bf16, %lld segment(s)\n", s.B, s.H, s.N, b.nseg);
        dkdvCompare<__nv_bfloat16>(r, b);
        const double ts = timeMs([&]() { runSeparate(r, 1); }), tf = timeMs([&]() { runFused(r, 1); });
        const double move = b.elems * 2 / 4.8e12 * 1e3;  // one tensor read or written once at 4.8 TB/s, ms
        std::printf(" time dv + dk passes median %8.3f ms  (HBM floor of 8 movements %.3f ms)\n", ts, 8 * move);
        std::printf(" time fused dk+dv    median %8.3f ms  (HBM floor of 6 movements %.3f ms; %.3fx the passes)\n", tf, 6 * move, tf / ts);
        for (int x = 0; x < 2; x++) CK(cudaFree(r.dk[x]));
        release(b);
    }
}
