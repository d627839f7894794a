package dev.la2.bench;

/** A machine's dense matrix-multiply rate, the ceiling attention kernels are compared with. */
public interface GemmCeiling {

    /** What is measured, for example "ND4J sgemm (OpenBLAS), 2048x2048x2048 fp32". */
    String description(int size);

    /**
     * Median rate of {@code repeats} timed size x size x size fp32 products after {@code warmup}
     * untimed ones, in GFLOP/s (2 n^3 flops per product).
     */
    Stats gflops(int size, int warmup, int repeats);
}
