package dev.la2.backend.cuda;

import dev.la2.api.Diagnostics;
import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.api.MemoryStats;
import dev.la2.spi.HalfFloats;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Benchmark of the cuda backend on device-resident inputs, timed with CUDA events between calls
 * queued back to back ({@link dev.la2.api.Diagnostics#timeMillis(Runnable, int)}): medians after
 * warm-up, min-max spread, ms per million tokens, the ratio to anchors measured on an H200
 * (flash-linear-attention's chunk kernel and the paper's Triton kernel), peak device memory, and
 * host-device copies timed on their own.
 *
 * <p>The calls timed, as {@code la2 bench} times them by default: fwd is
 * {@code la.forward(inputs, options, out, null)} (no final state), fwdbwd that forward then
 * {@code la.backward} into gradients allocated once, fwdbwd-learn the same with a learnable decay
 * (the backward also computes dDecay; with fwdbwd in the same run, the learnable-over-fixed
 * ratio is printed after the table).
 * Each row is warmed up as {@code la2 bench} warms up a size: at least 3 calls and
 * {@code --warmup-s} seconds (5 times that for the first row), so that both time the device after
 * a similar sustained load, at the clocks its power limit and temperature then allow.
 *
 * <p>Usage: {@code CudaBench [--n 2048,8192,32768,65536] [--dtypes bf16,fp16,fp32-strict,fp32-tf32x3,fp32-tf32]
 * [--modes fwd,fwdbwd,fwdbwd-learn] [--b 4] [--h 32] [--d 128] [--e 128] [--reps 10] [--budget-s 4]
 * [--warmup-s 1] [--inputs device|host] [--copies false] [--props k=v,...] [--log FILE]}; with
 * {@code --inputs host}, q, k, v and dO are {@code la2 bench}'s inputs instead of ones drawn on the
 * device: a block of 2^22 Gaussian values repeated, uploaded from the host.
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
    /** Untimed calls per row at least, as {@code la2 bench --warmup 3}. */
    private static final int WARMUP_CALLS = 3;
    /** The first row's warm-up over the others', as {@code la2 bench}'s first size (it also waits for the JIT). */
    private static final int FIRST_WARMUP_FACTOR = 5;
    /** Values per block of {@code --inputs host}, as la2-bench's RandomInputs.TILE. */
    private static final int TILE = 1 << 22;

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
        double warmup = Double.parseDouble(opt.getOrDefault("warmup-s", "1"));
        String inputs = opt.getOrDefault("inputs", "device");
        if (!inputs.equals("device") && !inputs.equals("host")) {
            throw new IllegalArgumentException("--inputs " + inputs + "; expected device or host");
        }
        boolean hostInputs = inputs.equals("host");
        Path log = Path.of(opt.getOrDefault("log", "cuda-bench.log"));
        List<String> table = new ArrayList<>();
        try (PrintStream out = new PrintStream(Files.newOutputStream(log), true);
             LightningAttention la = LightningAttention.open("cuda", options(opt.getOrDefault("props", "")))) {
            Tee tee = new Tee(out);
            tee.println("la2 CudaBench on " + la.backendName() + ", B=" + b + " H=" + h + " D=" + d + " E=" + e
                    + (opt.containsKey("props") ? ", " + opt.get("props") : "") + ", inputs "
                    + (hostInputs ? "uploaded (la2 bench's)" : "drawn on the device") + ", warm-up " + warmup + " s per row ("
                    + FIRST_WARMUP_FACTOR * warmup + " s the first)");
            if (!opt.getOrDefault("copies", "true").equals("false")) {
                copies(la, tee, b, h, Math.min(32768, ns[ns.length - 1]), d, table);
            }
            String header = String.format(Locale.ROOT, "%-7s %-11s %6s %9s %17s %8s %8s %8s %9s %6s",
                    "mode", "dtype", "N", "ms(med)", "min-max", "ms/Mtok", "xFLA", "xPaper", "peakMiB", "xBytes");
            table.add(header);
            Map<String, Double> medians = new java.util.HashMap<>();
            boolean first = true;
            for (String mode : modes) {
                for (String dt : dtypes) {
                    for (int n : ns) {
                        try {
                            Row row = new Row(mode, dt, b, h, n, d, e, hostInputs);
                            double seconds = (first ? FIRST_WARMUP_FACTOR : 1) * warmup;
                            first = false;
                            Timed t = run(la, tee, row, reps, budget, seconds);
                            medians.put(mode + " " + dt + " " + n, t.median());
                            table.add(t.line());
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
            learnableOverFixed(tee, medians, dtypes, ns);
        }
    }

    /** {@code --name value} pairs, by name. */
    static Map<String, String> arguments(String[] args) {
        Map<String, String> opt = new java.util.HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opt.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        return opt;
    }

    /** Backend options from {@code key=value,...} properties, for example cuda.tensorCores=false. */
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

    /** One row of the table: the mode, dtype and shape, and where the inputs come from. */
    private record Row(String mode, String dt, int b, int h, int n, int d, int e, boolean hostInputs) {
    }

    /** A row's line in the table and its median in ms. */
    private record Timed(String line, double median) {
    }

    private static Timed run(LightningAttention la, Tee tee, Row r, int reps, double budget, double warmupSeconds) {
        String mode = r.mode(), dt = r.dt();
        int b = r.b(), h = r.h(), n = r.n(), d = r.d(), e = r.e();
        DType dtype = dt.startsWith("bf16") ? DType.BF16 : dt.startsWith("fp16") ? DType.FP16 : DType.FP32;
        Precision precision = dt.endsWith("tf32x3") ? Precision.TF32X3 : dt.endsWith("tf32") ? Precision.TF32 : Precision.STRICT;
        if (!List.of("fwd", "fwdbwd", "fwdbwd-learn").contains(mode)) {
            throw new IllegalArgumentException("mode " + mode + "; expected fwd, fwdbwd or fwdbwd-learn");
        }
        boolean bwd = mode.startsWith("fwdbwd");
        boolean learn = mode.equals("fwdbwd-learn");
        AttentionOptions options = AttentionOptions.defaults().withPrecision(precision).withFinalState(false)
                .withLearnableDecay(learn);
        Diagnostics.of(la).resetPeakMemory();
        Shape qs = Shape.of(b, h, n, d), vs = Shape.of(b, h, n, e);
        try (Tensor q = la.allocate(dtype, qs); Tensor k = la.allocate(dtype, qs); Tensor v = la.allocate(dtype, vs);
             Tensor dO = bwd ? la.allocate(dtype, vs) : null;
             Tensor decay = la.tensor(DecaySlopes.alibi(h), DType.FP32, Shape.of(h));
             Tensor out = la.allocate(dtype, vs)) {
            fill(q, 1, 1 / Math.sqrt(d), r.hostInputs());
            fill(k, 2, 1 / Math.sqrt(d), r.hostInputs());
            fill(v, 3, 1, r.hostInputs());
            if (dO != null) {
                fill(dO, 4, 1, r.hostInputs());
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
                double last = warmUp(la, work, warmupSeconds);
                if (learn) {
                    grads[0].dDecay().fill(Double.NaN);  // a backward that never writes it is seen below
                }
                int want = (int) Math.max(3, Math.min(reps, budget * 1000 / Math.max(last, 1e-3)));
                double[] ms = Diagnostics.of(la).timeMillis(work, want);
                if (learn) {
                    requireFinite(grads[0].dDecay());
                }
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
                return new Timed(row, med);
            } finally {
                if (grads[0] != null) {
                    grads[0].close();
                }
            }
        }
    }

    /**
     * At least {@value #WARMUP_CALLS} calls and {@code seconds} of them, each waited for, as
     * {@code la2 bench} warms up; returns the last call's time in ms.
     */
    private static double warmUp(LightningAttention la, Runnable work, double seconds) {
        long until = System.nanoTime() + (long) (seconds * 1e9);
        double last = Double.NaN;
        for (int i = 0; i < WARMUP_CALLS || System.nanoTime() < until; i++) {
            last = Diagnostics.of(la).timeMillis(work);
        }
        return last;
    }

    /** The decay gradient's forward+backward over the fixed decay's, per dtype and N where both were timed. */
    private static void learnableOverFixed(Tee tee, Map<String, Double> medians, String[] dtypes, int[] ns) {
        for (String dt : dtypes) {
            for (int n : ns) {
                Double fixed = medians.get("fwdbwd " + dt + " " + n), learn = medians.get("fwdbwd-learn " + dt + " " + n);
                if (fixed != null && learn != null) {
                    tee.println(String.format(Locale.ROOT,
                            "learnable over fixed decay, fwd+bwd %-11s N=%6d: %.3f ms / %.3f ms = %.3fx", dt, n, learn,
                            fixed, learn / fixed));
                }
            }
        }
    }

    /** Inputs of mean 0 and deviation {@code std}: drawn on the device, or la2 bench's tiled Gaussians uploaded. */
    private static void fill(Tensor t, long seed, double std, boolean host) {
        if (!host) {
            ((CudaTensor) t).owner().randomFill(t, seed, std);
            return;
        }
        SplittableRandom random = new SplittableRandom(seed);
        int size = t.dtype().byteSize();
        int block = (int) Math.min(t.elementCount(), TILE);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tile = arena.allocate((long) block * size, 64);
            for (int i = 0; i < block; i++) {
                float x = (float) (random.nextGaussian() * std);
                switch (t.dtype()) {
                    case BF16 -> tile.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toBf16(x));
                    case FP16 -> tile.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toFp16(x));
                    default -> tile.setAtIndex(ValueLayout.JAVA_FLOAT, i, x);
                }
            }
            MemorySegment all = arena.allocate(t.byteSize(), 64);
            for (long at = 0; at < all.byteSize(); at += tile.byteSize()) {
                MemorySegment.copy(tile, 0, all, at, Math.min(tile.byteSize(), all.byteSize() - at));
            }
            t.copyFrom(all);
        }
    }

    private static void requireFinite(Tensor t) {
        double[] values = t.toDoubleArray();
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new IllegalStateException("the timed backward left dDecay[" + i + "] at " + values[i]);
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
