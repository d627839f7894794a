package dev.la2.backend.cuda;

/**
 * How one pass is launched: the kernel, its block shape and shared memory, the value tiles and
 * the segments each sequence is cut into (common.cuh explains segments and value tiles).
 *
 * @param kernel the sweep kernel
 * @param threads threads per block
 * @param valueTile value columns per block
 * @param chunk tokens per chunk (SPEC.md's block of C tokens; "block" here is a CUDA thread block)
 * @param smem dynamic shared memory per block, bytes
 * @param tiles value tiles per sequence
 * @param segmentLength tokens per segment, a multiple of the chunk
 * @param segments segments per sequence
 */
record SweepPlan(Kernel kernel, int threads, int valueTile, int chunk, int smem, int tiles, long segmentLength,
                 long segments) {

    /** The same launch on another entry point of the same shape. */
    SweepPlan withKernel(Kernel k) {
        return new SweepPlan(k, threads, valueTile, chunk, smem, tiles, segmentLength, segments);
    }
}
