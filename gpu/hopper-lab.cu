// Hopper lab: the sm_90a sweep (sweep_hopper.cuh, la2_sweep_hopper_*) against the wide sweep it
// replaces (la2_sweep_wide_*_d128), without the JVM. Every run queues a pass as the backend does
// (SweepPlanner's segment split for one resident block per SM; with segments: mode 0, la2_scan,
// mode 1) on the same device-filled inputs, then compares outputs, final states and the w dot
// sums (they differ by fp32 summation order and the 16-bit rounding that follows it).
//
// Sections (arguments select them; none runs all):
//   passes   every pass SweepPlanner routes to the Hopper sweep (PassArgs: forward, advance, dq,
//            dv with and without the decay gradient's dot product, dk), bf16 and f16, the
//            forward and backward entry points, several segments and one; every pass also on
//            the TMA entry points (la2_sweep_hopper_tma_*) as the backend routes them
//   forward  the forward's cases (large shapes, a partial chunk, NaN propagation), then times
//            the wide sweep, the Hopper sweep, its TMA entry point and the lab's variants
//            (hopper_variants.cuh, among them the warpgroup-roles sweep of sweep_hopper_roles.cuh),
//            and in turns the TMA entry point against the sweep without its note of non-finite
//            outputs, and the roles sweep with and without it
//   backward times dq, dv and dk on the wide and the Hopper backward entry points, cp.async and TMA,
//            and the lab's backward variants (hopper_variants.cuh, splitVariants; the passes
//            section checks them); the dq pass on the TMA entry point (roles) and the column split
//            in turns
//   dkdv     the fused dk + dv pass (la2_sweep_hopper_tma_*_dkdv) against the two passes on the
//            TMA reversed entry point, bf16 and f16, several segments and one, then timed beside them
//   decay    the decay gradient's Hopper sweep (la2_decay_sweep_hopper_*, decay_hopper.cuh) against
//            the double sweep (la2_decay_sweep_*) on rates from 0 to 4, bf16 and f16, a partial
//            chunk; then timed in turns with timing-only builds (no output products, no state
//            products, neither), and beside the forward
//   tf32     the Hopper TF32 sweep (sweep_hopper_tf32.cuh) against the wide TF32 sweep on every pass
//            without a dot product (a partial chunk with segments, one segment, one partial chunk,
//            inputs far from 1), the forward's NaN propagation; then the forward and dq + dv + dk
//            timed (LA2_TF32_CASE=k runs case k alone: 5 is B=4 H=32 N=32768, 6 is B=1 H=16 N=131072)
//   trace    where a pass's time goes at N = 2048, 8192 and 65536 (B=4 H=32): per block, the wait for
//            its first chunk, early, steady and last chunk intervals, the exit (a build with
//            -DLA2_LAB_TRACE, whose kernels record common.cuh's LA2_MARK points: hopper-lab-marks.cuh)
//   vN       (with forward) only variant N of hopperVariants(), e.g. v2; several may be given
// Each comparison prints PASS or FAIL; the last line is "hopper-lab: ALL PASS" or
// "hopper-lab: FAIL" (exit status 1).
//
// Build here:  nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o .gpu/hopper-lab gpu/hopper-lab.cu
// Run there:   .gpu/hopper-lab [passes] [forward] [backward] [dkdv] [tf32] [decay] [trace] [v0 v1 ...]
#include "hopper-lab-marks.cuh"
#include "../la2-backend-cuda/src/main/cuda/la2_kernels.cu"
#include "hopper_variants.cuh"
#include "lab-check.cuh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

// [0] sum (x-y)^2, [1] sum y^2, [2] max |x-y| (finite pairs), [3] max |y|, [4] finiteness mismatches
template <typename T>
__global__ void labCompare(const T* x, const T* y, long long n, double* acc) {
    double num = 0, den = 0, mism = 0;
    float mx = 0, my = 0;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        const float a = (float) x[i], b = (float) y[i];
        if (isfinite(a) != isfinite(b)) { mism += 1; continue; }
        if (!isfinite(a)) continue;
        num += (double) (a - b) * (a - b);
        den += (double) b * b;
        mx = fmaxf(mx, fabsf(a - b));
        my = fmaxf(my, fabsf(b));
    }
    atomicAdd(acc, num);
    atomicAdd(acc + 1, den);
    atomicAdd(acc + 4, mism);
    atomicMax((unsigned long long*) (acc + 2), (unsigned long long) __double_as_longlong((double) mx));
    atomicMax((unsigned long long*) (acc + 3), (unsigned long long) __double_as_longlong((double) my));
}

