package dev.la2.bench;

import dev.la2.api.Diagnostics;
import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.DeviceMemoryException;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.api.BackendOptions;
import dev.la2.api.MemoryStats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * Times one backend over a sweep of sequence lengths and measures, in the same run, what its
 * figures are compared with: the ND4J-composed baseline at the same size, the machine's sgemm
 * rate, the host copy bandwidth (host backends) and its own per-token time at the smallest N.
 */
public final class Sweep {

    /**
     * @param bandwidthGBs copy bandwidth (read plus written) for the memory floor; NaN measures
     *                     it in-run for host backends and leaves device backends without a floor
     * @param gemmSize     size of the sgemm ceiling's square product; 0 skips it
     * @param sgemmGflops  a known matrix rate to use as the ceiling instead of measuring one (for
     *                     device backends, whose rate ND4J on the host cannot measure); NaN measures
     */
    /** Shortest warm-up per sequence length, whatever {@code --warmup} says. */
    public static final long MIN_WARMUP_MS = 1000;

    /** Warm-up of a sweep's first size, which also waits for the JIT's first compilation of the kernels. */
    public static final long FIRST_WARMUP_MS = 5000;

    public record Config(String backend, BackendOptions options, int batch, int heads, int keyDim, int valueDim,
                         int[] tokens, DType dtype, Precision precision, boolean backward, boolean keepStates, Layout layout,
                         int warmup, int repeats, boolean baseline, int gemmSize, double sgemmGflops,
                         double bandwidthGBs, long seed) {
        public Config {
            Objects.requireNonNull(options, "options");
            Objects.requireNonNull(dtype, "dtype");
            Objects.requireNonNull(precision, "precision");
            Objects.requireNonNull(layout, "layout");
            if (tokens == null || tokens.length == 0) {
                throw new La2ArgumentException("--n", "no sequence lengths", "one or more lengths >= 1");
            }
            tokens = tokens.clone();
            for (int n : tokens) {
                if (n < 1) {
                    throw new La2ArgumentException("--n", String.valueOf(n), "lengths >= 1");
                }
            }
            positive("--b", batch);
            positive("--h", heads);
            positive("--d", keyDim);
            positive("--e", valueDim);
            positive("--repeats", repeats);
            if (warmup < 0) {
                throw new La2ArgumentException("--warmup", String.valueOf(warmup), ">= 0");
            }
            if (!Double.isNaN(sgemmGflops) && !(sgemmGflops > 0 && sgemmGflops < Double.POSITIVE_INFINITY)) {
                throw new La2ArgumentException("--sgemm-gflops", String.valueOf(sgemmGflops), "a rate > 0");
            }
            if (!Double.isNaN(bandwidthGBs) && !(bandwidthGBs > 0 && bandwidthGBs < Double.POSITIVE_INFINITY)) {
                throw new La2ArgumentException("--bandwidth", String.valueOf(bandwidthGBs), "a rate > 0 in GB/s");
            }
            if (gemmSize < 0) {
                throw new La2ArgumentException("--gemm-size", String.valueOf(gemmSize), ">= 0 (0 skips the sgemm ceiling)");
            }
        }

        public String mode() {
            return backward ? "fwdbwd" : "fwd";
        }

        /** How the backward gets the forward's block states, for headers; empty for a forward sweep. */
        public String statesNote() {
            return !backward ? "" : keepStates ? "states kept by the forward where the backend keeps them"
                    : "states recomputed by the backward";
        }

        private static void positive(String name, int value) {
            if (value < 1) {
                throw new La2ArgumentException(name, String.valueOf(value), ">= 1");
            }
        }
    }

