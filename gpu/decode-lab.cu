// Decode lab: times the decode step (decode.cuh, la2_decode_bf16) against the kernel it replaced
// (its copy below, lab_decode_old_bf16) without the JVM, and checks the two against each other.
// S sequences x H = 32 heads, D = E = 128, fp32 state, bf16 q, k, v, o. Each timed step works on
// one of several state pools in turn, together larger than L2, so every step reads its state from
// memory. Per case: the median of single steps (CUDA events around each), the mean of steps queued
// back to back, the copy floor (state bytes read + written at 4.2 TB/s), and the largest
// differences between the old and new results (state: 0 expected, the arithmetic being the same
// per element; o: the sum over rows runs in another fixed order). Further cases check shapes the
// float4 path does not take or takes in part, and decode by slot (la2_decode_bf16_slots).
//
// Build here:  nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o .gpu/decode-lab gpu/decode-lab.cu
// Run there:   .gpu/decode-lab [reps]
#include "../la2-backend-cuda/src/main/cuda/la2_kernels.cu"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lab-check.cuh"

// ---- the replaced kernel: grid (BH, ceil(E/128)), 128 x RG threads, scalar loads --------------
template <typename T>
__device__ void oldDecode(const DecodeParams& p) {
    constexpr int W = 128, AHEAD = 8;
    extern __shared__ float sm[];
    float* qs = sm;
    float* ks = sm + p.D;
    float* part = ks + p.D;  // [RG][W]
    const int tx = threadIdx.x % W, ty = threadIdx.x / W, RG = blockDim.x / W;
    const i64 seq = blockIdx.x, E = p.E;
    const float lam = expf(-p.decay[seq % p.H]);
    for (i64 d = threadIdx.x; d < p.D; d += blockDim.x) {
        qs[d] = ldf<T>((const T*) p.q, seq * p.D + d);
        ks[d] = ldf<T>((const T*) p.k, seq * p.D + d);
    }
    __syncthreads();
    const i64 e = (i64) blockIdx.y * W + tx;
    float acc = 0.f;
    if (e < E) {
        const float ve = ldf<T>((const T*) p.v, seq * E + e);
        float* col = p.state + seq * p.D * E + e;
        i64 d = ty;
        for (; d + (AHEAD - 1) * RG < p.D; d += AHEAD * RG) {
            float x[AHEAD];
#pragma unroll
            for (int r = 0; r < AHEAD; r++) x[r] = col[(d + r * RG) * E];
#pragma unroll
            for (int r = 0; r < AHEAD; r++) {
                const i64 dr = d + r * RG;
                x[r] = fmaf(lam, x[r], ks[dr] * ve);
                col[dr * E] = x[r];
                acc = fmaf(qs[dr], x[r], acc);
            }
        }
        for (; d < p.D; d += RG) {
            const float x = fmaf(lam, col[d * E], ks[d] * ve);
            col[d * E] = x;
            acc = fmaf(qs[d], x, acc);
        }
    }
    part[ty * W + tx] = acc;
    __syncthreads();
    if (ty == 0 && e < E) {
        float sum = 0.f;
        for (int y = 0; y < RG; y++) sum += part[y * W + tx];
        stf<T>((T*) p.o, seq * E + e, (float) p.scale * sum);
    }
}
extern "C" __global__ void __launch_bounds__(1024) lab_decode_old_bf16(const DecodeParams p) { oldDecode<__nv_bfloat16>(p); }
// variants of the new kernel's configuration (decode.cuh, DecodeConfig), timed beside it
#define LAB_DECODE(name, MINB, ...) \
    extern "C" __global__ void __launch_bounds__(__VA_ARGS__::THREADS, MINB) name(const DecodeParams p) { \
        decodeImpl<__nv_bfloat16, __VA_ARGS__>(p); \
    }
using PlainCfg = DecodeConfig<256, 32, 4, false>;  // no cache hints
using Threads128Cfg = DecodeConfig<128, 32, 8, true>;  // 8 float4 rows in flight per thread
using Slice16Cfg = DecodeConfig<256, 16, 4, true>;  // twice the blocks for few sequences
LAB_DECODE(lab_decode_plain_bf16, DECODE_MIN_BLOCKS, PlainCfg)
LAB_DECODE(lab_decode_t128_bf16, 8, Threads128Cfg)
LAB_DECODE(lab_decode_s16_bf16, DECODE_MIN_BLOCKS, Slice16Cfg)

