// hopper-lab's decay section, included by hopper-lab.cu after its helpers (Bufs, timeMs): the decay
// gradient's Hopper sweep (la2_decay_sweep_hopper_*_d128, decay_hopper.cuh; where the forward's
// plan splits sequences into segments, modes 0 and 1 with la2_decay_scan between, as the backend
// runs them) against the double sweep (la2_decay_sweep_*, decay.cuh)
// on the same inputs (b.w stands for dO), then the per-head sums dDecay[h] = -sum_b acc[b, h]
// compared: the largest difference over the largest |dDecay| (the SPEC's metric divides by at
// least that; its terms' size is larger still), PASS within 1e-2. Then the Hopper sweep is timed
// beside the forward's TMA entry point on the same shape, and each timing-only build in turns with
// it. The Hopper sweep also writes dq (into a buffer of its own here, unchecked: the backend's tests
// check it).
// Environment: LA2_DECAY_CASE=k runs case k alone; LA2_DECAY_SHAPE=B,H,N[,f16] one shape instead of
// the cases (bf16 unless f16; rates 2^(-8(h+1)/H)); LA2_DECAY_HOPPER_FIRST runs the Hopper sweep
// before the double one; LA2_DECAY_SYNC waits after each launch and names it, so a failing launch
// is named before the context is lost.
#pragma once

// The sweep's builds (decaySweepHopper's V, decay_hopper.cuh): variant 0 is the backend's entry point,
// the others timing-only builds whose results are wrong (what each side's work costs the walk).
template <typename T, int V>
__global__ void __launch_bounds__(tangent::THREADS, 1) labDecay(const DecaySweepParams p, const __grid_constant__ DecayMaps maps) {
    decaySweepHopper<T, V>(p, &maps);
}
struct DecayVariant {
    const char* name;
    const void* fn[2];  // bf16, f16
};
#define LA2_LAB_DECAY_VARIANT(name, V) {name, {(const void*) labDecay<__nv_bfloat16, V>, (const void*) labDecay<__half, V>}}
static const DecayVariant decayVariants[] = {
    {"backend", {(const void*) la2_decay_sweep_hopper_bf16_d128, (const void*) la2_decay_sweep_hopper_f16_d128}},
    LA2_LAB_DECAY_VARIANT("no output products (timing only)", tangent::NO_OUTPUT),
    LA2_LAB_DECAY_VARIANT("no state products (timing only)", tangent::NO_STATE),
    LA2_LAB_DECAY_VARIANT("loads alone (timing only)", tangent::NO_STATE | tangent::NO_OUTPUT),
};
#undef LA2_LAB_DECAY_VARIANT
constexpr int decayVariantCount = sizeof(decayVariants) / sizeof(decayVariants[0]);
static int gDecayVariant = 0;  // the one runDecay's Hopper sweep launches

struct DecayRun {
    const Bufs& b;
    float* dSf;
    double* scratch;
    double* acc[2];
    void* dq;  // the Hopper sweep's dq
    DecayMaps maps;
};

constexpr int decayValueTile = 32;  // the double sweep's value tile (SweepPlanner.decayPlan's at D = 128)

static DecaySweepParams decayParams(const DecayRun& r, int x, int mode, bool hopper) {
    const Bufs& b = r.b;
    DecaySweepParams p{};
    p.q = b.q; p.k = b.k; p.v = b.v; p.dO = b.w; p.dq = hopper ? r.dq : nullptr;
    p.s0 = b.s0; p.dSf = r.dSf; p.scratch = r.scratch; p.decay = b.decay;
    p.acc = r.acc[x];
    p.N = b.s.N; p.H = b.s.H; p.Dk = D; p.Dv = D; p.ET = hopper ? D : decayValueTile; p.C = 64;
    p.L = b.segLen; p.nseg = b.nseg; p.mode = mode;
    p.kB = b.s.H * b.s.N * D; p.kH = b.s.N * D; p.kT = D;
    p.vB = p.kB; p.vH = p.kH; p.vT = D;
    p.scale = 1.0 / std::sqrt((double) D);
    return p;
}

