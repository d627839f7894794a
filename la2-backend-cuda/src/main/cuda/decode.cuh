// One decode step (la2_decode_*): one new token per sequence, on a state kept in device memory.
#pragma once

#include "common.cuh"
#include "params.cuh"

// One decode step per sequence: S <- lambda S + k^T v (in place), o = c q S.
// grid (BH, ceil(E/128)), 128 x RG threads (RG = blockDim.x / 128 row groups): thread (x, y) owns
// value column e = 128 blockIdx.y + x and rows y, y + RG, ..., loading eight of them before
// using any, and the RG partial sums of o meet in shared memory in a fixed order. A step is bound
// by reading and writing the state once; the loads in flight per column keep it from waiting one
// memory round trip per row. q, k [BH][D], v, o [BH][E], state [BH][D][E]; shared memory
// sharedBytes::decode(D, RG).
template <typename T>
__device__ void decodeImpl(const DecodeParams& p) {
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