// max |a - b| over n values (fp32 or bf16) into *out as float bits; NaN counts as infinity
extern "C" __global__ void lab_maxdiff(const void* a, const void* b, long long n, bool bf16, unsigned* out) {
    float m = 0.f;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        const float x = bf16 ? __bfloat162float(((const __nv_bfloat16*) a)[i]) : ((const float*) a)[i];
        const float y = bf16 ? __bfloat162float(((const __nv_bfloat16*) b)[i]) : ((const float*) b)[i];
        const float d = fabsf(x - y);
        m = fmaxf(m, d == d ? d : INFINITY);
    }
    for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, off));
    if ((threadIdx.x & 31) == 0) atomicMax(out, __float_as_uint(m));
}

struct Launch {
    const void* fn;
    dim3 grid;
    int threads, smem;
};

static Launch oldLaunch(long long bh, long long d, long long e) {
    const int rg = (int) std::max(1LL, std::min(8LL, d / 8));
    return {(const void*) lab_decode_old_bf16, dim3((unsigned) bh, (unsigned) ((e + 127) / 128)), 128 * rg, (int) (8 * d + 512 * rg)};
}

// as CudaBackend.launchDecode (DecodeGrid) for configuration C
template <class C = DecodeEntry>
static Launch newLaunch(const void* fn, long long bh, long long d, long long e) {
    return {fn, dim3((unsigned) (bh * ((e + C::SLICE - 1) / C::SLICE))), C::THREADS, (int) (8 * d + 4 * C::WARPS * C::SLICE)};
}

static void run(const Launch& l, DecodeParams p, const SlotParams* sp = nullptr) {
    SlotParams s = sp ? *sp : SlotParams{};
    void* args[] = {&p, &s};
    CK(cudaLaunchKernel(l.fn, l.grid, dim3(l.threads), args, (size_t) l.smem, 0));
}

static float maxDiff(const void* a, const void* b, long long n, bool bf16) {
    static unsigned* acc = nullptr;
    if (!acc) CK(cudaMalloc(&acc, 4));
    CK(cudaMemset(acc, 0, 4));
    lab_maxdiff<<<1024, 256>>>(a, b, n, bf16, acc);
    unsigned h;
    CK(cudaMemcpy(&h, acc, 4, cudaMemcpyDeviceToHost));
    float f;
    std::memcpy(&f, &h, 4);
    return f;
}

static void fillRandom(void* out, long long n, long long seed, double stddev, bool bf16) {
    RandomParams rp{out, n, seed, stddev};
    if (bf16) {
        la2_random_bf16<<<1024, 256>>>(rp);
    } else {
        la2_random_f32<<<1024, 256>>>(rp);
    }
    CK(cudaGetLastError());
}

// One decode problem: inputs, a first state, and the old and new results side by side.
struct Case {
    long long s, h, d, e;
    void *q, *k, *v, *oOld, *oNew;
    float *decay, *state0, *sOld, *sNew;

    long long bh() const { return s * h; }
    long long stateElems() const { return bh() * d * e; }

    Case(long long s_, long long h_, long long d_, long long e_) : s(s_), h(h_), d(d_), e(e_) {
        CK(cudaMalloc(&q, bh() * d * 2)); CK(cudaMalloc(&k, bh() * d * 2)); CK(cudaMalloc(&v, bh() * e * 2));
        CK(cudaMalloc(&oOld, bh() * e * 2)); CK(cudaMalloc(&oNew, bh() * e * 2));
        CK(cudaMalloc(&decay, h * 4));
        CK(cudaMalloc(&state0, stateElems() * 4)); CK(cudaMalloc(&sOld, stateElems() * 4)); CK(cudaMalloc(&sNew, stateElems() * 4));
        fillRandom(q, bh() * d, 11, 1 / std::sqrt((double) d), true);
        fillRandom(k, bh() * d, 12, 1 / std::sqrt((double) d), true);
        fillRandom(v, bh() * e, 13, 1.0, true);
        fillRandom(state0, stateElems(), 14, 1.0, false);
        std::vector<float> hd(h);
        for (long long i = 0; i < h; i++) hd[i] = (float) std::pow(2.0, -8.0 * (i + 1) / h);  // SPEC.md section 4 slopes
        CK(cudaMemcpy(decay, hd.data(), h * 4, cudaMemcpyHostToDevice));
    }
    ~Case() {
        for (void* b : {q, k, v, oOld, oNew, (void*) decay, (void*) state0, (void*) sOld, (void*) sNew}) cudaFree(b);
    }

    DecodeParams params(float* state, void* o) const {
        return DecodeParams{q, k, v, decay, state, o, h, d, e, 1.0};
    }

