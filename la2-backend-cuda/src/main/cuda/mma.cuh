// Tensor-core atoms on mma.sync, written out by hand: bf16/fp16 as m16n8k16 fed by ldmatrix, fp32
// as TF32 m16n8k8 fed by plain shared loads, and 3xTF32. WMMA's loads compile to generic-address
// loads plus register transposes (LD + MOVM, no LDSM); owning the fragment layout also keeps the
// decay mask, the lambda^(a+1) row factors, the state and the outputs in registers.
#pragma once

#include "common.cuh"

__device__ __forceinline__ u32 smemAddr(const void* p) { return (u32) __cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm4(u32 (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smemAddr(p)));
}
__device__ __forceinline__ void ldsm4tAt(u32 (&r)[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ldsm4t(u32 (&r)[4], const void* p) { ldsm4tAt(r, smemAddr(p)); }
__device__ __forceinline__ u32 tf32(float x) {
    u32 r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
}

// Operand fragments of one 16 x 16 (A) or 16(k) x 16(n) (B, two n8 blocks) tile, per type.
// Loaders take the tile's first element; "A" is row-major [m][k], "At" stored as [k][m],
// "Bnk" stored as [n][k], "Bkn" stored as [k][n].
template <typename T> struct Mma;

template <typename T> struct Mma16 {
    static constexpr int PADK = 8, PADV = 8, PADA = 8, PADS = 8;
    struct A { u32 r[4]; };
    struct B { u32 r[4]; };
    static __device__ __forceinline__ void loadA(A& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4(f.r, p + (l & 15) * ld + (l >> 4) * 8);
    }
    static __device__ __forceinline__ void loadAt(A& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4t(f.r, p + ((l & 7) + (l >> 4) * 8) * ld + ((l >> 3) & 1) * 8);
    }
    static __device__ __forceinline__ void loadBnk(B& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4(f.r, p + ((l & 7) + (l >> 4) * 8) * ld + ((l >> 3) & 1) * 8);
    }
    // loadAt with column kk of the tile (a row of the stored [k][m] tile) times w[kk]: r[0], r[1]
    // hold columns 2t, 2t+1 and r[2], r[3] columns 2t+8, 2t+9; products in fp32, rounded once.
    static __device__ __forceinline__ void loadAtScaled(A& f, const T* p, int ld, const float* w) {
        loadAt(f, p, ld);
        const int q2 = (threadIdx.x & 3) * 2;
        const float2 lo = *(const float2*) (w + q2), hi = *(const float2*) (w + 8 + q2);
        f.r[0] = Mma<T>::scale2(f.r[0], lo.x, lo.y);
        f.r[1] = Mma<T>::scale2(f.r[1], lo.x, lo.y);
        f.r[2] = Mma<T>::scale2(f.r[2], hi.x, hi.y);
        f.r[3] = Mma<T>::scale2(f.r[3], hi.x, hi.y);
    }
    static __device__ __forceinline__ void loadBkn(B& f, const T* p, int ld) {
        const int l = threadIdx.x & 31;
        ldsm4t(f.r, p + ((l & 7) + ((l >> 3) & 1) * 8) * ld + (l >> 4) * 8);
    }
    // the two n8 halves of the B tile; Mma<T>::mma8 is the one m16n8k16 instruction of the type
    static __device__ __forceinline__ void mma(float (&c0)[4], float (&c1)[4], const A& a, const B& b) {
        Mma<T>::mma8(c0, a, b.r[0], b.r[1]);
        Mma<T>::mma8(c1, a, b.r[2], b.r[3]);
    }
};

template <> struct Mma<__nv_bfloat16> : Mma16<__nv_bfloat16> {
    static __device__ __forceinline__ void mma8(float (&c)[4], const A& a, u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ void store2(__nv_bfloat16* p, float x, float y) {
        *(__nv_bfloat162*) p = __floats2bfloat162_rn(x, y);
    }
    // a packed pair times (w0, w1), products in fp32 and rounded once
    static __device__ __forceinline__ u32 scale2(u32 x, float w0, float w1) {
        __nv_bfloat162 r = __floats2bfloat162_rn(__uint_as_float(x << 16) * w0, __uint_as_float(x & 0xffff0000u) * w1);
        return *(u32*) &r;
    }
};

template <> struct Mma<__half> : Mma16<__half> {
    static __device__ __forceinline__ void mma8(float (&c)[4], const A& a, u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ void store2(__half* p, float x, float y) {
        *(__half2*) p = __floats2half2_rn(x, y);
    }
    static __device__ __forceinline__ u32 scale2(u32 x, float w0, float w1) {
        const float2 f = __half22float2(*(__half2*) &x);
        __half2 r = __floats2half2_rn(f.x * w0, f.y * w1);
        return *(u32*) &r;
    }
};

// TF32: fragment element (row, col) of A is at (g, t), (g+8, t), (g, t+4), (g+8, t+4) for each
// k8 half; of B at (k = t, n = g), (t+4, g); g = lane/4, t = lane%4. Row pitches of 4 mod 32
// words (A-like reads) or 8 mod 32 (B-like reads) keep the scalar loads free of bank conflicts.
template <> struct Mma<float> {
    static constexpr int PADK = 4, PADV = 8, PADA = 4, PADS = 8;
    struct A { u32 r[8]; };
    struct B { u32 r[8]; };
    static __device__ __forceinline__ void loadA(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            f.r[4 * h + 0] = tf32(p[g * ld + 8 * h + t]);
            f.r[4 * h + 1] = tf32(p[(g + 8) * ld + 8 * h + t]);
            f.r[4 * h + 2] = tf32(p[g * ld + 8 * h + t + 4]);
            f.r[4 * h + 3] = tf32(p[(g + 8) * ld + 8 * h + t + 4]);
        }
    }
    static __device__ __forceinline__ void loadAt(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            f.r[4 * h + 0] = tf32(p[(8 * h + t) * ld + g]);
            f.r[4 * h + 1] = tf32(p[(8 * h + t) * ld + g + 8]);
            f.r[4 * h + 2] = tf32(p[(8 * h + t + 4) * ld + g]);
            f.r[4 * h + 3] = tf32(p[(8 * h + t + 4) * ld + g + 8]);
        }
    }
    static __device__ __forceinline__ void loadAtScaled(A& f, const float* p, int ld, const float* w) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const float w0 = w[8 * h + t], w4 = w[8 * h + t + 4];
            f.r[4 * h + 0] = tf32(w0 * p[(8 * h + t) * ld + g]);
            f.r[4 * h + 1] = tf32(w0 * p[(8 * h + t) * ld + g + 8]);
            f.r[4 * h + 2] = tf32(w4 * p[(8 * h + t + 4) * ld + g]);
            f.r[4 * h + 3] = tf32(w4 * p[(8 * h + t + 4) * ld + g + 8]);
        }
    }
    static __device__ __forceinline__ void loadBnk(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                f.r[4 * j + 2 * h + 0] = tf32(p[(8 * j + g) * ld + 8 * h + t]);
                f.r[4 * j + 2 * h + 1] = tf32(p[(8 * j + g) * ld + 8 * h + t + 4]);
            }
    }
    static __device__ __forceinline__ void loadBkn(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                f.r[4 * j + 2 * h + 0] = tf32(p[(8 * h + t) * ld + 8 * j + g]);
                f.r[4 * j + 2 * h + 1] = tf32(p[(8 * h + t + 4) * ld + 8 * j + g]);
            }
    }
    static __device__ __forceinline__ void mma8(float (&c)[4], const u32* a, u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ void mma(float (&c0)[4], float (&c1)[4], const A& a, const B& b) {
        mma8(c0, a.r, b.r[0], b.r[1]);
        mma8(c0, a.r + 4, b.r[2], b.r[3]);
        mma8(c1, a.r, b.r[4], b.r[5]);
        mma8(c1, a.r + 4, b.r[6], b.r[7]);
    }
    static __device__ __forceinline__ void store2(float* p, float x, float y) {
        *(float2*) p = make_float2(x, y);
    }
};

