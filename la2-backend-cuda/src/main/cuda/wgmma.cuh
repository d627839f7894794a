// Warpgroup tensor-core atoms (sm_90a): shared-memory matrix descriptors, the 128-byte swizzled
// tile layout they describe, the wgmma fences, m64n64k16 (and m64n32k16) products for 16-bit
// operands with fp32 accumulators, and the synchronisation around them (transaction barriers, TMA
// loads, named barriers between warpgroups). The Hopper sweeps build on them.
//
// Layout rules relied on (PTX ISA, "Asynchronous Warpgroup Level Matrix Instructions"):
// - A warpgroup is 4 consecutive warps starting at a warp index divisible by 4. In an m64nN
//   accumulator, warp i of the warpgroup holds rows 16i + g and 16i + g + 8 (g = lane / 4); for
//   each 8-column block j, d[4j + 0, 1] are row 16i + g, columns 8j + 2(lane % 4) + 0, 1 and
//   d[4j + 2, 3] the same columns of row 16i + g + 8: mma.sync m16n8's C layout, block by block.
// - A from registers (m64 x k16): warp i holds rows 16i .. 16i + 15 in mma.sync m16n8k16's A
//   layout (a[0]: row g, k 2t, 2t+1; a[1]: row g + 8; a[2]: row g, k 8 + 2t, 9 + 2t; a[3]: row
//   g + 8, same k; t = lane % 4). So accumulator blocks 2kk and 2kk + 1 of a product, packed in
//   pairs, are the A operand of k-step kk of the next one.
// - Shared-memory operands here use the 128-byte swizzle on tiles of 16-bit elements whose rows are
//   64 elements (128 bytes) long: row r of a 1024-byte aligned atom of 8 rows starts at byte 128 r,
//   and its 16-byte piece c is stored at piece c ^ (r % 8). A matrix wider than 64 elements is
//   stored as 64-column halves one after the other (tileOffset).
// - K-major operand (rows = M or N, 64 contiguous k per half): SBO = 1024 (from one 8-row group to
//   the next), LBO unused; k-step kk of 16 starts 32 kk bytes into its half (the hardware applies
//   the swizzle to the final address, which is why a 1024-aligned atom is needed).
// - MN-major operand (transposed, imm-trans = 1; rows = k, 64 contiguous m or n): 8 k-rows per
//   atom, the next 8 at +1024 bytes; a k-step of 16 is 2048 bytes. With N = 64 the operand is one
//   atom wide, so only the k-group stride is read; both LBO and SBO are set to 1024 so the
//   descriptor is right whichever of the two fields the hardware takes it from.
//   An N = 32 operand (ss32) is half an atom wide: the second half of an atom's columns starts
//   64 bytes into its rows, and the swizzle applied to the final address finds them, as it finds
//   a K-major operand's k-steps 32 bytes apart.
#pragma once

#include "common.cuh"

typedef unsigned long long u64;

// Byte offset of element (row, col) in a tile of `rows` rows of 16-bit elements stored as 64-column
// halves with the 128-byte swizzle (the tile's base 1024-byte aligned).
__device__ __forceinline__ u32 tileOffset(int row, int col, int rows) {
    return (u32) ((col >> 6) * rows * 128 + row * 128 + ((((col >> 3) & 7) ^ (row & 7)) << 4) + (col & 7) * 2);
}

// Descriptor of an operand at shared address `addr` laid out as above (swizzle mode 1 = 128 bytes):
// the low word holds the start address / 16 (14 bits) and LBO, the high word SBO and the swizzle
// mode. The low word of an operand's base is computed once (smemDescLo) and each k-step's descriptor
// adds its offset to it (smemDescAt): two instructions a product instead of six. The start address
// field cannot carry, since every operand lies inside the block's shared memory (< 2^18 bytes).
constexpr u32 DESC_LBO = (1024 >> 4) << 16, DESC_HI = (1024 >> 4) | (1u << 30);
__device__ __forceinline__ u32 smemDescLo(u32 addr) { return ((addr & 0x3FFFF) >> 4) | DESC_LBO; }
// The descriptor of the operand `off` bytes (a multiple of 16) past the one whose low word is lo.
__device__ __forceinline__ u64 smemDescAt(u32 lo, u32 off) { return ((u64) DESC_HI << 32) | (lo + (off >> 4)); }
__device__ __forceinline__ u64 smemDesc(u32 addr) { return smemDescAt(smemDescLo(addr), 0); }