    // one step of each kernel from state0: max |state diff|, max |o diff|
    std::pair<float, float> compare(const Launch& oldL, const Launch& newL) {
        CK(cudaMemcpy(sOld, state0, stateElems() * 4, cudaMemcpyDeviceToDevice));
        CK(cudaMemcpy(sNew, state0, stateElems() * 4, cudaMemcpyDeviceToDevice));
        CK(cudaMemset(oOld, 0xff, bh() * e * 2));  // NaN poison
        CK(cudaMemset(oNew, 0xff, bh() * e * 2));
        run(oldL, params(sOld, oOld));
        run(newL, params(sNew, oNew));
        CK(cudaDeviceSynchronize());
        return {maxDiff(sOld, sNew, stateElems(), false), maxDiff(oOld, oNew, bh() * e, true)};
    }
};

// median of single steps and mean of back-to-back steps, in microseconds, rotating over pools
static std::pair<double, double> timeSteps(const Launch& l, const Case& c, float* pools, int npools, int reps) {
    const long long poolElems = c.stateElems();
    auto step = [&](int r) { run(l, c.params(pools + (long long) (r % npools) * poolElems, c.oNew)); };
    for (int r = 0; r < 10; r++) step(r);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<float> ms;
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(e0));
        step(r);
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float t;
        CK(cudaEventElapsedTime(&t, e0, e1));
        ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    CK(cudaEventRecord(e0));
    for (int r = 0; r < reps; r++) step(r);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float total;
    CK(cudaEventElapsedTime(&total, e0, e1));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return {1e3 * ms[ms.size() / 2], 1e3 * total / reps};
}