struct Stats {
    double rel, maxAbs, maxRef, mismatches;
};

static double* gAcc;

template <typename T>
static Stats compare(const void* x, const void* y, long long n) {
    CK(cudaMemset(gAcc, 0, 5 * sizeof(double)));
    labCompare<T><<<1024, 256>>>((const T*) x, (const T*) y, n, gAcc);
    double h[5];
    CK(cudaMemcpy(h, gAcc, sizeof h, cudaMemcpyDeviceToHost));
    return {std::sqrt(h[0] / std::max(h[1], 1e-300)), h[2], h[3], h[4]};
}

static bool gAllPass = true;

// One comparison line; tolerances relative (Frobenius) and to the largest reference element.
static void report(const char* what, const Stats& s, double rel, double maxRel) {
    const bool ok = s.mismatches == 0 && s.rel <= rel && s.maxAbs <= maxRel * std::max(s.maxRef, 1e-30);
    std::printf("  %-12s rel.Frobenius %.2e  max|diff| %.3e  max|ref| %.3e  finiteness mismatches %.0f  %s\n", what, s.rel, s.maxAbs,
                s.maxRef, s.mismatches, ok ? "PASS" : "FAIL");
    gAllPass &= ok;
}

using Kern = LabKernel;

// A pass as PassArgs binds it (the operands are random tensors; only the sweep's parameters matter).
struct Pass {
    const char* name;
    bool bwd, rev, transposed, writeOut, dot;
    double alpha, beta, kappa;
    int ofs0, finalPow;
};

struct Shape {
    long long B, H, N;
};

static int gSms;
constexpr int D = 128;
constexpr long long DD = (long long) D * D;
constexpr int wideSmem = (int) sharedBytes::tensorCoreSweep(2, 128, 128, 8, 8, 2, 2, 2);

// Inputs and the two runs' outputs of one shape and storage type.
struct Bufs {
    Shape s;
    long long BH, elems, nseg, segLen;
    void *q, *k, *v, *w, *o[2];
    float *decay, *s0, *sf[2], *scratch[2];
    double* dot[2];
    HopperMaps maps;  // of q, k, v for the TMA variants
};

template <typename T>
static Bufs allocate(Shape s, bool nan) {
    Bufs b{};
    b.s = s;
    b.BH = s.B * s.H;
    b.elems = b.BH * s.N * D;
    // SweepPlanner.split with one resident block per SM and one value tile
    const long long nChunks = (s.N + 63) / 64;
    const long long nseg = std::min(std::min(nChunks, 65535LL), std::max(1LL, (long long) gSms / b.BH));
    b.segLen = (nChunks + nseg - 1) / nseg * 64;
    b.nseg = (s.N + b.segLen - 1) / b.segLen;
    void** ins[4] = {&b.q, &b.k, &b.v, &b.w};
    for (int x = 0; x < 4; x++) {
        CK(cudaMalloc(ins[x], b.elems * 2));
        RandomParams rp{*ins[x], b.elems, 1000 + x, 1.0};
        if (std::is_same<T, __half>::value) la2_random_f16<<<1024, 256>>>(rp);
        else la2_random_bf16<<<1024, 256>>>(rp);
    }
    CK(cudaMalloc(&b.decay, s.H * 4));
    CK(cudaMalloc(&b.s0, b.BH * DD * 4));
    for (int x = 0; x < 2; x++) {
        CK(cudaMalloc(&b.o[x], b.elems * 2));
        CK(cudaMalloc(&b.sf[x], b.BH * DD * 4));
        CK(cudaMalloc(&b.dot[x], b.BH * 8));
        b.scratch[x] = nullptr;
        if (b.nseg > 1) CK(cudaMalloc(&b.scratch[x], b.BH * (b.nseg - 1) * DD * 4));
    }
    std::vector<float> hd(s.H);
    for (int h = 0; h < s.H; h++) hd[h] = (float) std::pow(2.0, -8.0 * (h + 1) / s.H);  // SPEC.md section 4 slopes
    CK(cudaMemcpy(b.decay, hd.data(), s.H * 4, cudaMemcpyHostToDevice));
    b.maps = hopperMaps(b.q, b.k, b.v, s.B, s.H, s.N, std::is_same<T, __half>::value);
    la2_random_f32<<<1024, 256>>>(RandomParams{b.s0, b.BH * DD, 77, 0.1});
    if (nan) {
        // a quiet NaN in v of sequence 1, token 300, column 5
        const unsigned short nanBits = std::is_same<T, __half>::value ? 0x7e00 : 0x7fc0;
        CK(cudaMemcpy((char*) b.v + ((1 * s.N + 300) * D + 5) * 2, &nanBits, 2, cudaMemcpyHostToDevice));
    }
    CK(cudaGetLastError());
    return b;
}

