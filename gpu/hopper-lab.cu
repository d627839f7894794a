// Hopper lab: the sm_90a forward sweep (sweep_hopper.cuh) against the wide sweep it replaces
// (la2_sweep_wide_bf16_d128), without the JVM. Both run the forward as the backend does
// (SweepPlanner's segment split for one resident block per SM; with segments: mode 0, la2_scan,
// mode 1) on the same device-filled bf16 inputs with an initial state, and the lab compares
// outputs and final states (they differ by fp32 summation order and the 16-bit rounding that
// follows it), then times both (CUDA events, median).
//
// Build here:  nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o .gpu/hopper-lab gpu/hopper-lab.cu
// Run there:   .gpu/hopper-lab            (every case; exit status 1 when one fails)
#include "../la2-backend-cuda/src/main/cuda/la2_kernels.cu"
#include "../la2-backend-cuda/src/main/cuda/sweep_hopper.cuh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

LA2_SWEEP_HOPPER(lab_sweep_hopper_bf16, __nv_bfloat16)

#define CK(x)                                                                                   \
    do {                                                                                        \
        cudaError_t e_ = (x);                                                                   \
        if (e_ != cudaSuccess) {                                                                \
            std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            std::exit(1);                                                                       \
        }                                                                                       \
    } while (0)