    /**
     * What the whole sweep is compared with, known before the first row.
     *
     * @param baselineRuns whether the ND4J baseline is timed; {@code baseline} says what it is or why not
     * @param sgemmGflops  null when the ceiling was not measured; {@code sgemm} says what it is or why not
     */
    public record Context(String backend, boolean baselineRuns, String baseline, String sgemm, Stats sgemmGflops,
                          double bandwidthGBs, String bandwidth) {

        /** The context as JSON members (without braces), for a results file's header. */
        public String toJsonMembers() {
            StringBuilder sb = new StringBuilder();
            Row.field(sb, "backend", backend);
            Row.field(sb, "baseline", baseline);
            Row.field(sb, "sgemm", sgemm);
            Row.number(sb, "sgemm_gflops", sgemmGflops == null ? Double.NaN : sgemmGflops.median());
            Row.number(sb, "sgemm_gflops_min", sgemmGflops == null ? Double.NaN : sgemmGflops.min());
            Row.number(sb, "sgemm_gflops_max", sgemmGflops == null ? Double.NaN : sgemmGflops.max());
            Row.number(sb, "copy_gbps_rw", bandwidthGBs);
            Row.field(sb, "copy_bandwidth", bandwidth);
            sb.setLength(sb.length() - 1);
            return sb.toString();
        }
    }

    /** One measurement: times in ms, rates per second, NaN (or -1 for bytes) where unknown. */
    public record Row(String backend, DType dtype, Precision precision, String mode, Layout layout,
                      int b, int h, int n, int d, int e, int warmup, int repeats,
                      Stats ms, double msPerMillionTokens, double tokenHeadsPerSecond, double gflops,
                      double floorMs, long peakBackendBytes, String peakBackendKind, long peakHeapBytes,
                      double hostToDeviceMs, double deviceToHostMs,
                      double baselineMsMedian, double speedupVsBaseline, double sgemmGflops,
                      double fractionOfSgemm, double perTokenVsSmallestN, double pairedForwardMs,
                      double ratioToForward) {

        /** One JSON object on one line; unknown figures are null. */
        public String toJson() {
            StringBuilder sb = new StringBuilder("{");
            field(sb, "backend", backend);
            field(sb, "dtype", dtype.name().toLowerCase(java.util.Locale.ROOT));
            field(sb, "precision", precision.name().toLowerCase(java.util.Locale.ROOT));
            field(sb, "mode", mode);
            field(sb, "layout", layout.name().toLowerCase(java.util.Locale.ROOT));
            number(sb, "b", b);
            number(sb, "h", h);
            number(sb, "n", n);
            number(sb, "d", d);
            number(sb, "e", e);
            number(sb, "warmup", warmup);
            number(sb, "repeats", repeats);
            number(sb, "ms_median", ms.median());
            number(sb, "ms_min", ms.min());
            number(sb, "ms_max", ms.max());
            number(sb, "ms_per_mtok", msPerMillionTokens);
            number(sb, "token_heads_per_s", tokenHeadsPerSecond);
            number(sb, "gflops", gflops);
            number(sb, "floor_ms", floorMs);
            number(sb, "peak_backend_bytes", peakBackendBytes < 0 ? Double.NaN : peakBackendBytes);
            field(sb, "peak_backend_kind", peakBackendKind);
            number(sb, "peak_heap_bytes", peakHeapBytes);
            number(sb, "h2d_ms", hostToDeviceMs);
            number(sb, "d2h_ms", deviceToHostMs);
            number(sb, "baseline_ms_median", baselineMsMedian);
            number(sb, "speedup_vs_baseline", speedupVsBaseline);
            number(sb, "sgemm_gflops", sgemmGflops);
            number(sb, "fraction_of_sgemm", fractionOfSgemm);
            number(sb, "per_token_vs_smallest_n", perTokenVsSmallestN);
            number(sb, "paired_fwd_ms_median", pairedForwardMs);
            number(sb, "fwdbwd_over_fwd", ratioToForward);
            sb.setLength(sb.length() - 1);
            return sb.append('}').toString();
        }

        static void field(StringBuilder sb, String key, String value) {
            sb.append('"').append(key).append("\":");
            if (value == null) {
                sb.append("null");
            } else {
                sb.append('"');
                for (char c : value.toCharArray()) {
                    switch (c) {
                        case '"' -> sb.append("\\\"");
                        case '\\' -> sb.append("\\\\");
                        default -> {
                            if (c < 0x20) {
                                sb.append(String.format("\\u%04x", (int) c));
                            } else {
                                sb.append(c);
                            }
                        }
                    }
                }
                sb.append('"');
            }
            sb.append(',');
        }

        static void number(StringBuilder sb, String key, double value) {
            sb.append('"').append(key).append("\":");
            if (!Double.isFinite(value)) {
                sb.append("null");
            } else if (value == Math.rint(value) && Math.abs(value) < 1e15) {
                sb.append((long) value);
            } else {
                sb.append(value);
            }
            sb.append(',');
        }
    }