__device__ __forceinline__ void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmmaCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmmaWait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory"); }
// Shared memory written by ordinary stores (or cp.async) that the tensor cores read next.
__device__ __forceinline__ void fenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Four 8 x 8 matrices of 16-bit elements to shared memory (stmatrix): lane l gives the address of row
// l % 8 of matrix l / 8 (16 bytes, aligned), and r0 .. r3 are the lane's pairs of matrices 0 .. 3
// in an m16n8 accumulator's layout (row lane / 4, columns 2 (lane % 4), + 1).
__device__ __forceinline__ void stsm4(u32 addr, u32 r0, u32 r1, u32 r2, u32 r3) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n"
                 :: "r"(addr), "r"(r0), "r"(r1), "r"(r2), "r"(r3) : "memory");
}

// Keeps the compiler from moving accumulator reads or writes across an asynchronous product.
template <int N>
__device__ __forceinline__ void pinRegisters(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i]) :: "memory");
}

// The same for the 16-bit A fragments a product reads from registers.
template <int M, int N>
__device__ __forceinline__ void pinRegisters(u32 (&a)[M][N]) {
#pragma unroll
    for (int i = 0; i < M; i++)
#pragma unroll
        for (int j = 0; j < N; j++) asm volatile("" : "+r"(a[i][j]) :: "memory");
}

// Transaction barriers (mbarrier) and tensor-memory-accelerator loads: a chunk arrives in shared
// memory, in the swizzled layout above (the tensor map says CU_TENSOR_MAP_SWIZZLE_128B), and
// completes a barrier's transaction count instead of a block-wide wait.
__device__ __forceinline__ void mbarInit(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(bar), "r"(count) : "memory");
}
// One arrival that also expects `bytes` more of transactions in the current phase.
__device__ __forceinline__ void mbarExpectTx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" :: "r"(bar), "r"(bytes) : "memory");
}
// One arrival (no transactions) on the barrier's current phase.
__device__ __forceinline__ void mbarArrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" :: "r"(bar) : "memory");
}
// The calling warp's one arrival on a barrier that counts warps, once all its lanes are done (with
// a ring stage, say).
__device__ __forceinline__ void warpArrive(u32 bar, int lane) {
    __syncwarp();
    if (lane == 0) mbarArrive(bar);
}
// Until the phase of parity `phase` has completed. A phase that has not completed within
// MBAR_TIMEOUT_NS (a tensor map that does not describe its tensor: the transactions never arrive)
// traps, so the launch fails instead of hanging.
constexpr unsigned long long MBAR_TIMEOUT_NS = 10000000000ull;
__device__ __forceinline__ void mbarWait(u32 bar, u32 phase) {
    unsigned long long start = 0;
    for (;;) {
        u32 done;
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done) : "r"(bar), "r"(phase) : "memory");
        if (done) return;
        unsigned long long now;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
        if (start == 0) start = now;
        else if (now - start > MBAR_TIMEOUT_NS) __trap();
    }
}
// Named block barriers (id 1..15; 0 is __syncthreads) between warpgroups: producers arrive (and go
// on), consumers wait; `threads` counts both sides. Shared-memory writes before the arrival are
// visible to the waiting threads after it (to the tensor cores' reads, after fenceProxyAsync).
__device__ __forceinline__ void namedArrive(int id, int threads) {
    asm volatile("bar.arrive %0, %1;\n" :: "r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void namedSync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" :: "r"(id), "r"(threads) : "memory");
}
// namedSync that also returns whether x is true in any of the `threads`.
__device__ __forceinline__ bool namedOr(int id, int threads, bool x) {
    u32 r;
    asm volatile("{\n.reg .pred p, q;\nsetp.ne.u32 q, %1, 0;\nbar.red.or.pred p, %2, %3, q;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(r) : "r"((u32) x), "r"(id), "r"(threads) : "memory");
    return r != 0;
}
// The box at coordinates (c0, c1, c2, c3) of the tensor map at `map` (a kernel parameter) into
// shared memory at `dst`, completing `bytes` of barrier `bar`'s transactions.
__device__ __forceinline__ void tmaLoad4(u32 dst, const void* map, int c0, int c1, int c2, int c3, u32 bar) {
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n"
                 :: "r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar) : "memory");
}

template <typename T> struct WgmmaOp;

// The products of one 16-bit operand type, TYPE as CUDA names it, PTX as wgmma does
#define LA2_WGMMA_OPS(TYPE, PTX) \
template <> struct WgmmaOp<TYPE> { \
    /* D[64 x 32] (+)= A[64 x 16] B[16 x 32], both from shared memory; D = A B when !accumulate */ \
    template <int TRANS_B, int TRANS_A = 0> \
    static __device__ __forceinline__ void ss32(float (&d)[16], u64 a, u64 b, int accumulate) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n32k16.f32." PTX "." PTX " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, %20, %19;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]) \
                     : "l"(a), "l"(b), "r"(accumulate), "n"(TRANS_B), "n"(TRANS_A)); \
    } \
    /* D[64 x 64] (+)= A[64 x 16] B[16 x 64], both from shared memory; D = A B when !accumulate; */ \
    /* TRANS_A: A is MN-major (rows = k), as B is with TRANS_B */ \
    template <int TRANS_B, int TRANS_A = 0> \
    static __device__ __forceinline__ void ss(float (&d)[32], u64 a, u64 b, int accumulate) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX "." PTX " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, %36, %35;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]) \
                     : "l"(a), "l"(b), "r"(accumulate), "n"(TRANS_B), "n"(TRANS_A)); \
    } \
    /* D[64 x 64] += A[64 x 16] B[16 x 64], A from registers, B from shared memory */ \
    template <int TRANS_B> \
    static __device__ __forceinline__ void rs(float (&d)[32], const u32 (&a)[4], u64 b) { \
        asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX "." PTX " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, 1, 1, 1, %37;\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]) \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "n"(TRANS_B)); \
    } \
};