static void release(Bufs& b) {
    void* ps[] = {b.q, b.k, b.v, b.w, b.decay, b.s0};
    for (void* p : ps) CK(cudaFree(p));
    for (int x = 0; x < 2; x++) {
        CK(cudaFree(b.o[x])); CK(cudaFree(b.sf[x])); CK(cudaFree(b.dot[x]));
        if (b.scratch[x]) CK(cudaFree(b.scratch[x]));
    }
}

// The parameters pass ps fixes on shape s ([B][H][N][128] tensors) in `mode`: everything but the
// buffers and the launch's value tile and segments.
static SweepParams passParams(const Pass& ps, Shape s, int mode) {
    SweepParams p{};
    p.N = s.N; p.H = s.H; p.BH = s.B * s.H; p.Dk = D; p.Dv = D; p.C = 64;
    p.mode = mode; p.rev = ps.rev; p.ofs0 = ps.ofs0; p.finalPow = ps.finalPow; p.writeOut = ps.writeOut;
    p.kB = s.H * s.N * D; p.kH = s.N * D; p.kT = D;
    p.vB = p.kB; p.vH = p.kH; p.vT = D;
    const long long rs = ps.transposed ? 1 : D, cs = ps.transposed ? D : 1;
    p.s0i = rs; p.s0j = cs; p.fi = rs; p.fj = cs;
    p.alpha = ps.alpha; p.beta = ps.beta; p.kappa = ps.kappa;
    return p;
}

// PassArgs.params for run x (its output, final state, scratch and dot sums).
static SweepParams params(const Bufs& b, const Pass& ps, int x, int mode) {
    SweepParams p = passParams(ps, b.s, mode);
    p.q = b.q; p.k = b.k; p.v = b.v; p.o = b.o[x]; p.s0 = b.s0; p.sfinal = b.sf[x]; p.scratch = b.scratch[x]; p.decay = b.decay;
    p.w = ps.dot ? b.w : nullptr;
    p.acc = ps.dot ? b.dot[x] : nullptr;
    p.ET = 128; p.L = b.segLen; p.nseg = b.nseg;
    return p;
}

// The stream run() and the dkdv section's launch() queue on (the trace section's concurrent passes).
static cudaStream_t labStream = 0;

// The pass as SweepRunner.segmented queues it.
static void run(const Kern& f, const Bufs& b, const Pass& ps, int x) {
    for (int mode = 0; mode <= 1; mode++) {
        if (mode == 0 && b.nseg == 1) continue;
        SweepParams p = params(b, ps, x, mode);
        HopperMaps m = b.maps;
        void* args[] = {&p, &m};
        if (mode == 1 && b.nseg > 1) CK(cudaLaunchKernel((const void*) la2_scan, dim3(b.BH, DD / 256), dim3(256), args, 0, labStream));
        CK(cudaLaunchKernel(f.fn, dim3(b.BH, mode == 0 ? b.nseg - 1 : b.nseg), dim3(f.threads), args, (size_t) f.smem, labStream));
    }
}

