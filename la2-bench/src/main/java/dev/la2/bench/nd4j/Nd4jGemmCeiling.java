package dev.la2.bench.nd4j;

import dev.la2.bench.GemmCeiling;
import dev.la2.bench.Stats;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** fp32 GEMM through ND4J (OpenBLAS on the CPU backend): the machine's practical matrix rate. */
public final class Nd4jGemmCeiling implements GemmCeiling {

    public Nd4jGemmCeiling() {
        Nd4j.getBackend();
    }

    @Override
    public String description(int size) {
        return "ND4J gemm (" + Nd4j.getBackend().getClass().getSimpleName() + "), " + size + "x" + size + "x" + size + " fp32";
    }

    @Override
    public Stats gflops(int size, int warmup, int repeats) {
        if (size < 1 || warmup < 0 || repeats < 1) {
            throw new IllegalArgumentException("gemm: got size " + size + ", warmup " + warmup + ", repeats " + repeats
                    + "; expected size >= 1, warmup >= 0, repeats >= 1");
        }
        try (INDArray a = Nd4j.rand(DataType.FLOAT, size, size);
             INDArray b = Nd4j.rand(DataType.FLOAT, size, size);
             INDArray c = Nd4j.create(DataType.FLOAT, size, size)) {
            for (int i = 0; i < warmup; i++) {
                Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
            }
            double flops = 2.0 * size * size * (double) size;
            double[] rates = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
                rates[i] = flops / (System.nanoTime() - t0);
            }
            return Stats.of(rates);
        }
    }
}