LA2_WGMMA_OPS(__nv_bfloat16, "bf16")
LA2_WGMMA_OPS(__half, "f16")
#undef LA2_WGMMA_OPS

// D[64 x 64] += A[64 x 64] B[64 x 64] on 16-bit operands: A as four register fragments along k
// (a[kk]: k = 16 kk ..), B a 64-column half tile in shared memory at b (64 rows of 128 bytes, 128-byte
// swizzle, as a TMA box of 64 16-bit columns lands), MN-major; four products, k in order
template <typename T>
__device__ __forceinline__ void wgmmaRsTile(float (&d)[32], const u32 (&a)[4][4], u32 b) {
    const u32 lb = smemDescLo(b);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) WgmmaOp<T>::template rs<1>(d, a[kk], smemDescAt(lb, kk * 2048));
}

// The same into both 64-column halves of D[64 x 128] (d[hf]), B's halves `half` bytes apart: eight
// products, the two halves in turn at each k, so that consecutive products write different accumulators
template <typename T>
__device__ __forceinline__ void wgmmaRsTiles(float (&d)[2][32], const u32 (&a)[4][4], u32 b, u32 half) {
    const u32 lb = smemDescLo(b);
#pragma unroll
    for (int j = 0; j < 4; j++) {
        WgmmaOp<T>::template rs<1>(d[0], a[j], smemDescAt(lb, j * 2048));
        WgmmaOp<T>::template rs<1>(d[1], a[j], smemDescAt(lb, half + j * 2048));
    }
}

// D[64 x 64] (+)= A B over k = 128 with both operands K-major in shared memory, their 128 k-columns
// stored as two 64-column halves (tileOffset): A's `aHalf` bytes apart (a chunk tile's C * 128), B's
// `bHalf` (the same for a chunk tile; D * 128 for a state copy, whose rows n are then read as the
// columns of its transpose). For two chunk tiles X, Y this is X Y^T (the scores Q K^T). Eight k-steps
// of 16, 32 bytes apart within a half; the first overwrites D.
template <typename T>
__device__ __forceinline__ void wgmmaSsKMajor(float (&d)[32], u32 a, u32 aHalf, u32 b, u32 bHalf) {
    const u32 la = smemDescLo(a), lb = smemDescLo(b);
#pragma unroll
    for (int kk = 0; kk < 8; kk++)
        WgmmaOp<T>::template ss<0>(d, smemDescAt(la, (kk >> 2) * aHalf + (kk & 3) * 32), smemDescAt(lb, (kk >> 2) * bHalf + (kk & 3) * 32),
                                   kk > 0);
}

// The same with B MN-major: a 64-column half of a state copy at b, read as its rows k (16 rows,
// 2048 bytes, a k-step), as in the product q S.
template <typename T>
__device__ __forceinline__ void wgmmaSsNMajor(float (&d)[32], u32 a, u32 aHalf, u32 b) {
    const u32 la = smemDescLo(a), lb = smemDescLo(b);
#pragma unroll
    for (int kk = 0; kk < 8; kk++)
        WgmmaOp<T>::template ss<1>(d, smemDescAt(la, (kk >> 2) * aHalf + (kk & 3) * 32), smemDescAt(lb, kk * 2048), kk > 0);
}