// fp32 at (nearly) fp32 accuracy on tensor cores ("3xTF32"): each operand x = hi + lo with
// hi = tf32(x), lo = tf32(x - hi), and a b ~ hi_a hi_b + hi_a lo_b + lo_a hi_b (the lo lo term is
// below fp32 rounding). Three TF32 products instead of fp32 FMAs: Precision.TF32X3, held to fp32's
// 1e-5 tolerance against the float64 reference.
struct MmaF32x3 {
    static constexpr int PADK = 4, PADV = 8, PADA = 4, PADS = 8;
    struct A { u32 hi[8], lo[8]; };
    struct B { u32 hi[8], lo[8]; };
    static __device__ __forceinline__ void split(float x, u32& hi, u32& lo) {
        hi = tf32(x);
        lo = tf32(x - __uint_as_float(hi));
    }
    static __device__ __forceinline__ void loadA(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            split(p[g * ld + 8 * h + t], f.hi[4 * h + 0], f.lo[4 * h + 0]);
            split(p[(g + 8) * ld + 8 * h + t], f.hi[4 * h + 1], f.lo[4 * h + 1]);
            split(p[g * ld + 8 * h + t + 4], f.hi[4 * h + 2], f.lo[4 * h + 2]);
            split(p[(g + 8) * ld + 8 * h + t + 4], f.hi[4 * h + 3], f.lo[4 * h + 3]);
        }
    }
    static __device__ __forceinline__ void loadAt(A& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            split(p[(8 * h + t) * ld + g], f.hi[4 * h + 0], f.lo[4 * h + 0]);
            split(p[(8 * h + t) * ld + g + 8], f.hi[4 * h + 1], f.lo[4 * h + 1]);
            split(p[(8 * h + t + 4) * ld + g], f.hi[4 * h + 2], f.lo[4 * h + 2]);
            split(p[(8 * h + t + 4) * ld + g + 8], f.hi[4 * h + 3], f.lo[4 * h + 3]);
        }
    }
    static __device__ __forceinline__ void loadAtScaled(A& f, const float* p, int ld, const float* w) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const float w0 = w[8 * h + t], w4 = w[8 * h + t + 4];
            split(w0 * p[(8 * h + t) * ld + g], f.hi[4 * h + 0], f.lo[4 * h + 0]);
            split(w0 * p[(8 * h + t) * ld + g + 8], f.hi[4 * h + 1], f.lo[4 * h + 1]);
            split(w4 * p[(8 * h + t + 4) * ld + g], f.hi[4 * h + 2], f.lo[4 * h + 2]);
            split(w4 * p[(8 * h + t + 4) * ld + g + 8], f.hi[4 * h + 3], f.lo[4 * h + 3]);
        }
    }
    static __device__ __forceinline__ void loadBnk(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                split(p[(8 * j + g) * ld + 8 * h + t], f.hi[4 * j + 2 * h], f.lo[4 * j + 2 * h]);
                split(p[(8 * j + g) * ld + 8 * h + t + 4], f.hi[4 * j + 2 * h + 1], f.lo[4 * j + 2 * h + 1]);
            }
    }
    static __device__ __forceinline__ void loadBkn(B& f, const float* p, int ld) {
        const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                split(p[(8 * h + t) * ld + 8 * j + g], f.hi[4 * j + 2 * h], f.lo[4 * j + 2 * h]);
                split(p[(8 * h + t + 4) * ld + 8 * j + g], f.hi[4 * j + 2 * h + 1], f.lo[4 * j + 2 * h + 1]);
            }
    }
    static __device__ __forceinline__ void mma(float (&c0)[4], float (&c1)[4], const A& a, const B& b) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            float (&c)[4] = j == 0 ? c0 : c1;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                // small terms first, so they are not lost against the large one
                Mma<float>::mma8(c, a.lo + 4 * h, b.hi[4 * j + 2 * h], b.hi[4 * j + 2 * h + 1]);
                Mma<float>::mma8(c, a.hi + 4 * h, b.lo[4 * j + 2 * h], b.lo[4 * j + 2 * h + 1]);
                Mma<float>::mma8(c, a.hi + 4 * h, b.hi[4 * j + 2 * h], b.hi[4 * j + 2 * h + 1]);
            }
        }
    }
    static __device__ __forceinline__ void store2(float* p, float x, float y) {
        *(float2*) p = make_float2(x, y);
    }
};