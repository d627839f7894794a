// Dynamic shared memory of each kernel, in bytes: the one formula that the Java side
// (SharedMemory.java, checked against the pinned values below by SharedMemoryTest), the kernels'
// own buffer layouts (static_asserts in sweep_mma.cuh, sweep_wide.cuh and sweep_hopper.cuh) and gpu/kernel-lab.cu use.
#pragma once

namespace sharedBytes {

// A tensor-core sweep with chunks of 64 tokens: qkBuffers chunks of q and of k (rows of dk + padK
// elements), vBuffers chunks of v (rows of valueTile + 8), the 64 x 64 score tile (rows of
// 64 + padA), stateCopies dk x valueTile state copies (rows of valueTile + 8), then in fp32 the
// lambda^m table (66) and the k row weights (64).
__host__ __device__ constexpr long long tensorCoreSweep(long long elementBytes, long long dk, long long valueTile, long long padK,
                                    long long padA, long long qkBuffers, long long vBuffers, long long stateCopies) {
    return elementBytes * (2 * qkBuffers * 64 * (dk + padK) + vBuffers * 64 * (valueTile + 8) + 64 * (64 + padA)
                           + stateCopies * dk * (valueTile + 8))
           + 4 * (66 + 64);
}

// The fp32-FMA sweep (sweep_generic.cuh): q and k chunks (rows of dk + 1), a v chunk, the score
// tile (rows of chunk + 1) and the dk x et state, all fp32.
__host__ __device__ constexpr long long fmaSweep(long long dk, long long et, long long chunk) {
    return 4 * (2 * chunk * (dk + 1) + chunk * et + chunk * (chunk + 1) + dk * et);
}

// The decay gradient's sweep (decay.cuh): S and T in double, then in fp32 the q and k chunks
// (rows of dk + 1), the v and dO chunks, the pair weights (rows of chunk + 1) and three
// per-token weight tables.
__host__ __device__ constexpr long long decaySweep(long long dk, long long et, long long chunk) {
    return 16 * dk * et + 4 * (2 * chunk * (dk + 1) + 2 * chunk * et + chunk * (chunk + 1) + 3 * chunk);
}

// The Hopper sweep (sweep_hopper.cuh): a ring of `stages` chunks of q, k and v (64 x 128 16-bit
// each), two 128 x 128 16-bit state copies, 1024 bytes for the lambda^m table (66 floats), the
// ring's transaction barriers and the masked decay factors (128 floats), the output staging
// (8 warps x 16 rows x 128 bytes) and 1024 bytes of slack that align the swizzled tiles.
__host__ __device__ constexpr long long hopperSweep(long long stages) {
    return stages * 3 * 64 * 128 * 2 + 2 * 128 * 128 * 2 + 1024 + 8 * 16 * 128 + 1024;
}

// The fused dk + dv pass (sweep_hopper_dkdv.cuh): a ring of `stages` chunks of k, q, dO and v
// (64 x 128 16-bit each), then the Hopper sweep's state copies, tables, barriers, staging and slack.
__host__ __device__ constexpr long long hopperDkDv(long long stages) {
    return stages * 4 * 64 * 128 * 2 + 2 * 128 * 128 * 2 + 1024 + 8 * 16 * 128 + 1024;
}

// The decay gradient's Hopper sweep (decay_hopper.cuh): a ring of `stages` chunks of q, k, v and
// dO (64 x 128 16-bit each), two 16-bit copies of S (128 x 128), the weighted q (64 x 128), dq's
// staging buffers (4 warps x 16 rows x 128 bytes), 640 bytes for the lambda^m and m lambda^m tables
// (66 floats each), 512 for the masked decay factors (128 floats), 64 for the ring's barriers, 128
// for the block's reduction and 1024 bytes of slack that align the swizzled tiles.
__host__ __device__ constexpr long long hopperDecay(long long stages) {
    return stages * 4 * 64 * 128 * 2 + 2 * 128 * 128 * 2 + 64 * 128 * 2 + 4 * 16 * 128 + 640 + 512 + 64 + 128 + 1024;
}

// The Hopper TF32 sweep (sweep_hopper_tf32.cuh): one chunk of fp32 q, k and v (64 x 128 each), a
// ring of `stages` chunks of their fp16 forms, one fp16 128 x 128 state copy, 1280 bytes of tables
// (the lambda^m table, the reduction, the fp32 tiles' and the ring stages' barriers, the masked
// decay factors and the rows' exponents, 192 bytes a stage) and 1024 bytes of slack that align the
// swizzled tiles.
__host__ __device__ constexpr long long hopperTf32(long long stages) {
    return 3 * 64 * 128 * 4 + stages * 3 * 64 * 128 * 2 + 128 * 128 * 2 + 896 + stages * 192 + 1024;
}

// A decode step (decode.cuh): q and k in fp32, then one fp32 partial sum per warp (8) and column
// of the block's 32-column slice.
__host__ __device__ constexpr long long decode(long long d) {
    return 8 * d + 4 * 8 * 32;
}

}  // namespace sharedBytes

static_assert(sharedBytes::tensorCoreSweep(2, 64, 128, 8, 8, 2, 2, 2) == 116232);   // wide, 16-bit
static_assert(sharedBytes::tensorCoreSweep(4, 64, 128, 4, 4, 1, 2, 1) == 157192);   // wide, TF32
static_assert(sharedBytes::tensorCoreSweep(2, 64, 64, 8, 8, 1, 1, 1) == 46600);     // sweepMma, 16-bit
static_assert(sharedBytes::tensorCoreSweep(4, 64, 64, 4, 4, 1, 1, 1) == 89608);     // sweepMma, fp32
static_assert(sharedBytes::tensorCoreSweep(2, 128, 128, 8, 8, 2, 2, 2) == 183816);  // wide, 16-bit
static_assert(sharedBytes::tensorCoreSweep(4, 128, 128, 4, 4, 1, 2, 1) == 224776);  // wide, TF32
static_assert(sharedBytes::tensorCoreSweep(2, 128, 64, 8, 8, 1, 1, 1) == 72200);    // sweepMma, 16-bit
static_assert(sharedBytes::tensorCoreSweep(4, 128, 64, 4, 4, 1, 1, 1) == 140808);   // sweepMma, fp32
static_assert(sharedBytes::hopperSweep(3) == 231424);
static_assert(sharedBytes::hopperSweep(2) == 182272);
static_assert(sharedBytes::hopperDkDv(2) == 215040);
static_assert(sharedBytes::hopperDecay(2) == 223552);
static_assert(sharedBytes::hopperTf32(2) == 231680);
static_assert(sharedBytes::fmaSweep(128, 64, 64) == 131840);
static_assert(sharedBytes::fmaSweep(100, 32, 16) == 28864);
static_assert(sharedBytes::decaySweep(128, 32, 64) == 165376);
static_assert(sharedBytes::decaySweep(100, 16, 32) == 60160);
static_assert(sharedBytes::decode(128) == 2048);
static_assert(sharedBytes::decode(100) == 1824);
