package dev.la2.backend.cpu;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.api.BackendOptions;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Timing main, not a unit test: forward and forward+backward medians over repeats for B=1, H=8,
 * D=E=128 (override with -Db, -Dh, -Dd, -De, -Dns=1024,4096, -Dreps, -Dthreads, -Dblock, -Dlearnable).
 * Rates use SPEC.md section 6's notional forward FLOPs F = B H N (2*64 (D+E) + 4 D E), for fwd+bwd too.
 * Process CPU time is printed beside wall time: on a shared machine it shows the cost without the waiting.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp ... dev.la2.backend.cpu.CpuTiming</pre>
 */
public final class CpuTiming {
    public static void main(String[] args) {
        int b = Integer.getInteger("b", 1), h = Integer.getInteger("h", 8);
        int d = Integer.getInteger("d", 128), e = Integer.getInteger("e", 128);
        int reps = Integer.getInteger("reps", 5), threads = Integer.getInteger("threads", 0);
        boolean backward = !Boolean.getBoolean("forwardOnly");
        boolean learnable = Boolean.getBoolean("learnable");
        int[] ns = Arrays.stream(System.getProperty("ns", "1024,4096,16384,65536").split(","))
                .mapToInt(Integer::parseInt).toArray();
        Map<String, String> props = System.getProperty("block") == null ? Map.of()
                : Map.of("cpu.blockSize", System.getProperty("block"));
        try (LightningAttention la = LightningAttention.open("cpu", new BackendOptions(threads, 0, props))) {
            System.out.printf("cpu backend: %s; B=%d H=%d D=%d E=%d, %d reps (median [min-max])%n",
                    la.toString(), b, h, d, e, reps);
            SplittableRandom rng = new SplittableRandom(42);
            for (int n : ns) {
                Shape keys = Shape.of(b, h, n, d), values = Shape.of(b, h, n, e);
                try (Tensor q = random(la, rng, keys, 1 / Math.sqrt(d)); Tensor k = random(la, rng, keys, 1 / Math.sqrt(d));
                     Tensor v = random(la, rng, values, 1); Tensor dO = random(la, rng, values, 1);
                     Tensor decay = la.tensor(slopes(h), DType.FP32, Shape.of(h));
                     Tensor out = la.allocate(DType.FP32, values);
                     Tensor fin = la.allocate(DType.FP32, Shape.of(b, h, d, e))) {
                    AttentionInputs in = AttentionInputs.of(q, k, v, decay);
                    AttentionOptions opts = AttentionOptions.defaults().withLearnableDecay(learnable);
                    double flops = (double) b * h * n * (2.0 * 64 * (d + e) + 4.0 * d * e);
                    double[] fwd = time(reps, () -> la.forward(in, opts, out, fin));
                    report("fwd", n, b * h, flops, fwd);
                    double fwdCpu = lastCpu;
                    if (backward) {
                        try (Gradients g = new Gradients(la.allocate(DType.FP32, keys), la.allocate(DType.FP32, keys),
                                la.allocate(DType.FP32, values), la.allocate(DType.FP32, Shape.of(b, h, d, e)),
                                learnable ? la.allocate(DType.FP32, Shape.of(h)) : null)) {
                            double[] both = time(reps, () -> {
                                la.forward(in, opts, out, fin);
                                la.backward(in, dO, null, opts, g);
                            });
                            report("fwd+bwd", n, b * h, flops, both);
                            double bothCpu = lastCpu;
                            System.out.printf("      fwd+bwd / fwd = %.2f by wall medians, %.2f by CPU time%n",
                                    median(both) / median(fwd), bothCpu / fwdCpu);
                        }
                    }
                }
            }
        }
    }

    private static double[] slopes(int h) {
        double[] s = new double[h];
        for (int i = 0; i < h; i++) {
            s[i] = Math.pow(2, -8.0 * (i + 1) / h);
        }
        return s;
    }

    private static Tensor random(LightningAttention la, SplittableRandom rng, Shape shape, double std) {
        float[] a = new float[Math.toIntExact(shape.elementCount())];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (std * rng.nextGaussian());
        }
        return la.tensor(a, DType.FP32, shape);
    }

    /**
     * Mean process CPU milliseconds per repeat of the last {@link #time} call (the OS counts CPU
     * time in 10 ms ticks, so a mean over all repeats): the cost without the waiting on a shared machine.
     */
    private static double lastCpu;

    private static long cpuNanos() {
        return ProcessHandle.current().info().totalCpuDuration().orElseThrow().toNanos();
    }

    private static double[] time(int reps, Runnable work) {
        long warm = System.nanoTime();
        int warmups = 0;
        // At least 3 calls and 2 s, so C2 has compiled every kernel variant before timing.
        while (warmups < 3 || (warmups < 200 && System.nanoTime() - warm < 2_000_000_000L)) {
            work.run();
            warmups++;
        }
        double[] ms = new double[reps];
        long cpu = cpuNanos();
        for (int r = 0; r < reps; r++) {
            long t = System.nanoTime();
            work.run();
            ms[r] = (System.nanoTime() - t) / 1e6;
        }
        lastCpu = (cpuNanos() - cpu) / 1e6 / reps;
        Arrays.sort(ms);
        return ms;
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static void report(String what, int n, int seqs, double flops, double[] ms) {
        double med = median(ms);
        double cpu = lastCpu;
        System.out.printf("N=%6d %-8s %9.2f ms [%.2f-%.2f]  %8.2f ms/Mtok  %6.1f GFLOP/s  | CPU %8.1f ms/call, %6.1f GFLOP/s per CPU-second%n",
                n, what, med, ms[0], ms[ms.length - 1], med / (n * (double) seqs / 1e6),
                flops / (med * 1e6), cpu, flops / (cpu * 1e6));
    }
}