// [0] sum (x-y)^2, [1] sum y^2, [2] max |x-y| (finite pairs), [3] max |y|, [4] finiteness mismatches
template <typename T>
__global__ void labCompare(const T* x, const T* y, long long n, double* acc) {
    double num = 0, den = 0, mism = 0;
    float mx = 0, my = 0;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        const float a = toF<T>(x[i]), b = toF<T>(y[i]);
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

template <typename T>
static Stats compare(const void* x, const void* y, long long n, double* acc) {
    CK(cudaMemset(acc, 0, 5 * sizeof(double)));
    labCompare<T><<<1024, 256>>>((const T*) x, (const T*) y, n, acc);
    double h[5];
    CK(cudaMemcpy(h, acc, sizeof h, cudaMemcpyDeviceToHost));
    return {std::sqrt(h[0] / std::max(h[1], 1e-300)), h[2], h[3], h[4]};
}

struct Forward {
    const char* name;
    const void* fn;
    int threads, smem;
};

struct Case {
    long long B, H, N;
    bool timed, nan;
};

int main() {
    int dev = 0, sms = 0;
    CK(cudaSetDevice(dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    const Forward wide{"wide (mma.sync)", (const void*) la2_sweep_wide_bf16_d128, 512,
                       (int) sharedBytes::tensorCoreSweep(2, 128, 128, 8, 8, 2, 2, 2)};
    const Forward hop{"hopper (wgmma)", (const void*) lab_sweep_hopper_bf16, 256, hopper::SMEM};
    for (const Forward* f : {&wide, &hop}) CK(cudaFuncSetAttribute(f->fn, cudaFuncAttributeMaxDynamicSharedMemorySize, f->smem));
    std::printf("hopper-lab: %d SMs, shared memory wide %d B, hopper %d B\n", sms, wide.smem, hop.smem);

    const int D = 128;
    const std::vector<Case> cases = {
        {4, 32, 32768, true, false}, {1, 16, 131072, true, false}, {4, 32, 2048, true, false},
        {1, 4, 2048 + 37, false, false},  // partial last chunk, 33 segments of one chunk
        {2, 3, 1000, false, true},        // a NaN in v: exact propagation
    };
    bool allPass = true;
    double* acc;
    CK(cudaMalloc(&acc, 5 * sizeof(double)));
    for (const Case& cs : cases) {
        const long long BH = cs.B * cs.H, N = cs.N, elems = BH * N * D, DD = (long long) D * D;
        // SweepPlanner.split with one resident block per SM and one value tile
        const long long nChunks = (N + 63) / 64;
        long long nseg = std::min(std::min(nChunks, 65535LL), std::max(1LL, (long long) sms / BH));
        const long long segLen = (nChunks + nseg - 1) / nseg * 64;
        nseg = (N + segLen - 1) / segLen;
        std::printf("\n== B=%lld H=%lld N=%lld D=E=128 bf16: %lld segment(s) of %lld tokens%s\n", cs.B, cs.H, N, nseg, segLen,
                    cs.nan ? ", NaN in v" : "");

        void *q, *k, *v, *o[2];
        float *decay, *s0, *sf[2], *scratch[2] = {nullptr, nullptr};
        CK(cudaMalloc(&q, elems * 2)); CK(cudaMalloc(&k, elems * 2)); CK(cudaMalloc(&v, elems * 2));
        CK(cudaMalloc(&decay, cs.H * 4)); CK(cudaMalloc(&s0, BH * DD * 4));
        for (int x = 0; x < 2; x++) {
            CK(cudaMalloc(&o[x], elems * 2));
            CK(cudaMalloc(&sf[x], BH * DD * 4));
            if (nseg > 1) CK(cudaMalloc(&scratch[x], BH * (nseg - 1) * DD * 4));
        }
        std::vector<float> hd(cs.H);
        for (int h = 0; h < cs.H; h++) hd[h] = (float) std::pow(2.0, -8.0 * (h + 1) / cs.H);  // SPEC.md section 4 slopes
        CK(cudaMemcpy(decay, hd.data(), cs.H * 4, cudaMemcpyHostToDevice));
        void* ins[3] = {q, k, v};
        for (int x = 0; x < 3; x++) la2_random_bf16<<<1024, 256>>>(RandomParams{ins[x], elems, 1000 + x, 1.0});
        la2_random_f32<<<1024, 256>>>(RandomParams{s0, BH * DD, 77, 0.1});
        if (cs.nan) {
            const unsigned short nanBits = 0x7fc0;  // bf16 quiet NaN: v of sequence 1, token 300, column 5
            CK(cudaMemcpy((char*) v + ((1 * N + 300) * D + 5) * 2, &nanBits, 2, cudaMemcpyHostToDevice));
        }
        CK(cudaGetLastError());

        auto params = [&](int x, int mode) {
            SweepParams p{};
            p.q = q; p.k = k; p.v = v; p.o = o[x]; p.s0 = s0; p.sfinal = sf[x]; p.scratch = scratch[x]; p.decay = decay;
            p.N = N; p.H = cs.H; p.BH = BH; p.Dk = D; p.Dv = D; p.ET = 128; p.C = 64; p.L = segLen; p.nseg = nseg;
            p.mode = mode; p.rev = 0; p.ofs0 = 1; p.finalPow = 0; p.writeOut = 1;
            p.kB = cs.H * N * D; p.kH = N * D; p.kT = D;
            p.vB = cs.H * N * D; p.vH = N * D; p.vT = D;
            p.s0i = D; p.s0j = 1; p.fi = D; p.fj = 1;
            p.alpha = p.beta = 1.0 / std::sqrt((double) D);
            p.kappa = 1.0;
            return p;
        };
        // the forward as SweepRunner.segmented queues it
        auto forward = [&](const Forward& f, int x) {
            for (int mode = 0; mode <= 1; mode++) {
                if (mode == 0 && nseg == 1) continue;
                SweepParams p = params(x, mode);
                void* args[] = {&p};
                if (mode == 1 && nseg > 1) CK(cudaLaunchKernel((const void*) la2_scan, dim3(BH, DD / 256), dim3(256), args, 0, 0));
                CK(cudaLaunchKernel(f.fn, dim3(BH, mode == 0 ? nseg - 1 : nseg), dim3(f.threads), args, (size_t) f.smem, 0));
            }
        };
        const Forward* fs[2] = {&wide, &hop};
        for (int x = 0; x < 2; x++) {
            CK(cudaMemset(o[x], 0xff, elems * 2));  // poison: NaN
            CK(cudaMemset(sf[x], 0xff, BH * DD * 4));
            forward(*fs[x], x);
            CK(cudaDeviceSynchronize());
        }
        const Stats so = compare<__nv_bfloat16>(o[1], o[0], elems, acc);
        const Stats ss = compare<float>(sf[1], sf[0], BH * DD, acc);
        const bool okO = so.mismatches == 0 && so.rel < 1e-2 && so.maxAbs <= 2e-2 * so.maxRef;
        const bool okS = ss.mismatches == 0 && ss.rel < 1e-4 && ss.maxAbs <= 1e-3 * ss.maxRef;
        std::printf("outputs:     rel.Frobenius %.2e  max|diff| %.3e  max|ref| %.3e  finiteness mismatches %.0f  %s\n", so.rel,
                    so.maxAbs, so.maxRef, so.mismatches, okO ? "PASS" : "FAIL");
        std::printf("final state: rel.Frobenius %.2e  max|diff| %.3e  max|ref| %.3e  finiteness mismatches %.0f  %s\n", ss.rel,
                    ss.maxAbs, ss.maxRef, ss.mismatches, okS ? "PASS" : "FAIL");
        allPass &= okO && okS;

        if (cs.timed) {
            cudaEvent_t e0, e1;
            CK(cudaEventCreate(&e0));
            CK(cudaEventCreate(&e1));
            double med[2];
            for (int x = 0; x < 2; x++) {
                std::vector<float> ms;
                forward(*fs[x], x);
                for (int r = 0; r < 15; r++) {
                    CK(cudaEventRecord(e0));
                    forward(*fs[x], x);
                    CK(cudaEventRecord(e1));
                    CK(cudaEventSynchronize(e1));
                    float t;
                    CK(cudaEventElapsedTime(&t, e0, e1));
                    ms.push_back(t);
                }
                std::sort(ms.begin(), ms.end());
                med[x] = ms[ms.size() / 2];
                // bytes the forward must move: q, k, v read and o written once
                const double floorMs = 4.0 * elems * 2 / 4.8e12 * 1e3;
                std::printf("time %-16s median %8.3f ms  (min %.3f, max %.3f; HBM floor at 4.8 TB/s %.3f ms)\n", fs[x]->name, med[x],
                            ms.front(), ms.back(), floorMs);
            }
            std::printf("speedup hopper vs wide: %.2fx\n", med[0] / med[1]);
            CK(cudaEventDestroy(e0));
            CK(cudaEventDestroy(e1));
        }
        CK(cudaFree(q)); CK(cudaFree(k)); CK(cudaFree(v)); CK(cudaFree(decay)); CK(cudaFree(s0));
        for (int x = 0; x < 2; x++) {
            CK(cudaFree(o[x])); CK(cudaFree(sf[x]));
            if (scratch[x]) CK(cudaFree(scratch[x]));
        }
    }
    std::printf("\n%s\n", allPass ? "hopper-lab: ALL PASS" : "hopper-lab: FAIL");
    return allPass ? 0 : 1;
}