// The double sweep (x = 0) or the Hopper sweep (x = 1) into acc[x], zeroed first.
template <typename T>
static void runDecay(const DecayRun& r, int x) {
    const Bufs& b = r.b;
    CK(cudaMemsetAsync(r.acc[x], 0, b.BH * 8));
    const bool f16 = std::is_same<T, __half>::value;
    const void* ref = f16 ? (const void*) la2_decay_sweep_f16 : (const void*) la2_decay_sweep_bf16;
    const DecayVariant& var = decayVariants[gDecayVariant];
    const void* hop = var.fn[f16 ? 1 : 0];
    for (int mode = 0; mode <= 1; mode++) {
        if (mode == 0 && b.nseg == 1) continue;
        DecaySweepParams p = decayParams(r, x, mode, x == 1);
        DecayMaps m = r.maps;
        void* args[] = {&p, &m};
        if (mode == 1 && b.nseg > 1) CK(cudaLaunchKernel((const void*) la2_decay_scan, dim3(b.BH, DD / 256), dim3(256), args, 0, 0));
        const unsigned segs = (unsigned) (mode == 0 ? b.nseg - 1 : b.nseg);
        if (x == 0)
            CK(cudaLaunchKernel(ref, dim3(b.BH, segs, D / decayValueTile), dim3(256), args,
                                (size_t) sharedBytes::decaySweep(D, decayValueTile, 64), 0));
        else
            CK(cudaLaunchKernel(hop, dim3(b.BH, segs), dim3(tangent::THREADS), args, (size_t) tangent::SMEM, 0));
        if (std::getenv("LA2_DECAY_SYNC") != nullptr) {  // a failing launch named before the context is lost
            const cudaError_t e = cudaDeviceSynchronize();
            std::printf("  %s sweep, mode %d (scan before it: %s): %s\n", x == 0 ? "double" : "Hopper", mode,
                        mode == 1 && b.nseg > 1 ? "yes" : "no", cudaGetErrorString(e));
            CK(e);
        }
    }
}

template <typename T>
static void decayCase(Shape s, const std::vector<float>& rates, bool timed) {
    Bufs b = allocate<T>(s, false);
    const bool f16 = std::is_same<T, __half>::value;
    if (!rates.empty()) CK(cudaMemcpy(b.decay, rates.data(), s.H * 4, cudaMemcpyHostToDevice));
    DecayRun r{b, nullptr, nullptr, {nullptr, nullptr}, nullptr, {}};
    CK(cudaMalloc(&r.dSf, b.BH * DD * 4));
    CK(cudaMalloc(&r.dq, b.BH * s.N * D * 2));
    la2_random_f32<<<1024, 256>>>(RandomParams{r.dSf, b.BH * DD, 78, 0.1});
    if (b.nseg > 1) CK(cudaMalloc(&r.scratch, b.BH * (b.nseg - 1) * 2 * DD * 8));
    for (int x = 0; x < 2; x++) CK(cudaMalloc(&r.acc[x], b.BH * 8));
    const HopperMaps qkv = b.maps, g = hopperMaps(b.w, b.w, b.w, s.B, s.H, s.N, f16);
    std::memcpy(r.maps.q, qkv.q, 128);
    std::memcpy(r.maps.k, qkv.k, 128);
    std::memcpy(r.maps.v, qkv.v, 128);
    std::memcpy(r.maps.dO, g.q, 128);
    std::printf("\n== decay gradient B=%lld H=%lld N=%lld D=E=128 %s: %lld segment(s) of %lld tokens, rates %s\n", s.B, s.H, s.N,
                f16 ? "f16" : "bf16", b.nseg, b.segLen, rates.empty() ? "2^(-8(h+1)/H)" : "given");
    const bool hopperFirst = std::getenv("LA2_DECAY_HOPPER_FIRST") != nullptr;
    for (int y = 0; y < 2; y++) {
        const int x = hopperFirst ? 1 - y : y;
        runDecay<T>(r, x);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
    }
    std::vector<double> acc[2];
    for (int x = 0; x < 2; x++) {
        acc[x].resize(b.BH);
        CK(cudaMemcpy(acc[x].data(), r.acc[x], b.BH * 8, cudaMemcpyDeviceToHost));
    }
    double maxRef = 0, maxDiff = 0;
    bool finite = true;
    for (long long h = 0; h < s.H; h++) {
        double ref = 0, got = 0;
        for (long long bb = 0; bb < s.B; bb++) {
            ref -= acc[0][bb * s.H + h];
            got -= acc[1][bb * s.H + h];
        }
        finite &= std::isfinite(ref) && std::isfinite(got);
        maxRef = std::max(maxRef, std::fabs(ref));
        maxDiff = std::max(maxDiff, std::fabs(got - ref));
        if (h < 4) std::printf("  head %lld: dDecay %.6e (double sweep) %.6e (Hopper)\n", h, ref, got);
    }
    const double err = maxDiff / std::max(maxRef, 1e-300);
    const bool ok = finite && err <= 1e-2;
    std::printf("  dDecay: max |diff| / max |ref| %.2e (max |ref| %.3e)  %s\n", err, maxRef, ok ? "PASS" : "FAIL");
    gAllPass &= ok;
    if (timed) {
        // each variant, then the backend's, in turns (the card warms through a series)
        for (int v = 1; v < decayVariantCount; v++) {
            gDecayVariant = v;
            const double tv = timeMs([&]() { runDecay<T>(r, 1); });
            gDecayVariant = 0;
            const double t0 = timeMs([&]() { runDecay<T>(r, 1); });
            std::printf(" time decay sweep, variant %d median %8.3f ms against the backend's %8.3f (%.3fx; %s)\n", v, tv, t0, tv / t0,
                        decayVariants[v].name);
        }
        const double th = timeMs([&]() { runDecay<T>(r, 1); });
        SweepParams fp = params(b, passes()[0], 1, 1);
        HopperMaps fm = b.maps;
        const void* fwd = f16 ? (const void*) la2_sweep_hopper_tma_f16_d128 : (const void*) la2_sweep_hopper_tma_bf16_d128;
        const double tf = timeMs([&]() {
            for (int mode = 0; mode <= 1; mode++) {
                if (mode == 0 && b.nseg == 1) continue;
                SweepParams p = params(b, passes()[0], 1, mode);
                void* args[] = {&p, &fm};
                if (mode == 1 && b.nseg > 1) CK(cudaLaunchKernel((const void*) la2_scan, dim3(b.BH, DD / 256), dim3(256), args, 0, 0));
                CK(cudaLaunchKernel(fwd, dim3(b.BH, mode == 0 ? b.nseg - 1 : b.nseg), dim3(256), args, (size_t) hopper::SMEM, 0));
            }
        });
        (void) fp;
        std::printf(" time decay sweep, Hopper   median %8.3f ms (%.2fx the forward's TMA entry point, %.3f ms)\n", th, th / tf, tf);
        if (s.N <= 32768) {
            const double td = timeMs([&]() { runDecay<T>(r, 0); });
            std::printf(" time decay sweep, double   median %8.3f ms\n", td);
        }
    }
    CK(cudaFree(r.dSf));
    CK(cudaFree(r.dq));
    if (r.scratch) CK(cudaFree(r.scratch));
    for (int x = 0; x < 2; x++) CK(cudaFree(r.acc[x]));
    release(b);
}

