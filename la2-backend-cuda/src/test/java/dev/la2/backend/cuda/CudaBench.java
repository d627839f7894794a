package dev.la2.backend.cuda;

import dev.la2.api.Diagnostics;
import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.api.MemoryStats;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Benchmark of the cuda backend on device-resident inputs, timed with CUDA events between calls
 * queued back to back ({@link dev.la2.api.Diagnostics#timeMillis(Runnable, int)}): medians after
 * warm-up, min-max spread, ms per million tokens, the ratio to anchors measured on an H200
 * (flash-linear-attention's chunk kernel and the paper's Triton kernel), peak device memory, and
 * host-device copies timed on their own.
 *
 * <p>Usage: {@code CudaBench [--n 2048,8192,32768,65536] [--dtypes bf16,fp16,fp32-strict,fp32-tf32x3,fp32-tf32]
 * [--modes fwd,fwdbwd] [--b 4] [--h 32] [--d 128] [--e 128] [--reps 10] [--budget-s 4]}
 */
public final class CudaBench {
    /** Anchors measured on an H200 (B=4, H=32, D=E=128): fla chunk_simple_gla and the paper's kernel. */
    private static final Map<String, double[]> FLA = Map.of(
            "bf16 fwd", new double[] {0.32, 0.777, 3.305, 6.489},
            "bf16 fwdbwd", new double[] {1.499, 3.872, 15.522, 31.157},
            "fp32 fwd", new double[] {0.502, 2.029, 8.154, Double.NaN},
            "fp32 fwdbwd", new double[] {2.319, 9.138, 37.37, Double.NaN});
    private static final Map<String, double[]> PAPER = Map.of(
            "bf16 fwd", new double[] {0.643, 2.552, 10.19, 20.378},
            "bf16 fwdbwd", new double[] {4.119, 17.176, 68.656, 137.226},
            "fp32 fwd", new double[] {0.467, 1.819, 7.219, Double.NaN},
            "fp32 fwdbwd", new double[] {5.154, 20.586, 82.423, Double.NaN});
    private static final int[] ANCHOR_N = {2048, 8192, 32768, 65536};

    private CudaBench() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = arguments(args);
        int[] ns = Arrays.stream(opt.getOrDefault("n", "2048,8192,32768,65536").split(",")).mapToInt(Integer::parseInt).toArray();
        String[] dtypes = opt.getOrDefault("dtypes", "bf16,fp16,fp32-strict,fp32-tf32x3,fp32-tf32").split(",");
        String[] modes = opt.getOrDefault("modes", "fwd,fwdbwd").split(",");
        int b = Integer.parseInt(opt.getOrDefault("b", "4"));
        int h = Integer.parseInt(opt.getOrDefault("h", "32"));
        int d = Integer.parseInt(opt.getOrDefault("d", "128"));
        int e = Integer.parseInt(opt.getOrDefault("e", "128"));
        int reps = Integer.parseInt(opt.getOrDefault("reps", "10"));
        double budget = Double.parseDouble(opt.getOrDefault("budget-s", "4"));
        Path log = Path.of(opt.getOrDefault("log", "cuda-bench.log"));
        List<String> table = new ArrayList<>();
        try (PrintStream out = new PrintStream(Files.newOutputStream(log), true);
             LightningAttention la = LightningAttention.open("cuda", options(opt.getOrDefault("props", "")))) {
            Tee tee = new Tee(out);
            tee.println("la2 CudaBench on " + la.backendName() + ", B=" + b + " H=" + h + " D=" + d + " E=" + e
                    + (opt.containsKey("props") ? ", " + opt.get("props") : ""));
            if (!opt.getOrDefault("copies", "true").equals("false")) {
                copies(la, tee, b, h, Math.min(32768, ns[ns.length - 1]), d, table);
            }
            String header = String.format(Locale.ROOT, "%-7s %-11s %6s %9s %17s %8s %8s %8s %9s %6s",
                    "mode", "dtype", "N", "ms(med)", "min-max", "ms/Mtok", "xFLA", "xPaper", "peakMiB", "xBytes");
            table.add(header);
            for (String mode : modes) {
                for (String dt : dtypes) {
                    for (int n : ns) {
                        try {
                            table.add(run(la, tee, mode, dt, b, h, n, d, e, reps, budget));
                        } catch (RuntimeException ex) {
                            tee.println("FAILED " + mode + " " + dt + " N=" + n + ": " + ex);
                            ex.printStackTrace(out);
                            table.add(String.format(Locale.ROOT, "%-7s %-11s %6d FAILED %s", mode, dt, n, ex.getMessage()));
                        }
                    }
                }
            }
            tee.println("");
            for (String row : table) {
                tee.println(row);
            }
        }
    }

    /** "k1=v1,k2=v2" as backend properties, for example cuda.tensorCores=false. */
    /** {@code --name value} pairs, by name. */
    static Map<String, String> arguments(String[] args) {
        Map<String, String> opt = new java.util.HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opt.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        return opt;
    }

    /** Backend options from {@code key=value,...} properties. */
    static dev.la2.api.BackendOptions options(String props) {
        dev.la2.api.BackendOptions o = dev.la2.api.BackendOptions.defaults();
        for (String kv : props.split(",")) {
            if (kv.contains("=")) {
                o = o.withProperty(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
            }
        }
        return o;
    }

    private record Tee(PrintStream log) {
        void println(String s) {
            System.out.println(s);
            log.println(s);
        }
    }

    private static String run(LightningAttention la, Tee tee, String mode, String dt, int b, int h, int n, int d, int e,
                              int reps, double budget) {
        DType dtype = dt.startsWith("bf16") ? DType.BF16 : dt.startsWith("fp16") ? DType.FP16 : DType.FP32;
        Precision precision = dt.endsWith("tf32x3") ? Precision.TF32X3 : dt.endsWith("tf32") ? Precision.TF32 : Precision.STRICT;
        boolean bwd = mode.equals("fwdbwd");
        AttentionOptions options = AttentionOptions.defaults().withPrecision(precision).withFinalState(false);
        Diagnostics.of(la).resetPeakMemory();
        Shape qs = Shape.of(b, h, n, d), vs = Shape.of(b, h, n, e);
        try (Tensor q = la.allocate(dtype, qs); Tensor k = la.allocate(dtype, qs); Tensor v = la.allocate(dtype, vs);
             Tensor dO = bwd ? la.allocate(dtype, vs) : null;
             Tensor decay = la.tensor(DecaySlopes.alibi(h), DType.FP32, Shape.of(h));
             Tensor out = la.allocate(dtype, vs)) {
            CudaBackend be = ((CudaTensor) q).owner();
            be.randomFill(q, 1, 1 / Math.sqrt(d));
            be.randomFill(k, 2, 1 / Math.sqrt(d));
            be.randomFill(v, 3, 1);
            if (dO != null) {
                be.randomFill(dO, 4, 1);
            }
            AttentionInputs in = AttentionInputs.of(q, k, v, decay);
            Gradients[] grads = new Gradients[1];
            Runnable work = bwd
                    ? () -> {
                        la.forward(in, options, out, null);
                        if (grads[0] == null) {
                            grads[0] = la.backward(in, dO, null, options);
                        } else {
                            la.backward(in, dO, null, options, grads[0]);
                        }
                    }
                    : () -> la.forward(in, options, out, null);
            try {
                double first = Diagnostics.of(la).timeMillis(work); // warm-up (module and pool are warm after this)
                int want = (int) Math.max(3, Math.min(reps, budget * 1000 / Math.max(first, 1e-3)));
                double[] ms = Diagnostics.of(la).timeMillis(work, want);
                Arrays.sort(ms);
                double med = ms.length % 2 == 1 ? ms[ms.length / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
                double mtok = (double) b * h * n / 1e6;
                MemoryStats mem = Diagnostics.of(la).memoryStats().orElseThrow();
                long tensorBytes = (long) (bwd ? 8 : 4) * q.byteSize();
                String key = (dtype == DType.BF16 ? "bf16" : dtype == DType.FP16 ? "bf16" : "fp32") + " " + mode;
                double fla = anchor(FLA, key, n), paper = anchor(PAPER, key, n);
                String row = String.format(Locale.ROOT, "%-7s %-11s %6d %9.3f %8.3f-%-8.3f %8.3f %8.2f %8.2f %9.0f %6.2f",
                        mode, dt, n, med, ms[0], ms[ms.length - 1], med / mtok, med / fla, med / paper,
                        mem.peakBytes() / 1048576.0, (double) mem.peakBytes() / tensorBytes);
                tee.println(row + "   reps=" + want + " all=" + Arrays.toString(ms));
                return row;
            } finally {
                if (grads[0] != null) {
                    grads[0].close();
                }
            }
        }
    }

    private static double anchor(Map<String, double[]> anchors, String key, int n) {
        double[] row = anchors.get(key);
        for (int i = 0; i < ANCHOR_N.length; i++) {
            if (ANCHOR_N[i] == n && row != null) {
                return row[i];
            }
        }
        return Double.NaN;
    }

    /** Host-device copies, timed on the host clock around a synchronised transfer. */
    private static void copies(LightningAttention la, Tee tee, int b, int h, int n, int d, List<String> table) {
        for (DType dtype : new DType[] {DType.BF16, DType.FP32}) {
            Shape shape = Shape.of(b, h, n, d);
            try (Tensor t = la.allocate(dtype, shape); Arena arena = Arena.ofConfined()) {
                CudaBackend be = ((CudaTensor) t).owner();
                long bytes = t.byteSize();
                float[] host = new float[Math.toIntExact(t.elementCount())];
                java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
                for (int i = 0; i < host.length; i++) {
                    host[i] = (float) rnd.nextGaussian();
                }
                MemorySegment raw = arena.allocate(bytes, 64);
                double[] h2dArray = new double[3], h2dSeg = new double[3], d2hArray = new double[3], d2hSeg = new double[3];
                for (int r = 0; r < 3; r++) {
                    long t0 = System.nanoTime();
                    t.copyFrom(host);
                    be.synchronize();
                    long t1 = System.nanoTime();
                    t.copyFrom(raw);
                    be.synchronize();
                    long t2 = System.nanoTime();
                    t.copyTo(host);
                    long t3 = System.nanoTime();
                    t.copyTo(raw);
                    long t4 = System.nanoTime();
                    h2dArray[r] = (t1 - t0) / 1e6;
                    h2dSeg[r] = (t2 - t1) / 1e6;
                    d2hArray[r] = (t3 - t2) / 1e6;
                    d2hSeg[r] = (t4 - t3) / 1e6;
                }
                String row = String.format(Locale.ROOT,
                        "copies %s %s (%.0f MiB): H2D float[] %.1f ms, H2D segment %.1f ms (%.1f GB/s), D2H float[] %.1f ms, D2H segment %.1f ms (%.1f GB/s)",
                        dtype, shape, bytes / 1048576.0, best(h2dArray), best(h2dSeg), bytes / best(h2dSeg) / 1e6,
                        best(d2hArray), best(d2hSeg), bytes / best(d2hSeg) / 1e6);
                tee.println(row);
                table.add(row);
            }
        }
    }

    private static double best(double[] x) {
        return Arrays.stream(x).min().orElse(Double.NaN);
    }
}
