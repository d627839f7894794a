// Variants of the Hopper sweep (sweep_hopper.cuh, the flags of sweepHopperMode's V) that
// gpu/hopper-lab.cu checks against the wide sweep and times beside the backend's
// la2_sweep_hopper_bf16_d128 (the forward, bf16, Dk = Dv = 128). Each takes the tensor maps of q, k
// and v after its SweepParams (only the TMA variants read them).
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../la2-backend-cuda/src/main/cuda/sweep_hopper_entries.cuh"

template <int V>
__global__ void __launch_bounds__(256, 1) labHopper(const SweepParams p, const __grid_constant__ HopperMaps maps) {
    sweepHopper<__nv_bfloat16, true, V>(p, &maps);
}

// The backward's TMA entry points with split flags (sweep_hopper.cuh, SPLIT_*), EARLY_W and AHEAD,
// in forward time and reversed (FLIP): the decay gradient's passes with some of their
// intermediates split and w loaded early, and the passes with the next chunk's scores issued
// early, to time each part.
template <int V>
__global__ void __launch_bounds__(256, 1) labHopperBwd(const SweepParams p, const __grid_constant__ HopperMaps maps) {
    sweepHopper<__nv_bfloat16, false, hopper::TMA | hopper::STAGED_OUT | V>(p, &maps);
}

// A sweep entry point and its launch shape; `maps`: it takes HopperMaps after its SweepParams.
struct LabKernel {
    const char* name;
    const void* fn;
    int threads, smem;
    bool maps;
};

static std::vector<LabKernel> hopperVariants() {
    using namespace hopper;
    return {
        {"hopper V=0 (lab build)", (const void*) labHopper<0>, 256, SMEM, true},
        {"hopper staged output", (const void*) labHopper<STAGED_OUT>, 256, SMEM, true},
        {"hopper TMA", (const void*) labHopper<TMA>, 256, SMEM, true},
        {"hopper TMA + staged output", (const void*) labHopper<TMA | STAGED_OUT>, 256, SMEM, true},
        {"hopper TMA + staged output + ahead", (const void*) labHopper<TMA | STAGED_OUT | AHEAD>, 256, SMEM, true},
        {"hopper TMA + staged output + roles", (const void*) labHopper<TMA | STAGED_OUT | ROLES>, 256, SMEM, true},
        {"hopper TMA + staged output + roles, scores first", (const void*) labHopper<TMA | STAGED_OUT | ROLES | AHEAD>, 256, SMEM, true},
    };
}

// Pairs: the forward-time entry point, then the reversed one.
static std::vector<std::pair<LabKernel, LabKernel>> splitVariants() {
    using namespace hopper;
#define LA2_LAB_SPLIT(name, V) \
    {{name, (const void*) labHopperBwd<V>, 256, SMEM, true}, {name " rev", (const void*) labHopperBwd<(V) | FLIP>, 256, SMEM, true}}
    return {
        LA2_LAB_SPLIT("split none", 0), LA2_LAB_SPLIT("split P", SPLIT_P), LA2_LAB_SPLIT("split S", SPLIT_S),
        LA2_LAB_SPLIT("split K", SPLIT_K), LA2_LAB_SPLIT("split P+K", SPLIT_P | SPLIT_K), LA2_LAB_SPLIT("split all", SPLIT),
        LA2_LAB_SPLIT("early w", EARLY_W), LA2_LAB_SPLIT("split all, early w", SPLIT | EARLY_W),
        LA2_LAB_SPLIT("ahead", AHEAD), LA2_LAB_SPLIT("ahead, early w", AHEAD | EARLY_W),
        {{"roles", (const void*) labHopperBwd<ROLES>, 256, SMEM, true}, {"roles rev (columns)", (const void*) labHopperBwd<FLIP>, 256, SMEM, true}},
    };
#undef LA2_LAB_SPLIT
}

// The tensor maps of q, k, v [B][H][N][128] (token stride 128 elements): boxes of 128 bytes of
// columns (64 16-bit ones, 32 fp32 ones) x 64 tokens, 128-byte swizzle, as TensorMaps.java encodes
// them. cuTensorMapEncodeTiled comes through the runtime (cudaGetDriverEntryPointByVersion), so the
// lab links no libcuda.
static HopperMaps tensorMaps(const void* q, const void* k, const void* v, long long B, long long H, long long N, CUtensorMapDataType type,
                             int elementBytes) {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
    if (!encode) {
        cudaDriverEntryPointQueryResult st;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", (void**) &encode, 12000, cudaEnableDefault, &st) != cudaSuccess
            || st != cudaDriverEntryPointSuccess || !encode) {
            std::fprintf(stderr, "hopper-lab: cuTensorMapEncodeTiled not available\n");
            std::exit(1);
        }
    }
    HopperMaps m{};
    const cuuint64_t e = (cuuint64_t) elementBytes;
    const cuuint64_t dims[4] = {128, (cuuint64_t) N, (cuuint64_t) H, (cuuint64_t) B};
    const cuuint64_t strides[3] = {128 * e, (cuuint64_t) N * 128 * e, (cuuint64_t) H * N * 128 * e};  // bytes, dimensions 1..3
    const cuuint32_t box[4] = {(cuuint32_t) (128 / elementBytes), 64, 1, 1}, unit[4] = {1, 1, 1, 1};
    const void* src[3] = {q, k, v};
    unsigned long long* dst[3] = {m.q, m.k, m.v};
    for (int x = 0; x < 3; x++) {
        CUtensorMap map;
        CUresult r = encode(&map, type, 4, const_cast<void*>(src[x]), dims, strides, box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
        if (r != CUDA_SUCCESS) {
            std::fprintf(stderr, "hopper-lab: cuTensorMapEncodeTiled failed (%d)\n", (int) r);
            std::exit(1);
        }
        static_assert(sizeof(CUtensorMap) == sizeof m.q, "tensor map size");
        std::memcpy(dst[x], &map, sizeof map);
    }
    return m;
}

// The maps of 16-bit q, k, v for the Hopper sweep's TMA entry points.
static HopperMaps hopperMaps(const void* q, const void* k, const void* v, long long B, long long H, long long N, bool f16) {
    return tensorMaps(q, k, v, B, H, N, f16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2);
}
