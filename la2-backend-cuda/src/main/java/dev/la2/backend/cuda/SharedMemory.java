package dev.la2.backend.cuda;

/**
 * Dynamic shared memory of each kernel in bytes: the formulas of smem.cuh, which the kernels'
 * buffer layouts are asserted against at compile time. SharedMemoryTest evaluates these methods
 * at the values smem.cuh pins, without a GPU, so the two sides cannot drift apart.
 */
final class SharedMemory {
    private SharedMemory() {
    }

    /**
     * A tensor-core sweep: {@code qkBuffers} chunks of q and of k (rows padded by {@code padK}),
     * {@code vBuffers} chunks of v, the 64 x 64 score tile (rows padded by {@code padA}),
     * {@code stateCopies} state copies (v and state rows padded by 8), and the lambda and k-weight
     * tables.
     */
    static long tensorCoreSweep(long elementBytes, long dk, long valueTile, long padK, long padA, long qkBuffers,
                                long vBuffers, long stateCopies) {
        return elementBytes * (2 * qkBuffers * 64 * (dk + padK) + vBuffers * 64 * (valueTile + 8) + 64 * (64 + padA)
                + stateCopies * dk * (valueTile + 8))
                + 4 * (66 + 64);
    }

    /**
     * The Hopper sweep: a ring of {@code stages} chunks of q, k and v (64 x 128, 16-bit), two
     * 128 x 128 16-bit state copies, 1024 bytes for the lambda table, the ring's barriers and the
     * masked decay factors, the output staging (8 warps x 16 rows x 128 bytes) and 1024 bytes that
     * align the swizzled tiles.
     */
    static long hopperSweep(long stages) {
        return stages * 3 * 64 * 128 * 2 + 2 * 128 * 128 * 2 + 1024 + 8 * 16 * 128 + 1024;
    }

    /**
     * The fused dv + dk pass: a ring of {@code stages} chunks of k, q, dO and v (64 x 128, 16-bit),
     * then the Hopper sweep's state copies, tables and barriers, output staging and alignment.
     */
    static long hopperDkDv(long stages) {
        return stages * 4 * 64 * 128 * 2 + 2 * 128 * 128 * 2 + 1024 + 8 * 16 * 128 + 1024;
    }

    /**
     * The decay gradient's Hopper sweep: a ring of {@code stages} chunks of q, k, v and dO
     * (64 x 128, 16-bit), two 16-bit copies of S, the weighted q, dq's staging buffers, the two weight
     * tables, the masked decay factors, the ring's barriers, the block's reduction and alignment.
     */
    static long hopperDecay(long stages) {
        return stages * 4 * 64 * 128 * 2 + 2 * 128 * 128 * 2 + 64 * 128 * 2 + 4 * 16 * 128 + 640 + 512 + 64 + 128 + 1024;
    }

    /**
     * The Hopper TF32 sweep: one chunk of fp32 q, k and v (64 x 128), a ring of {@code stages}
     * chunks of their fp16 forms, the fp16 state copy, the tables (with the rows' exponents, 192
     * bytes a stage) and alignment.
     */
    static long hopperTf32(long stages) {
        return 3 * 64 * 128 * 4 + stages * 3 * 64 * 128 * 2 + 128 * 128 * 2 + 896 + stages * 192 + 1024;
    }

    /** The fp32-FMA sweep with value tile {@code et} and chunks of {@code chunk} tokens. */
    static long fmaSweep(long dk, long et, long chunk) {
        return 4 * (2 * chunk * (dk + 1) + chunk * et + chunk * (chunk + 1) + dk * et);
    }

    /** The decay gradient's sweep carrying T (S and T in double). */
    static long decaySweep(long dk, long et, long chunk) {
        return 16 * dk * et + 4 * (2 * chunk * (dk + 1) + 2 * chunk * et + chunk * (chunk + 1) + 3 * chunk);
    }

    /** A decode step: q and k, then a partial sum per warp (8) and column of the block's 32-column slice. */
    static long decode(long d) {
        return 8 * d + 4 * 8 * 32;
    }
}