    /** Progress and results as they come; every method has a do-nothing default. */
    public interface Listener {
        default void context(Context context) {
        }

        /** {@code done} of {@code total} timed or warm-up calls are finished. */
        default void progress(String stage, long done, long total) {
        }

        default void row(Row row) {
        }

        /** Something the reader should know, for example a size skipped for lack of memory. */
        default void note(String message) {
        }
    }

    private Sweep() {
    }

    public static List<Row> run(Config c, Listener listener) {
        Objects.requireNonNull(c, "config");
        Objects.requireNonNull(listener, "listener");
        try (LightningAttention la = LightningAttention.open(c.backend(), c.options())) {
            if (!la.dtypes().contains(c.dtype())) {
                throw new La2ArgumentException("--dtype", c.dtype().name().toLowerCase(java.util.Locale.ROOT),
                        "one of " + la.dtypes() + " (backend '" + la.backendName() + "')");
            }
            Context context = context(c, la);
            listener.context(context);
            long perSize = (long) (c.warmup() + c.repeats()) * (context.baselineRuns() ? 2 : 1)
                    + (c.backward() ? c.repeats() : 0);
            long total = perSize * c.tokens().length;
            long[] done = {0};
            List<Row> rows = new ArrayList<>();
            double smallestPerToken = Double.NaN;
            // Smallest N first: every row is related to the smallest N that could be measured.
            int[] order = c.tokens().clone();
            java.util.Arrays.sort(order);
            for (int n : order) {
                BenchProblem p = new BenchProblem(c.batch(), c.heads(), n, c.keyDim(), c.valueDim());
                Measured m;
                try {
                    m = measure(c, la, p, listener, done, total, Double.isNaN(smallestPerToken));
                } catch (DeviceMemoryException | OutOfMemoryError e) {
                    listener.note("N=" + n + " skipped: out of memory (" + e.getMessage() + ")");
                    done[0] += perSize;
                    continue;
                }
                double baselineMs = Double.NaN;
                if (context.baselineRuns()) {
                    long before = done[0];
                    try {
                        baselineMs = baseline(c, p, listener, done, total).median();
                    } catch (OutOfMemoryError | RuntimeException e) {
                        // The baseline is a comparison: losing it at one size must not lose the sweep.
                        listener.note("N=" + n + ": ND4J baseline failed (" + e + "); its columns are n/a");
                        done[0] = before + c.warmup() + c.repeats();
                    }
                }
                double msPerMtok = m.ms().median() / p.batchTokens() * 1e6;
                if (Double.isNaN(smallestPerToken)) {
                    smallestPerToken = msPerMtok;
                }
                double gflops = p.notionalFlops(c.backward()) / (m.ms().median() * 1e6);
                double floorMs = Double.isFinite(context.bandwidthGBs())
                        ? p.floorBytes(c.dtype(), c.backward()) / (context.bandwidthGBs() * 1e6) : Double.NaN;
                double sgemm = context.sgemmGflops() == null ? Double.NaN : context.sgemmGflops().median();
                Row row = new Row(la.backendName(), c.dtype(), c.precision(), c.mode(), c.layout(),
                        c.batch(), c.heads(), n, c.keyDim(), c.valueDim(), c.warmup(), c.repeats(),
                        m.ms(), msPerMtok, p.tokenHeads() / (m.ms().median() / 1e3), gflops, floorMs,
                        m.peakBackendBytes(), m.peakBackendKind(), m.peakHeapBytes(), m.hostToDeviceMs(),
                        m.deviceToHostMs(), baselineMs, baselineMs / m.ms().median(), sgemm, gflops / sgemm,
                        msPerMtok / smallestPerToken, m.pairedForwardMs(), m.ratioToForward());
                rows.add(row);
                listener.row(row);
            }
            return rows;
        }
    }

