// Pairs of 16-bit values in one 32-bit register (low half first), as the tensor-core fragments hold
// them: packing floats with rounding, unpacking, and the hi + lo split of the Hopper sweep's SPLIT
// products (sweep_hopper.cuh).
#pragma once

#include "common.cuh"

// Packs two floats into a 16-bit pair (low half first), rounding to nearest even.
template <typename T>
__device__ __forceinline__ u32 pack2(float x, float y) {
    T h[2];
    stf<T>(h, 0, x);
    stf<T>(h, 1, y);
    return *(const u32*) h;
}

// The 16-bit pair (low half first) as floats.
template <typename T>
__device__ __forceinline__ float2 unpack2(u32 x) {
    const T* h = (const T*) &x;
    return make_float2(toF<T>(h[0]), toF<T>(h[1]));
}

// SPLIT: x and y as hi + lo, each a 16-bit pair: lo is the remainder x - hi (exact in fp32)
// rounded to nearest, so hi + lo carries about 17 significant bits; for a non-finite x, lo = x,
// so that hi + lo is x's infinity or NaN. fp16: hi rounded to nearest.
template <typename T>
__device__ __forceinline__ void pack2Split(float x, float y, u32& hi, u32& lo) {
    hi = pack2<T>(x, y);
    const float2 h = unpack2<T>(hi);
    lo = pack2<T>(isfinite(x) ? x - h.x : x, isfinite(y) ? y - h.y : y);
}

// bf16: hi is x truncated to its upper 16 bits, one byte permutation for the pair.
template <>
__device__ __forceinline__ void pack2Split<__nv_bfloat16>(float x, float y, u32& hi, u32& lo) {
    const u32 xb = __float_as_uint(x), yb = __float_as_uint(y);
    hi = __byte_perm(xb, yb, 0x7632);
    const float hx = __uint_as_float(xb & 0xffff0000u), hy = __uint_as_float(yb & 0xffff0000u);
    lo = pack2<__nv_bfloat16>(isfinite(x) ? x - hx : x, isfinite(y) ? y - hy : y);
}
