package dev.la2.backend.cpu;

import dev.la2.api.BackendOptions;

/** Timing main: single-thread GFLOP/s of the gemm micro-kernels on the tile shapes the algorithm uses, by process CPU time. */
public final class KernelBench {
    public static void main(String[] args) {
        Kernels kx = CpuProvider.kernels(BackendOptions.defaults());
        System.out.println(kx.describe());
        int c = 64, d = 128, e = 128;
        float[] a = fill(c * d), b = fill(d * e), out = new float[c * e], tile = fill(c * c), st = fill(d * e);
                for (int round = 0; round < 3; round++) {
            bench("Q S     64x128x128", 2.0 * c * d * e, () -> kx.gemm(a, 0, d, b, 0, e, out, 0, e, c, e, d, 1f, true, Kernels.FULL));
            bench("KtV    128x128x64 ", 2.0 * c * d * e, () -> kx.gemm(a, 0, c, b, 0, e, st, 0, e, d, e, c, 0.5f, true, Kernels.FULL));
            bench("QKt lower 64x64x128", 2.0 * c * c * d, () -> kx.gemm(a, 0, d, b, 0, c, tile, 0, c, c, c, d, 0f, false, Kernels.OUT_LOWER));
            bench("AV  klower 64x128x64", 2.0 * c * c * e, () -> kx.gemm(tile, 0, c, b, 0, e, out, 0, e, c, e, c, 0f, false, Kernels.K_LOWER));
        }
    }

    /** Process CPU time: after warm-up nearly all of it is this thread's. */
    private static long cpuNanos() {
        return ProcessHandle.current().info().totalCpuDuration().orElseThrow().toNanos();
    }

    private static float[] fill(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) Math.sin(i) * 0.01f;
        }
        return x;
    }

    private static void bench(String name, double flops, Runnable r) {
        int reps = 20000;
        for (int i = 0; i < reps / 4; i++) {
            r.run();
        }
        long cpu = cpuNanos(), wall = System.nanoTime();
        for (int i = 0; i < reps; i++) {
            r.run();
        }
        double cpuS = (cpuNanos() - cpu) / 1e9, wallS = (System.nanoTime() - wall) / 1e9;
        System.out.printf("%-22s %6.1f GFLOP/s per CPU-second (%5.1f wall), nominal flops%n", name, flops * reps / cpuS / 1e9, flops * reps / wallS / 1e9);
    }
}
