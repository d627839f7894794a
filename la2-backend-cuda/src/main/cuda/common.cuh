// Lightning Attention-2 kernels for la2-backend-cuda (SPEC.md sections 1-3): shared vocabulary
// and element helpers. la2_kernels.cu includes the headers of this directory and defines the
// entry points; gpu/kernel-lab.cu includes them too.
//
// Words used throughout:
// - chunk: SPEC.md's block of C tokens, the unit a kernel walks a sequence in ("block" is kept
//   for CUDA thread blocks). The Java side of the module says chunk too.
// - sweep: one kernel's walk along a sequence, chunk by chunk, carrying the state. One sweep
//   function computes every sequence pass of the forward and the backward:
//
//     state  R <- lambda^Cc R + kappa * sum_b lambda^(Cc-1-b) k_b^T v_b          (per chunk)
//     out    o_a = alpha * sum_{b<=a} lambda^(a-b) (q_a . k_b) v_b + beta * lambda^(a+o) q_a R_prev
//
//   where o = 1, except for the chunk at the start of the sequence, where o = ofs0 (1 for a state
//   "before token 0", 0 for a state "at token 0" such as dS_final in the reversed backward
//   sweeps). The backward passes bind other tensors to the sweep's operands q, k, v (the Java
//   side's PassArgs factories):
//     dq = sweep(q'=dO, k'=v, v'=k, state S^T), dv = reversed sweep(q'=k, k'=q, v'=dO, state G),
//     dk = reversed sweep(q'=v, k'=dO, v'=q, state G^T).
// - segment: a run of whole chunks of one sequence. Parallelism over the sequence is two-level:
//   each sequence is cut into segments of L tokens; mode 0 computes each segment's local state
//   from zero, la2_scan chains them, and mode 1 walks each segment from its incoming state,
//   writing outputs. Every kernel reads its tensors through (batch, head, token) strides, so both
//   layouts and reversed time need no copies.
// - value tile: the ET columns of the value-like operand (and of the state) one block owns.
//
// Kernel parameters are structs passed by value (params.cuh), packed by the Java side.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

typedef long long i64;
typedef unsigned int u32;

// A point on a kernel's timeline, which gpu/hopper-lab.cu's trace section records per block; nothing
// in the library's build. Thread 0's: LA2_MARK_ENTRY, _WAIT as it starts waiting for a chunk's data,
// _CHUNK as the data is ready (the TF32 sweep's passes with outputs, which wait for a chunk's data
// before the last chunk's stores: as the chunk starts), _DONE as its products are, _STORED as its
// outputs are stored (the TF32 sweep), _EXIT; thread 128's (a second warpgroup with a role of its own): _STATE_LOADED with
// the incoming state in registers, _STATE_CHUNK and _STATE_DONE, _STATE_COPY as it has handed on a
// state copy; thread 256's (the TF32 sweep's converting warpgroup): _CONVERT_FREE as a ring stage is
// free for its next chunk, _CONVERT_LANDED as that chunk's first fp32 tile has landed, _CONVERT_DONE
// as the converted stage is handed on. Not between a warpgroup product's issue and its wait where
// ptxas can avoid it: a mark there can make ptxas serialize the products (warning C7519; the TF32
// sweep's marks in passes with outputs, where the next chunk's scores are always in flight, do not,
// as -Xptxas -v on the lab's trace build shows).
#ifndef LA2_MARK
#define LA2_MARK(kind)
#endif
#define LA2_MARK_ENTRY 0
#define LA2_MARK_CHUNK 1
#define LA2_MARK_EXIT 2
#define LA2_MARK_DONE 3
#define LA2_MARK_WAIT 4
#define LA2_MARK_STORED 5
#define LA2_MARK_STATE_CHUNK 8
#define LA2_MARK_STATE_DONE 9
#define LA2_MARK_STATE_COPY 10
#define LA2_MARK_STATE_LOADED 11
#define LA2_MARK_CONVERT_FREE 12
#define LA2_MARK_CONVERT_LANDED 13
#define LA2_MARK_CONVERT_DONE 14

template <typename T> __device__ __forceinline__ float ldf(const T* p, i64 i);
template <> __device__ __forceinline__ float ldf<float>(const float* p, i64 i) { return p[i]; }
template <> __device__ __forceinline__ float ldf<__nv_bfloat16>(const __nv_bfloat16* p, i64 i) { return __bfloat162float(p[i]); }
template <> __device__ __forceinline__ float ldf<__half>(const __half* p, i64 i) { return __half2float(p[i]); }

template <typename T> __device__ __forceinline__ void stf(T* p, i64 i, float x);
template <> __device__ __forceinline__ void stf<float>(float* p, i64 i, float x) { p[i] = x; }
template <> __device__ __forceinline__ void stf<__nv_bfloat16>(__nv_bfloat16* p, i64 i, float x) { p[i] = __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ void stf<__half>(__half* p, i64 i, float x) { p[i] = __float2half_rn(x); }

template <typename T> __device__ __forceinline__ float toF(T x);
template <> __device__ __forceinline__ float toF<float>(float x) { return x; }
template <> __device__ __forceinline__ float toF<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float toF<__half>(__half x) { return __half2float(x); }

// lambda^m as exp(-s m): SPEC.md section 3 forbids repeated products.
__device__ __forceinline__ float lpow(float s, float m) { return expf(-s * m); }

// The block's sum of one double per thread, valid in thread 0; red holds one double per warp.
__device__ __forceinline__ double blockSum(double x, double* red) {
    for (int off = 16; off > 0; off >>= 1) x += __shfl_down_sync(0xffffffffu, x, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = x;
    __syncthreads();
    double total = 0;
    if (threadIdx.x == 0) {
        for (int i = 0; i < (int) (blockDim.x >> 5); i++) total += red[i];
    }
    return total;
}
