// Utility kernels: benchmark inputs drawn on the device (la2_random_*) and storage conversions
// (la2_widen_*, la2_narrow_*).
#pragma once

#include "common.cuh"
#include "params.cuh"

// Benchmark inputs drawn on the device (a hash of the index, uniform with the given standard
// deviation), so timing never runs on zeros and never waits for gigabytes of host-side randoms.
__device__ __forceinline__ float hashUniform(unsigned long long i, unsigned long long seed) {
    unsigned long long x = i * 0x9E3779B97F4A7C15ull + seed;
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27; x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return ((float) (x >> 40) + 0.5f) * (1.0f / 16777216.0f) * 2.f - 1.f;
}

template <typename T>
__device__ void randomImpl(const RandomParams& p) {
    const float a = (float) p.stddev * 1.7320508f;  // uniform on [-a, a] has standard deviation a / sqrt(3)
    for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (i64) gridDim.x * blockDim.x) {
        stf<T>((T*) p.out, i, a * hashUniform((unsigned long long) i, (unsigned long long) p.seed));
    }
}

// Element-for-element storage conversion of n elements (fp32 <-> 16-bit, rounding to nearest
// even): the 16-bit backward's decay-gradient passes run on fp32 copies of their operands.
template <typename S, typename D>
__device__ void convertImpl(const ConvertParams& p) {
    for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (i64) gridDim.x * blockDim.x) {
        stf<D>((D*) p.dst, i, ldf<S>((const S*) p.src, i));
    }
}