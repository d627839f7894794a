// Kernel lab: times sweep-kernel variants on the GPU without the JVM, one forward pass of
// B x H sequences of N tokens (D = E = 128, BHND, device-filled random inputs), and checks each
// real variant against the fp32-FMA generic sweep on the same inputs (relative Frobenius error).
// Ablation variants (lab_* below) are sweepMma with some of its stages left out, so their outputs
// are wrong by design and only their times count.
//
// Build here:  nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o .gpu/kernel-lab gpu/kernel-lab.cu
// Run there:   .gpu/kernel-lab [N] [B] [H] [name-filter]
#include "../la2-backend-cuda/src/main/cuda/la2_kernels.cu"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lab-check.cuh"

struct Variant {
    const char* name;
    const void* fn;
    bool fp32;
    int smem;
    bool real;  // computes the full function (checked), or an ablation (timed only)
    int threads = 256;
    int tiles = 2;  // value tiles of 64 per sequence
};

// sweepMma stages (sweep_mma.cuh, AllStages) the ablations keep
template <bool SCORES, bool AV, bool QS, bool STATE, bool LOADS, bool STORES>
struct Keep {
    static constexpr bool scores = SCORES, av = AV, qS = QS, stateUpdate = STATE, loads = LOADS, stores = STORES;
};
using NoScores = Keep<false, true, true, true, true, true>;
using NoAv = Keep<true, false, true, true, true, true>;
using NoQs = Keep<true, true, false, true, true, true>;
using NoState = Keep<true, true, true, false, true, true>;
using NoLoads = Keep<true, true, true, true, false, true>;
using NoStores = Keep<true, true, true, true, true, false>;
using NoMma = Keep<false, false, false, false, true, true>;
using OnlyLoads = Keep<false, false, false, false, true, false>;
#define LAB(name, T, MINB, STAGES) \
    extern "C" __global__ void __launch_bounds__(256, MINB) name(const SweepParams p) { sweepMma<T, 128, true, Mma<T>, STAGES>(p); }
LAB(lab_bf16_no_scores, __nv_bfloat16, 2, NoScores)
LAB(lab_bf16_no_av, __nv_bfloat16, 2, NoAv)
LAB(lab_bf16_no_qs, __nv_bfloat16, 2, NoQs)
LAB(lab_bf16_no_state, __nv_bfloat16, 2, NoState)
LAB(lab_bf16_no_loads, __nv_bfloat16, 2, NoLoads)
LAB(lab_bf16_no_stores, __nv_bfloat16, 2, NoStores)
LAB(lab_bf16_no_mma, __nv_bfloat16, 2, NoMma)
LAB(lab_bf16_only_loads, __nv_bfloat16, 2, OnlyLoads)
LAB(lab_tf32_no_loads, float, 1, NoLoads)
LAB(lab_tf32_no_mma, float, 1, NoMma)

// shared memory of the D = 128 kernels timed here (smem.cuh)
static int smem16() { return (int) sharedBytes::tensorCoreSweep(2, 128, 64, 8, 8, 1, 1, 1); }
static int smemWide() { return (int) sharedBytes::tensorCoreSweep(2, 128, 128, 8, 8, 2, 2, 2); }
static int smemWide32() { return (int) sharedBytes::tensorCoreSweep(4, 128, 128, 4, 4, 1, 2, 1); }
static int smem32() { return (int) sharedBytes::tensorCoreSweep(4, 128, 64, 4, 4, 1, 1, 1); }

extern "C" __global__ void lab_err(const void* a, const void* ref, long long n, bool fp32, double* acc) {
    double num = 0, den = 0;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        float x = fp32 ? ((const float*) a)[i] : __bfloat162float(((const __nv_bfloat16*) a)[i]);
        float y = fp32 ? ((const float*) ref)[i] : __bfloat162float(((const __nv_bfloat16*) ref)[i]);
        if (!(x == x)) x = 1e30f;  // NaN (poison) fails loudly
        num += (double) (x - y) * (x - y);
        den += (double) y * y;
    }
    for (int off = 16; off > 0; off >>= 1) {
        num += __shfl_down_sync(0xffffffffu, num, off);
        den += __shfl_down_sync(0xffffffffu, den, off);
    }
    if ((threadIdx.x & 31) == 0) {
        atomicAdd(acc, num);
        atomicAdd(acc + 1, den);
    }
}