    /**
     * @param pairedForwardMs median forward time from calls alternated with forward+backward calls
     *                        (fwdbwd mode only, else NaN)
     * @param ratioToForward  median of the paired forward+backward times over {@code pairedForwardMs}
     */
    private record Measured(Stats ms, long peakBackendBytes, String peakBackendKind, long peakHeapBytes,
                            double hostToDeviceMs, double deviceToHostMs, double pairedForwardMs,
                            double ratioToForward) {
    }

    private static Context context(Config c, LightningAttention la) {
        String baseline;
        boolean baselineRuns = false;
        if (!c.baseline()) {
            baseline = "not run (--no-baseline)";
        } else {
            Optional<String> absent = Nd4jSupport.unavailableReason();
            if (absent.isPresent()) {
                baseline = "n/a (" + absent.get() + ")";
            } else {
                // Constructing one starts ND4J's backend, or says why it cannot start.
                try (ComposedAttention probe = Nd4jSupport.composedAttention()) {
                    baseline = probe.description() + switch (c.dtype()) {
                        case FP64 -> ", in fp64";
                        case FP32 -> ", in fp32";
                        case BF16, FP16 -> ", in fp32 (ND4J's CPU backend has no " + c.dtype() + " matmul)";
                    };
                    baselineRuns = true;
                } catch (UnsupportedOperationException e) {
                    baseline = "n/a (" + e.getMessage() + ")";
                }
            }
        }
        String sgemm;
        Stats sgemmGflops = null;
        if (!Double.isNaN(c.sgemmGflops())) {
            sgemmGflops = new Stats(c.sgemmGflops(), c.sgemmGflops(), c.sgemmGflops(), 1);
            sgemm = "given (--sgemm-gflops)";
        } else if (c.gemmSize() == 0) {
            sgemm = "not run (--gemm-size 0)";
        } else {
            try {
                GemmCeiling gemm = Nd4jSupport.gemmCeiling();
                sgemmGflops = gemm.gflops(c.gemmSize(), 2, 5);
                sgemm = gemm.description(c.gemmSize());
            } catch (UnsupportedOperationException e) {
                sgemm = "n/a (" + e.getMessage() + ")";
            }
        }
        double bandwidth = c.bandwidthGBs();
        String bandwidthSource;
        if (Double.isFinite(bandwidth)) {
            bandwidthSource = "given: " + bandwidth + " GB/s";
        } else if (computesOnHost(la)) {
            Stats copy = HostBandwidth.measure(256L << 20, 5);
            bandwidth = copy.median();
            bandwidthSource = String.format(java.util.Locale.ROOT, "host copy measured in-run: %.1f GB/s (read+write)", bandwidth);
        } else {
            bandwidthSource = "unknown for a device backend (pass --bandwidth GB/s for a memory floor)";
        }
        return new Context(la.backendName(), baselineRuns, baseline, sgemm, sgemmGflops, bandwidth, bandwidthSource);
    }