// Runs `ref` into slot 0 and `test` into slot 1 from poisoned outputs and compares. `rounded`:
// the two round their intermediates differently (the split products against 16-bit ones, or a
// Hopper sweep's segments with a non-finite output summed again on the fp32 FMA sweep), so
// states and dot sums agree only to the 16-bit rounding (the GPU tests hold both to the float64
// reference).
template <typename T>
static void check(const Kern& ref, const Kern& test, const Bufs& b, const Pass& ps, bool rounded = false) {
    const Kern* ks[2] = {&ref, &test};
    for (int x = 0; x < 2; x++) {
        CK(cudaMemset(b.o[x], 0xff, b.elems * 2));  // NaN: an output a pass must not write stays NaN
        CK(cudaMemset(b.sf[x], 0xff, b.BH * DD * 4));
        CK(cudaMemset(b.dot[x], 0, b.BH * 8));
        run(*ks[x], b, ps, x);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
    }
    // outputs (with writeOut = 0: both untouched, all NaN, so no finiteness mismatch)
    report("outputs", compare<T>(b.o[1], b.o[0], b.elems), 1e-2, 2e-2);
    const double relState = rounded ? 1e-2 : 1e-4, maxState = rounded ? 2e-2 : 1e-3;
    report("final state", compare<float>(b.sf[1], b.sf[0], b.BH * DD), relState, maxState);
    if (ps.dot) report("dot sums", compare<double>(b.dot[1], b.dot[0], b.BH), relState, maxState);
}