// Decode by slot: the slots kernel on a permuted pool with one padding sequence against the dense
// kernel on the gathered states; untouched slots keep their values. Returns the largest difference.
static float checkSlots(long long s, long long h, long long d, long long e) {
    Case c(s, h, d, e);
    const long long stateSize = h * d * e, poolSlots = s + 3;
    std::vector<long long> slots(s);
    for (long long i = 0; i < s; i++) slots[i] = (i * 7 + 2) % poolSlots;  // distinct: gcd(7, s + 3) = 1 for the s used
    slots[s / 2] = -1;
    float *pool, *poolBefore;
    long long *dSlots, *dOrder;
    CK(cudaMalloc(&pool, poolSlots * stateSize * 4));
    CK(cudaMalloc(&poolBefore, poolSlots * stateSize * 4));
    CK(cudaMalloc(&dSlots, s * 8));
    CK(cudaMemcpy(dSlots, slots.data(), s * 8, cudaMemcpyHostToDevice));
    // the sequences by slot, as the backend lists them (Serving.bySlot)
    std::vector<long long> order(s);
    for (long long i = 0; i < s; i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](long long a, long long b) { return slots[a] < slots[b]; });
    CK(cudaMalloc(&dOrder, s * 8));
    CK(cudaMemcpy(dOrder, order.data(), s * 8, cudaMemcpyHostToDevice));
    fillRandom(pool, poolSlots * stateSize, 15, 1.0, false);
    CK(cudaMemcpy(poolBefore, pool, poolSlots * stateSize * 4, cudaMemcpyDeviceToDevice));
    // dense reference: state0 = the gathered slots (zero for padding)
    CK(cudaMemset(c.state0, 0, c.stateElems() * 4));
    for (long long i = 0; i < s; i++) {
        if (slots[i] >= 0) {
            CK(cudaMemcpy(c.state0 + i * stateSize, poolBefore + slots[i] * stateSize, stateSize * 4, cudaMemcpyDeviceToDevice));
        }
    }
    CK(cudaMemcpy(c.sNew, c.state0, c.stateElems() * 4, cudaMemcpyDeviceToDevice));
    run(newLaunch((const void*) la2_decode_bf16, c.bh(), d, e), c.params(c.sNew, c.oNew));
    CK(cudaMemset(c.oOld, 0xff, c.bh() * e * 2));
    SlotParams sp{dSlots, dOrder};
    run(newLaunch((const void*) la2_decode_bf16_slots, c.bh(), d, e), c.params(pool, c.oOld), &sp);
    CK(cudaDeviceSynchronize());
    // the expected pool: the dense results scattered back; the dense output with a zero padding row
    for (long long i = 0; i < s; i++) {
        if (slots[i] >= 0) {
            CK(cudaMemcpy(poolBefore + slots[i] * stateSize, c.sNew + i * stateSize, stateSize * 4, cudaMemcpyDeviceToDevice));
        } else {
            CK(cudaMemset((char*) c.oNew + i * h * e * 2, 0, h * e * 2));
        }
    }
    const float m = std::max(maxDiff(pool, poolBefore, poolSlots * stateSize, false), maxDiff(c.oOld, c.oNew, c.bh() * e, true));
    cudaFree(pool);
    cudaFree(poolBefore);
    cudaFree(dSlots);
    cudaFree(dOrder);
    return m;
}

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::max(50, std::atoi(argv[1])) : 100;
    const long long H = 32, D = 128, E = 128;
    int sms = 0;
    CK(cudaSetDevice(0));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    std::printf("decode-lab: H=%lld D=%lld E=%lld, fp32 state, bf16 q/k/v/o, %d SMs, %d reps\n", H, D, E, sms, reps);
    struct Timed {
        const char* name;
        Launch (*launch)(const void*, long long, long long, long long);
        const void* fn;
    };
    const Timed timed[] = {
        {"new (shipped)", newLaunch<DecodeEntry>, (const void*) la2_decode_bf16},
        {"new, no cache hints", newLaunch<PlainCfg>, (const void*) lab_decode_plain_bf16},
        {"128 threads, 8 rows ahead", newLaunch<Threads128Cfg>, (const void*) lab_decode_t128_bf16},
        {"16-column slices", newLaunch<Slice16Cfg>, (const void*) lab_decode_s16_bf16},
    };
    std::printf("%5s %-26s %10s %10s %9s %12s %12s\n", "S", "kernel", "med us", "b2b us", "floor us", "state diff", "o diff");
    std::vector<std::string> summary;
    for (long long s : {1LL, 16LL, 64LL, 256LL}) {
        Case c(s, H, D, E);
        const double bytes = 2.0 * c.stateElems() * 4, floorUs = bytes / 4.2e12 * 1e6;
        const int npools = (int) std::max(2.0, std::ceil(1024.0 * 1024 * 1024 / (bytes / 2)));
        float* pools;
        CK(cudaMalloc(&pools, (size_t) npools * c.stateElems() * 4));
        fillRandom(pools, (long long) npools * c.stateElems(), 16, 1.0, false);
        const Launch oldL = oldLaunch(c.bh(), D, E);
        const auto tOld = timeSteps(oldL, c, pools, npools, reps);
        std::printf("%5lld %-26s %10.2f %10.2f %9.2f\n", s, "old", tOld.first, tOld.second, floorUs);
        for (const Timed& t : timed) {
            const Launch l = t.launch(t.fn, c.bh(), D, E);
            const auto diff = c.compare(oldL, l);
            const auto time = timeSteps(l, c, pools, npools, reps);
            std::printf("%5lld %-26s %10.2f %10.2f %9.2f %12.3g %12.3g\n", s, t.name, time.first, time.second, floorUs,
                        diff.first, diff.second);
            if (&t == timed) {
                char line[160];
                std::snprintf(line, sizeof line, "%5lld %10.2f %10.2f %9.2f %12.3g %12.3g", s, tOld.first, time.first, floorUs,
                              diff.first, diff.second);
                summary.push_back(line);
            }
        }
        CK(cudaFree(pools));
    }
    std::printf("\n%5s %10s %10s %9s %12s %12s   (medians of single steps, us)\n", "S", "old", "new", "floor", "state diff",
                "o diff");
    for (const std::string& line : summary) std::printf("%s\n", line.c_str());
    // shapes off the float4 path (E % 4 != 0), with a partial slice (E % 32 != 0), more rows than
    // one batch of loads (D > 128), odd D: checked only
    std::printf("\n%-22s %12s %12s\n", "check S x H x D x E", "state diff", "o diff");
    const long long shapes[][4] = {{3, 4, 100, 130}, {5, 3, 96, 100}, {2, 4, 130, 128}, {4, 2, 257, 36}, {2, 2, 7, 3}};
    for (const auto& sh : shapes) {
        Case c(sh[0], sh[1], sh[2], sh[3]);
        const auto diff = c.compare(oldLaunch(c.bh(), c.d, c.e), newLaunch((const void*) la2_decode_bf16, c.bh(), c.d, c.e));
        std::printf("%4lld x %lld x %lld x %-6lld %12.3g %12.3g\n", sh[0], sh[1], sh[2], sh[3], diff.first, diff.second);
    }
    std::printf("decode by slot S=16 vs dense (max diff, 0 expected): %g\n", checkSlots(16, H, D, E));
    CK(cudaDeviceSynchronize());
    return 0;
}