    /** Host backends can view host memory in place; device backends cannot (LightningAttention.wrap). */
    private static boolean computesOnHost(LightningAttention la) {
        try (Arena arena = Arena.ofConfined()) {
            Optional<Tensor> view = la.wrap(arena.allocate(4, 4), DType.FP32, Shape.of(1));
            view.ifPresent(Tensor::close);
            return view.isPresent();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static Measured measure(Config c, LightningAttention la, BenchProblem p, Listener listener,
                                    long[] done, long total, boolean firstSize) {
        SplittableRandom random = new SplittableRandom(c.seed() ^ p.tokens());
        Layout layout = c.layout();
        DType dtype = c.dtype();
        Shape keys = layout.shape(p.batch(), p.heads(), p.tokens(), p.keyDim());
        Shape values = layout.shape(p.batch(), p.heads(), p.tokens(), p.valueDim());
        Shape states = Shape.of(p.batch(), p.heads(), p.keyDim(), p.valueDim());
        Arena host = Arena.ofShared();
        MemorySegment qa = RandomInputs.tiled(host, dtype, p.keyElements(), 1 / Math.sqrt(p.keyDim()), random);
        MemorySegment ka = RandomInputs.tiled(host, dtype, p.keyElements(), 1 / Math.sqrt(p.keyDim()), random);
        MemorySegment va = RandomInputs.tiled(host, dtype, p.valueElements(), 1, random);
        MemorySegment doa = c.backward() ? RandomInputs.tiled(host, dtype, p.valueElements(), 1, random) : null;
        List<Tensor> made = new ArrayList<>();
        try {
            Diagnostics.of(la).resetPeakMemory();
            resetHeapPeaks();
            Tensor q = track(made, la.allocate(dtype, keys));
            Tensor k = track(made, la.allocate(dtype, keys));
            Tensor v = track(made, la.allocate(dtype, values));
            Tensor decay = track(made, la.tensor(DecaySlopes.alibi(p.heads()), dtype.stateType(), Shape.of(p.heads())));
            Tensor out = track(made, la.allocate(dtype, values));
            Tensor fin = track(made, la.allocate(dtype.stateType(), states));
            Tensor dOut = c.backward() ? track(made, la.allocate(dtype, values)) : null;
            double h2d = Diagnostics.of(la).timeMillis(() -> {
                q.copyFrom(qa);
                k.copyFrom(ka);
                v.copyFrom(va);
                if (dOut != null) {
                    dOut.copyFrom(doa);
                }
            });
            Gradients grads = c.backward() ? new Gradients(track(made, la.allocate(dtype, keys)),
                    track(made, la.allocate(dtype, keys)), track(made, la.allocate(dtype, values)),
                    track(made, la.allocate(dtype.stateType(), states)), null) : null;
            AttentionInputs inputs = AttentionInputs.of(q, k, v, decay);
            AttentionOptions options = AttentionOptions.defaults().withLayout(layout).withPrecision(c.precision());
            AttentionOptions training = options.withSaveForBackward(c.keepStates());
            Runnable call = c.backward()
                    ? () -> {
                        try (SavedForward saved = la.forward(inputs, training, out, fin)) {
                            la.backward(inputs, dOut, null, options, saved, grads);
                        }
                    }
                    : () -> la.forward(inputs, options, out, fin);
            String stage = la.backendName() + " N=" + p.tokens();
            // The first size also pays for compiling the kernels: measured on 2 cores, N=1024 first in
            // a sweep took 10.8 ms after a 1 s warm-up and 5.8 ms when it came after N=4096.
            warmUp(c, () -> Diagnostics.of(la).timeMillis(call), firstSize ? FIRST_WARMUP_MS : MIN_WARMUP_MS, stage, listener, done, total);
            // queued back to back: on a GPU each time is the device's, per-call host overhead hidden
            double[] times = Diagnostics.of(la).timeMillis(call, c.repeats());
            done[0] += c.repeats();
            listener.progress(stage, done[0], total);
            double pairedForward = Double.NaN, ratio = Double.NaN;
            if (c.backward()) {
                // Forward alone against forward+backward, alternated call by call, so that the ratio
                // compares the two under the same load (machines here drift by 20% within minutes).
                Runnable forward = () -> la.forward(inputs, options, out, fin);
                double[] alone = new double[c.repeats()], both = new double[c.repeats()];
                for (int r = 0; r < c.repeats(); r++) {
                    alone[r] = Diagnostics.of(la).timeMillis(forward, 1)[0];
                    both[r] = Diagnostics.of(la).timeMillis(call, 1)[0];
                    listener.progress(stage + " paired with forward", ++done[0], total);
                }
                pairedForward = Stats.of(alone).median();
                ratio = Stats.of(both).median() / pairedForward;
            }
            // The input buffers are reused as download targets: only the transfer time is wanted here.
            MemorySegment oa = va;
            MemorySegment ga = qa;
            MemorySegment gv = va;
            double d2h = Diagnostics.of(la).timeMillis(() -> {
                out.copyTo(oa);
                if (grads != null) {
                    grads.dq().copyTo(ga);
                    grads.dk().copyTo(ga);
                    grads.dv().copyTo(gv);
                }
            });
            Optional<MemoryStats> stats = Diagnostics.of(la).memoryStats();
            return new Measured(Stats.of(times), stats.map(MemoryStats::peakBytes).orElse(-1L),
                    stats.map(MemoryStats::kind).orElse(null), heapPeak(), h2d, d2h, pairedForward, ratio);
        } finally {
            made.forEach(Tensor::close);
            host.close();
        }
    }

    /**
     * Untimed calls: at least {@code --warmup} of them and at least {@code millis} ms, so that the
     * JIT has compiled the host kernels before anything is timed (measured on the cpu backend: a
     * 64-token call took 0.64 ms after 250 calls and 0.057 ms after 5,000).
     */
    private static void warmUp(Config c, Runnable call, long millis, String stage, Listener listener, long[] done,
                               long total) {
        long until = System.nanoTime() + millis * 1_000_000L;
        for (int i = 0; i < c.warmup() || System.nanoTime() < until; i++) {
            call.run();
            if (i < c.warmup()) {
                listener.progress(stage + " warm-up", ++done[0], total);
            }
        }
    }

    private static Stats baseline(Config c, BenchProblem p, Listener listener, long[] done, long total) {
        SplittableRandom random = new SplittableRandom(c.seed() ^ p.tokens());
        try (ComposedAttention nd4j = Nd4jSupport.composedAttention()) {
            nd4j.load(p, c.dtype() == DType.FP64, RandomInputs.queries(p, random), RandomInputs.queries(p, random),
                    RandomInputs.values(p, random), DecaySlopes.alibi(p.heads()), null, 1.0);
            if (c.backward()) {
                nd4j.loadGradients(RandomInputs.values(p, random), null);
            }
            Runnable call = c.backward() ? () -> {
                nd4j.forward();
                nd4j.backward();
            } : nd4j::forward;
            String stage = "nd4j N=" + p.tokens();
            warmUp(c, call, MIN_WARMUP_MS, stage, listener, done, total);
            double[] times = new double[c.repeats()];
            for (int i = 0; i < c.repeats(); i++) {
                long t0 = System.nanoTime();
                call.run();
                times[i] = (System.nanoTime() - t0) / 1e6;
                listener.progress(stage, ++done[0], total);
            }
            return Stats.of(times);
        }
    }

    private static Tensor track(List<Tensor> made, Tensor t) {
        made.add(t);
        return t;
    }

    private static void resetHeapPeaks() {
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP && pool.isValid()) {
                pool.resetPeakUsage();
            }
        }
    }

    /** Sum of the heap pools' peaks since the last reset: an upper bound on the heap's peak. */
    private static long heapPeak() {
        long sum = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP && pool.isValid() && pool.getPeakUsage() != null) {
                sum += pool.getPeakUsage().getUsed();
            }
        }
        return sum;
    }
}