int main(int argc, char** argv) {
    const long long N = argc > 1 ? std::atoll(argv[1]) : 32768;
    const long long B = argc > 2 ? std::atoll(argv[2]) : 4;
    const long long H = argc > 3 ? std::atoll(argv[3]) : 32;
    const std::string filter = argc > 4 ? argv[4] : "";
    const int D = 128, E = 128;
    const long long BH = B * H;
    const long long elems = BH * N * D;

    std::vector<Variant> vs = {
        {"tc1_bf16 (shipped, 2 blocks/SM)", (const void*) la2_sweep_tc1_bf16_d128, false, smem16(), true},
        {"wide_bf16 (16 warps, all of E)", (const void*) la2_sweep_wide_bf16_d128, false, smemWide(), true, 512, 1},
        {"bf16 -scores", (const void*) lab_bf16_no_scores, false, smem16(), false},
        {"bf16 -A v", (const void*) lab_bf16_no_av, false, smem16(), false},
        {"bf16 -q S", (const void*) lab_bf16_no_qs, false, smem16(), false},
        {"bf16 -state", (const void*) lab_bf16_no_state, false, smem16(), false},
        {"bf16 -loads", (const void*) lab_bf16_no_loads, false, smem16(), false},
        {"bf16 -stores", (const void*) lab_bf16_no_stores, false, smem16(), false},
        {"bf16 -all mma", (const void*) lab_bf16_no_mma, false, smem16(), false},
        {"bf16 loads+barriers only", (const void*) lab_bf16_only_loads, false, smem16(), false},
        {"wide_tf32 (16 warps, all of E)", (const void*) la2_sweep_wide_tf32_d128, true, smemWide32(), true, 512, 1},
        {"tc_tf32 (2 blocks per sequence)", (const void*) la2_sweep_tc_tf32_d128, true, smem32(), true},
        {"tf32 -loads", (const void*) lab_tf32_no_loads, true, smem32(), false},
        {"tf32 -all mma", (const void*) lab_tf32_no_mma, true, smem32(), false},
    };

    int dev = 0, sms = 0;
    CK(cudaSetDevice(dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    std::printf("kernel-lab: N=%lld B=%lld H=%lld D=%d E=%d, %d SMs\n", N, B, H, D, E, sms);

    void *q16, *k16, *v16, *o16, *r16, *q32, *k32, *v32, *o32, *r32;
    float* decay;
    double* acc;
    CK(cudaMalloc(&q16, elems * 2)); CK(cudaMalloc(&k16, elems * 2)); CK(cudaMalloc(&v16, elems * 2));
    CK(cudaMalloc(&o16, elems * 2)); CK(cudaMalloc(&r16, elems * 2));
    CK(cudaMalloc(&q32, elems * 4)); CK(cudaMalloc(&k32, elems * 4)); CK(cudaMalloc(&v32, elems * 4));
    CK(cudaMalloc(&o32, elems * 4)); CK(cudaMalloc(&r32, elems * 4));
    CK(cudaMalloc(&decay, H * 4));
    CK(cudaMalloc(&acc, 16));
    std::vector<float> hd(H);
    for (int h = 0; h < H; h++) hd[h] = (float) std::pow(2.0, -8.0 * (h + 1) / H);  // SPEC.md section 4 slopes
    CK(cudaMemcpy(decay, hd.data(), H * 4, cudaMemcpyHostToDevice));
    void* bufs16[3] = {q16, k16, v16};
    void* bufs32[3] = {q32, k32, v32};
    for (int i = 0; i < 3; i++) {
        RandomParams rp{bufs16[i], elems, 1000 + i, 1.0};
        la2_random_bf16<<<1024, 256>>>(rp);
        RandomParams rp32{bufs32[i], elems, 2000 + i, 1.0};
        la2_random_f32<<<1024, 256>>>(rp32);
    }
    CK(cudaGetLastError());

    auto params = [&](bool fp32, void* o) {
        SweepParams p{};
        p.q = fp32 ? q32 : q16;
        p.k = fp32 ? k32 : k16;
        p.v = fp32 ? v32 : v16;
        p.o = o;
        p.decay = decay;
        p.N = N; p.H = H; p.BH = BH; p.Dk = D; p.Dv = E; p.ET = 64; p.C = 64;
        p.L = (N + 63) / 64 * 64; p.nseg = 1; p.mode = 1; p.rev = 0; p.ofs0 = 1; p.finalPow = 0; p.writeOut = 1;
        p.kB = H * N * D; p.kH = N * D; p.kT = D;
        p.vB = H * N * E; p.vH = N * E; p.vT = E;
        p.alpha = p.beta = 1.0 / std::sqrt((double) D);
        p.kappa = 1.0;
        return p;
    };
    auto launch = [&](const void* fn, dim3 grid, int threads, int smem, SweepParams p) {
        void* args[] = {&p};
        CK(cudaLaunchKernel(fn, grid, dim3(threads), args, (size_t) smem, 0));
    };

    // references: the generic fp32-FMA sweep (C = ET = 64)
    const int smemGeneric = (int) sharedBytes::fmaSweep(D, 64, 64);
    for (int fp32 = 0; fp32 < 2; fp32++) {
        const void* fn = fp32 ? (const void*) la2_sweep_f32 : (const void*) la2_sweep_bf16;
        CK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smemGeneric));
        launch(fn, dim3(BH, 1, 2), 256, smemGeneric, params(fp32, fp32 ? r32 : r16));
    }
    CK(cudaDeviceSynchronize());

    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::printf("%-34s %9s %9s %9s %8s %10s\n", "variant", "ms(med)", "min", "max", "ms/Mtok", "rel.err");
    for (const Variant& v : vs) {
        if (!filter.empty() && std::string(v.name).find(filter) == std::string::npos) continue;
        CK(cudaFuncSetAttribute(v.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, v.smem));
        void* o = v.fp32 ? o32 : o16;
        CK(cudaMemset(o, 0xff, elems * (v.fp32 ? 4 : 2)));  // poison: NaN in both types
        SweepParams p = params(v.fp32, o);
        dim3 grid(BH, 1, v.tiles);
        launch(v.fn, grid, v.threads, v.smem, p);
        CK(cudaDeviceSynchronize());
        double err = NAN;
        if (v.real) {
            CK(cudaMemset(acc, 0, 16));
            lab_err<<<1024, 256>>>(o, v.fp32 ? r32 : r16, elems, v.fp32, acc);
            double h[2];
            CK(cudaMemcpy(h, acc, 16, cudaMemcpyDeviceToHost));
            err = std::sqrt(h[0] / h[1]);
        }
        std::vector<float> ms;
        float total = 0;
        for (int r = 0; r < 25 && (r < 5 || total < 1500); r++) {
            CK(cudaEventRecord(e0));
            launch(v.fn, grid, v.threads, v.smem, p);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float t;
            CK(cudaEventElapsedTime(&t, e0, e1));
            ms.push_back(t);
            total += t;
        }
        std::sort(ms.begin(), ms.end());
        const double med = ms[ms.size() / 2];
        std::printf("%-34s %9.3f %9.3f %9.3f %8.4f %10.2e\n", v.name, med, ms.front(), ms.back(),
                    med / (BH * N / 1e6), err);
    }
    CK(cudaDeviceSynchronize());
    return 0;
}