static void decaySection() {
    CK(cudaFuncSetAttribute((const void*) la2_decay_sweep_bf16, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int) sharedBytes::decaySweep(D, decayValueTile, 64)));
    CK(cudaFuncSetAttribute((const void*) la2_decay_sweep_f16, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int) sharedBytes::decaySweep(D, decayValueTile, 64)));
    for (const DecayVariant& v : decayVariants)
        for (const void* f : v.fn) CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, tangent::SMEM));
    // heads 0..3: s = 0 (no decay), 4, 1, 0.25; the rest 2^(-8(h+1)/H)
    std::vector<float> mixed(33);
    for (int h = 0; h < 33; h++) mixed[h] = h < 4 ? std::vector<float>{0.f, 4.f, 1.f, 0.25f}[h] : (float) std::pow(2.0, -8.0 * (h + 1) / 33);
    if (const char* shape = std::getenv("LA2_DECAY_SHAPE")) {
        long long B = 0, H = 0, N = 0;
        char type[8] = "bf16";
        std::sscanf(shape, "%lld,%lld,%lld,%7s", &B, &H, &N, type);
        if (std::strcmp(type, "f16") == 0) decayCase<__half>({B, H, N}, {}, false);
        else decayCase<__nv_bfloat16>({B, H, N}, {}, false);
        return;
    }
    // LA2_DECAY_CASE=k runs case k alone
    const char* only = std::getenv("LA2_DECAY_CASE");
    int at = 0;
    auto want = [&]() { return only == nullptr || std::atoi(only) == at++; };
    if (want()) decayCase<__nv_bfloat16>({4, 33, 1000}, mixed, false);  // a partial chunk
    if (want()) decayCase<__half>({4, 33, 1000}, mixed, false);
    if (want()) decayCase<__nv_bfloat16>({4, 32, 4096}, {}, false);
    if (want()) decayCase<__half>({2, 66, 8192 + 17}, {}, false);
    if (want()) decayCase<__nv_bfloat16>({4, 32, 32768}, {}, true);
    if (want()) decayCase<__half>({1, 4, 5000}, {0.f, 4.f, 1.f, 0.25f}, false);  // many short segments
    if (want()) decayCase<__nv_bfloat16>({1, 16, 131072}, {}, true);           // eight segments
}