static double median(std::vector<float> ms) {
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

// Median of 15 timed runs of `once` (after one warm-up).
template <typename F>
static double timeMs(F once) {
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    once();
    std::vector<float> ms;
    for (int r = 0; r < 15; r++) {
        CK(cudaEventRecord(e0));
        once();
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float t;
        CK(cudaEventElapsedTime(&t, e0, e1));
        ms.push_back(t);
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return median(ms);
}

// The same of the passes `ps`, each on its kernel.
static double timePasses(const std::vector<const Kern*>& ks, const Bufs& b, const std::vector<Pass>& ps) {
    return timeMs([&]() {
        for (size_t i = 0; i < ps.size(); i++) run(*ks[i], b, ps[i], 1);
    });
}

// The passes of PassArgs for a call of scale c (D = E, so every pass is 128 x 128).
static std::vector<Pass> passes() {
    const double c = 1.0 / std::sqrt((double) D);
    return {
        //  name               bwd    rev    transp writeOut dot   alpha beta kappa ofs0 finalPow
        {"forward",           false, false, false, true,  false, c,   c,   1,    1,   0},
        {"advance",           false, false, false, false, false, 1,   1,   1,    1,   0},
        {"dq",                true,  false, true,  true,  false, c,   c,   1,    1,   0},
        {"dv",                true,  true,  false, true,  false, c,   1,   c,    0,   1},
        {"dv+dot",            true,  true,  false, true,  true,  c,   1,   c,    0,   1},
        {"dk",                true,  true,  true,  true,  false, c,   1,   c,    0,   0},
        {"forward+dot",       false, false, false, false, true,  c,   c,   1,    1,   0},  // the recompute's shape
        {"dq+dot",            true,  false, true,  true,  true,  c,   c,   1,    1,   0},  // a learnable decay's dq
    };
}

// The entry points of one storage type: the wide sweep's, the Hopper sweep's and its TMA ones.
struct Entries {
    const void *wideF, *wideB, *hopF, *hopB, *tmaF, *tmaB, *tmaBR, *splitB, *splitBR;
};

// Every pass on the Hopper entry points against the wide ones, and on the TMA entry points as the
// backend routes them (SweepRunner.run): the backward's takes reversed passes too.
template <typename T>
static void passChecks(const char* type, const Entries& e) {
    const Kern wf{"wide", e.wideF, 512, wideSmem, false}, wb{"wide bwd", e.wideB, 512, wideSmem, false};
    const Kern hf{"hopper", e.hopF, 256, hopper::SMEM, false}, hb{"hopper bwd", e.hopB, 256, hopper::SMEM, false};
    const Kern tf{"hopper TMA", e.tmaF, 256, hopper::SMEM, true}, tb{"hopper TMA bwd", e.tmaB, 256, hopper::SMEM, true};
    const Kern tbr{"hopper TMA bwd_rev", e.tmaBR, 256, hopper::SMEM, true};
    const Kern sb{"hopper split bwd", e.splitB, 256, hopper::SMEM, true}, sbr{"hopper split bwd_rev", e.splitBR, 256, hopper::SMEM, true};
    for (const Shape& s : {Shape{2, 4, 4096 + 37}, Shape{2, 66, 700}}) {
        Bufs b = allocate<T>(s, false);
        for (const Pass& ps : passes()) {
            std::printf("\n== pass %s %s: B=%lld H=%lld N=%lld, %lld segment(s) of %lld tokens (rev %d, transposed states %d, writeOut %d, w %d)\n",
                        ps.name, type, s.B, s.H, s.N, b.nseg, b.segLen, ps.rev, ps.transposed, ps.writeOut, ps.dot);
            check<T>(ps.bwd ? wb : wf, ps.bwd ? hb : hf, b, ps);
            if (ps.bwd || !ps.rev) {
                const Kern& t = !ps.bwd ? tf : ps.rev ? tbr : tb;
                std::printf(" %s vs wide:\n", t.name);
                check<T>(ps.bwd ? wb : wf, t, b, ps);
            }
            if (ps.bwd) {
                const Kern& t = ps.rev ? sbr : sb;
                std::printf(" %s vs wide:\n", t.name);
                check<T>(wb, t, b, ps, true);
            }
            if constexpr (std::is_same_v<T, __nv_bfloat16>) {
                // the lab's variants with the next chunk's scores issued early (AHEAD: the forward's
                // and the backward's on every pass), with w loaded early (EARLY_W, plain and split;
                // plain, the column split that the entry point's dq pass runs with roles) and the
                // roles sweep
                if (!ps.bwd) {
                    for (const Kern& k : hopperVariants()) {
                        if (!std::strstr(k.name, "ahead") && !std::strstr(k.name, "roles")) continue;
                        std::printf(" %s vs wide:\n", k.name);
                        check<T>(wf, k, b, ps);
                    }
                } else {
                    for (const auto& v : splitVariants()) {
                        const Kern& k = ps.rev ? v.second : v.first;
                        const bool early = std::strstr(k.name, "early w") != nullptr, ahead = std::strstr(k.name, "ahead") != nullptr;
                        const bool roles = std::strstr(k.name, "roles") != nullptr;
                        if (!(early || ahead || roles)) continue;
                        std::printf(" %s vs wide:\n", k.name);
                        check<T>(wb, k, b, ps, std::strstr(k.name, "split") != nullptr);
                    }
                }
            }
        }
        release(b);
    }
}

static void forwardSection(const std::vector<bool>& selected) {
    const Kern wide{"wide (mma.sync)", (const void*) la2_sweep_wide_bf16_d128, 512, wideSmem, false};
    const Kern hop{"hopper (wgmma)", (const void*) la2_sweep_hopper_bf16_d128, 256, hopper::SMEM, false};
    const Kern tma{"hopper TMA entry point", (const void*) la2_sweep_hopper_tma_bf16_d128, 256, hopper::SMEM, true};
    std::vector<Kern> variants;
    for (size_t x = 0; x < hopperVariants().size(); x++)
        if (selected[x]) variants.push_back(hopperVariants()[x]);
    const Pass fwd = passes()[0];
    const std::vector<std::pair<Shape, bool>> cases = {
        {{4, 32, 32768}, false}, {{1, 16, 131072}, false}, {{4, 32, 2048}, false},
        {{1, 4, 2048 + 37}, false},  // partial last chunk, 33 segments of one chunk
        {{2, 3, 1000}, true},        // a NaN in v: exact propagation (segments after it summed again in fp32)
    };
    for (size_t ci = 0; ci < cases.size(); ci++) {
        const Shape s = cases[ci].first;
        const bool timed = ci < 3;
        Bufs b = allocate<__nv_bfloat16>(s, cases[ci].second);
        std::printf("\n== forward B=%lld H=%lld N=%lld D=E=128 bf16: %lld segment(s) of %lld tokens%s\n", s.B, s.H, s.N, b.nseg, b.segLen,
                    cases[ci].second ? ", NaN in v" : "");
        std::vector<const Kern*> ks = {&hop, &tma};
        for (const Kern& v : variants) ks.push_back(&v);
        for (const Kern* k : ks) {
            std::printf(" %s vs wide:\n", k->name);
            check<__nv_bfloat16>(wide, *k, b, fwd, cases[ci].second);
        }
        for (const Kern& v : variants) {
            std::printf(" %s vs the TMA entry point:\n", v.name);
            check<__nv_bfloat16>(tma, v, b, fwd);
        }
        if (timed) {
            ks.insert(ks.begin(), &wide);
            const double floorMs = 4.0 * b.elems * 2 / 4.8e12 * 1e3;  // q, k, v read and o written once
            double ref = 0;
            for (const Kern* k : ks) {
                const double t = timePasses({k}, b, {fwd});
                if (k == &wide) ref = t;
                std::printf(" time %-28s median %8.3f ms  (%.2fx wide; HBM floor at 4.8 TB/s %.3f ms)\n", k->name, t, ref / t, floorMs);
            }
            // what noting non-finite outputs costs, in turns (the clock drifts as the card warms):
            // the TMA entry point against the same sweep without it (the backward's "ahead"
            // variant), and the roles sweep with and without it
            const auto sv = splitVariants();
            auto bwdNamed = [&](const char* n) { return std::find_if(sv.begin(), sv.end(), [&](const auto& v) { return !std::strcmp(v.first.name, n); })->first; };
            const auto fv = hopperVariants();
            auto fwdNamed = [&](const char* n) { return *std::find_if(fv.begin(), fv.end(), [&](const Kern& k) { return !std::strcmp(k.name, n); }); };
            const Kern notNoted = bwdNamed("ahead"), rolesNotNoted = bwdNamed("roles");
            const Kern roles = fwdNamed("hopper TMA + staged output + roles");
            const Kern* turns[] = {&tma, &notNoted, &roles, &rolesNotNoted};
            const char* names[] = {"TMA entry point", "ahead, not noted", "roles", "roles, not noted"};
            constexpr int nt = 4;
            std::vector<float> ts[nt];
            for (int r = 0; r < 3; r++)
                for (int x = 0; x < nt; x++) ts[x].push_back((float) timePasses({turns[x]}, b, {fwd}));
            for (int x = 0; x < nt; x++)
                std::printf(" turns %-24s %8.3f %8.3f %8.3f ms, median %8.3f\n", names[x], ts[x][0], ts[x][1], ts[x][2], median(ts[x]));
        }
        release(b);
    }
}

static void backwardSection() {
    const Kern wb{"wide bwd", (const void*) la2_sweep_wide_bf16_d128_bwd, 512, wideSmem, false};
    const Kern hb{"hopper bwd", (const void*) la2_sweep_hopper_bf16_d128_bwd, 256, hopper::SMEM, false};
    const Kern tb{"hopper TMA bwd", (const void*) la2_sweep_hopper_tma_bf16_d128_bwd, 256, hopper::SMEM, true};
    const Kern tbr{"hopper TMA bwd_rev", (const void*) la2_sweep_hopper_tma_bf16_d128_bwd_rev, 256, hopper::SMEM, true};
    const Kern sb{"hopper split bwd", (const void*) la2_sweep_hopper_split_bf16_d128_bwd, 256, hopper::SMEM, true};
    const Kern sbr{"hopper split bwd_rev", (const void*) la2_sweep_hopper_split_bf16_d128_bwd_rev, 256, hopper::SMEM, true};
    const std::vector<Pass> all = passes();
    const std::vector<Pass> bwd = {all[2], all[3], all[5]};  // dq, dv, dk
    for (const Shape& s : {Shape{4, 32, 32768}, Shape{1, 16, 131072}}) {
        Bufs b = allocate<__nv_bfloat16>(s, false);
        std::printf("\n== backward sweeps dq + dv + dk, B=%lld H=%lld N=%lld bf16: %lld segment(s)\n", s.B, s.H, s.N, b.nseg);
        const double tw = timePasses({&wb, &wb, &wb}, b, bwd), th = timePasses({&hb, &hb, &hb}, b, bwd);
        const double tt = timePasses({&tb, &tbr, &tbr}, b, bwd);
        std::printf(" time wide       median %8.3f ms\n time hopper     median %8.3f ms  (%.2fx)\n", tw, th, tw / th);
        std::printf(" time hopper TMA median %8.3f ms  (%.2fx)\n", tt, tw / tt);
        // the TMA backward with the next chunk's scores issued early (AHEAD), and with the column
        // split on the forward-time passes ("early w": the entry point's flags without ROLES)
        const auto variants = splitVariants();
        auto named = [&](const char* n) { return *std::find_if(variants.begin(), variants.end(), [&](const auto& v) { return !std::strcmp(v.first.name, n); }); };
        const auto ah = named("ahead"), co = named("early w");
        const double ta = timePasses({&ah.first, &ah.second, &ah.second}, b, bwd), tc = timePasses({&co.first, &co.second, &co.second}, b, bwd);
        std::printf(" time hopper TMA + ahead median %8.3f ms  (%.2fx; %.3fx the TMA backward)\n", ta, tw / ta, ta / tt);
        std::printf(" time hopper TMA, columns median %8.3f ms  (%.2fx; %.3fx the TMA backward)\n", tc, tw / tc, tc / tt);
        for (size_t x = 0; x < bwd.size(); x++) {
            const double a = timePasses({&hb}, b, {bwd[x]}), c = timePasses({bwd[x].rev ? &tbr : &tb}, b, {bwd[x]});
            const double d = timePasses({bwd[x].rev ? &ah.second : &ah.first}, b, {bwd[x]});
            const double r = timePasses({bwd[x].rev ? &co.second : &co.first}, b, {bwd[x]});
            std::printf("   %-3s hopper %8.3f ms, TMA %8.3f ms, TMA + ahead %8.3f ms, TMA columns %8.3f ms\n", bwd[x].name, a, c, d, r);
        }
        // the dq pass on the TMA entry point (roles) and the column split, in turns
        for (int r = 0; r < 3; r++)
            std::printf("   dq in turns: TMA (roles) %8.3f ms, columns %8.3f ms\n", timePasses({&tb}, b, {bwd[0]}), timePasses({&co.first}, b, {bwd[0]}));
        // a learnable decay's backward: dq and dv, each with its dot product, on the split products
        const Pass& dqDot = all[7];
        const double tl = timePasses({&sb, &sbr, &tbr}, b, {dqDot, all[4], all[5]});
        std::printf(" time split dq+dot + dv+dot, TMA dk median %8.3f ms  (%.2fx the TMA backward)\n", tl, tl / tt);
        std::printf("   dq+dot TMA %8.3f ms, split %8.3f ms; dv+dot TMA %8.3f ms, split %8.3f ms\n", timePasses({&tb}, b, {dqDot}),
                    timePasses({&sb}, b, {dqDot}), timePasses({&tbr}, b, {all[4]}), timePasses({&sbr}, b, {all[4]}));
        for (const auto& k : variants) {
            const double t1 = timePasses({&k.first}, b, {dqDot}), t2 = timePasses({&k.second}, b, {all[4]});
            std::printf("   %-10s dq+dot %8.3f ms, dv+dot %8.3f ms\n", k.first.name, t1, t2);
        }
        release(b);
    }
}

#include "hopper-lab-decay.cuh"
#include "hopper-lab-dkdv.cuh"
#include "hopper-lab-tf32.cuh"
#include "hopper-lab-trace.cuh"

int main(int argc, char** argv) {
    CK(cudaSetDevice(0));
    CK(cudaDeviceGetAttribute(&gSms, cudaDevAttrMultiProcessorCount, 0));
    CK(cudaMalloc(&gAcc, 5 * sizeof(double)));
    const Entries bf16{(const void*) la2_sweep_wide_bf16_d128, (const void*) la2_sweep_wide_bf16_d128_bwd,
                       (const void*) la2_sweep_hopper_bf16_d128, (const void*) la2_sweep_hopper_bf16_d128_bwd,
                       (const void*) la2_sweep_hopper_tma_bf16_d128, (const void*) la2_sweep_hopper_tma_bf16_d128_bwd,
                       (const void*) la2_sweep_hopper_tma_bf16_d128_bwd_rev, (const void*) la2_sweep_hopper_split_bf16_d128_bwd,
                       (const void*) la2_sweep_hopper_split_bf16_d128_bwd_rev};
    const Entries f16{(const void*) la2_sweep_wide_f16_d128, (const void*) la2_sweep_wide_f16_d128_bwd,
                      (const void*) la2_sweep_hopper_f16_d128, (const void*) la2_sweep_hopper_f16_d128_bwd,
                      (const void*) la2_sweep_hopper_tma_f16_d128, (const void*) la2_sweep_hopper_tma_f16_d128_bwd,
                      (const void*) la2_sweep_hopper_tma_f16_d128_bwd_rev, (const void*) la2_sweep_hopper_split_f16_d128_bwd,
                      (const void*) la2_sweep_hopper_split_f16_d128_bwd_rev};
    const void* wides[] = {bf16.wideF, bf16.wideB, f16.wideF, f16.wideB};
    const void* hoppers[] = {bf16.hopF, bf16.hopB, bf16.tmaF, bf16.tmaB, bf16.tmaBR, bf16.splitB, bf16.splitBR,
                             f16.hopF,  f16.hopB,  f16.tmaF,  f16.tmaB,  f16.tmaBR,  f16.splitB,  f16.splitBR};
    for (const void* f : wides) CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, wideSmem));
    for (const void* f : hoppers) CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, hopper::SMEM));
    for (const Kern& v : hopperVariants()) CK(cudaFuncSetAttribute(v.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, v.smem));
    for (const auto& v : splitVariants()) {
        CK(cudaFuncSetAttribute(v.first.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, v.first.smem));
        CK(cudaFuncSetAttribute(v.second.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, v.second.smem));
    }
    std::printf("hopper-lab: %d SMs, shared memory hopper %d B\n", gSms, hopper::SMEM);
    // sections named on the command line (none: all), variants named vN (none: all)
    bool anySection = false, anyVariant = false;
    std::vector<bool> selected(hopperVariants().size(), false);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == 'v' && argv[i][1] >= '0' && argv[i][1] <= '9') {
            const size_t x = (size_t) std::atoi(argv[i] + 1);
            if (x < selected.size()) selected[x] = true;
            anyVariant = true;
        } else {
            anySection = true;
        }
    }
    if (!anyVariant) selected.assign(selected.size(), true);
    for (size_t x = 0; x < selected.size(); x++)
        std::printf("variant v%zu: %s%s\n", x, hopperVariants()[x].name, selected[x] ? "" : " (not selected)");
    auto want = [&](const char* s) {
        if (!anySection) return true;
        for (int i = 1; i < argc; i++) if (!std::strcmp(argv[i], s)) return true;
        return false;
    };
    if (want("passes")) {
        passChecks<__nv_bfloat16>("bf16", bf16);
        passChecks<__half>("f16", f16);
    }
    if (want("forward")) forwardSection(selected);
    if (want("backward")) backwardSection();
    if (want("dkdv")) dkdvSection();
    if (want("tf32")) tf32Section();
    if (want("decay")) decaySection();
    if (want("trace")) traceSection();
    std::printf("\n%s\n", gAllPass ? "hopper-lab: ALL PASS" : "hopper-lab: FAIL");
    return gAllPass ? 0 : 1;
}
