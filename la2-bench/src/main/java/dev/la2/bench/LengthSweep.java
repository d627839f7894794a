package dev.la2.bench;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.DeviceMemoryException;
import dev.la2.api.Diagnostics;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
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
 * The engine behind {@code la2 bench}: times one backend at each of a list of sequence lengths and
 * measures, in the same run, what its figures are compared with: the ND4J-composed baseline at the
 * same size, the machine's sgemm rate and fp32 FMA peak, the host copy bandwidth (host backends)
 * and its own per-token time at the smallest N.
 */
public final class LengthSweep {

    /** The FMA peak's untimed and timed durations: long enough for the JIT, short beside the sweep. */
    private static final long FMA_PEAK_WARMUP_MS = 300;
    private static final long FMA_PEAK_MS = 300;

    private LengthSweep() {
    }

    /**
     * Runs the sweep, smallest length first, telling {@code listener} as it goes.
     *
     * @param nd4j where the ND4J baseline and sgemm ceiling come from (absent: their columns are n/a)
     */
    public static List<BenchRow> run(BenchConfig c, Nd4jSupport nd4j, BenchListener listener) {
        Objects.requireNonNull(c, "config");
        Objects.requireNonNull(nd4j, "nd4j");
        Objects.requireNonNull(listener, "listener");
        try (LightningAttention la = LightningAttention.open(c.backend(), c.options())) {
            Diagnostics diagnostics = Diagnostics.of(la);
            requireDtype(c, la);
            BenchContext context = context(c, la, nd4j);
            listener.context(context);
            long perSize = (long) (c.warmup() + c.repeats()) * (context.baselineRuns() ? 2 : 1)
                    + (c.call().backward() ? c.repeats() : 0);
            long total = perSize * c.tokens().length;
            long[] done = {0};
            List<BenchRow> rows = new ArrayList<>();
            double smallestPerToken = Double.NaN;
            // Smallest N first: every row is related to the smallest N that could be measured.
            int[] order = c.tokens().clone();
            java.util.Arrays.sort(order);
            for (int n : order) {
                BenchProblem p = new BenchProblem(c.batch(), c.heads(), n, c.keyDim(), c.valueDim());
                Measured m;
                // The first size measured also pays for compiling the kernels: it is warmed up longer.
                boolean firstSize = Double.isNaN(smallestPerToken);
                try {
                    m = measure(c, la, diagnostics, p, listener, done, total, firstSize);
                } catch (DeviceMemoryException | OutOfMemoryError e) {
                    listener.note("N=" + n + " skipped: out of memory (" + e.getMessage() + ")");
                    done[0] += perSize;
                    continue;
                }
                double baselineMs = Double.NaN;
                if (context.baselineRuns()) {
                    long before = done[0];
                    try {
                        baselineMs = baseline(c, nd4j, p, listener, done, total).median();
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
                double gflops = p.notionalFlops(c.call().backward()) / (m.ms().median() * 1e6);
                double floorMs = Double.isFinite(context.bandwidthGBs())
                        ? p.floorBytes(c.dtype(), c.call().backward()) / (context.bandwidthGBs() * 1e6) : Double.NaN;
                double sgemm = context.sgemmGflops() == null ? Double.NaN : context.sgemmGflops().median();
                double fmaPeak = context.fmaPeakGflops();
                BenchRow row = new BenchRow(la.backendName(), c.dtype(), c.precision(), c.call(), c.layout(),
                        c.batch(), c.heads(), n, c.keyDim(), c.valueDim(), c.warmup(), c.warmupSeconds(firstSize),
                        c.repeats(), m.ms(), msPerMtok, p.tokenHeads() / (m.ms().median() / 1e3), gflops, floorMs,
                        m.peakBackendBytes(), m.peakBackendKind(), m.peakHeapBytes(), m.hostToDeviceMs(),
                        m.deviceToHostMs(), baselineMs, baselineMs / m.ms().median(), sgemm, gflops / sgemm,
                        fmaPeak, gflops / fmaPeak, msPerMtok / smallestPerToken, m.pairedForwardMs(), m.ratioToForward());
                rows.add(row);
                listener.row(row);
            }
            return rows;
        }
    }

    static void requireDtype(BenchConfig c, LightningAttention la) {
        if (!la.dtypes().contains(c.dtype())) {
            throw new La2ArgumentException("--dtype", c.dtype().name().toLowerCase(java.util.Locale.ROOT),
                    "one of " + la.dtypes() + " (backend '" + la.backendName() + "')");
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

    private static BenchContext context(BenchConfig c, LightningAttention la, Nd4jSupport nd4j) {
        String baseline;
        boolean baselineRuns = false;
        if (!c.baseline()) {
            baseline = "not run (--no-baseline)";
        } else {
            Optional<String> absent = nd4j.unavailableReason();
            if (absent.isPresent()) {
                baseline = "n/a (" + absent.get() + ")";
            } else {
                // Constructing one starts ND4J's backend, or says why it cannot start.
                try (ComposedAttention probe = nd4j.composedAttention()) {
                    baseline = probe.description() + switch (c.dtype()) {
                        case FP64 -> ", in fp64";
                        case FP32 -> ", in fp32";
                        case BF16, FP16 -> ", in fp32 (ND4J's CPU backend has no " + c.dtype() + " matmul)";
                    };
                    baselineRuns = true;
                    if (c.call().learnDecay()) {
                        baseline += "; its backward computes no decay gradient";
                    }
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
                GemmCeiling gemm = nd4j.gemmCeiling();
                sgemmGflops = gemm.gflops(c.gemmSize(), 2, 5);
                sgemm = gemm.description(c.gemmSize());
            } catch (UnsupportedOperationException e) {
                sgemm = "n/a (" + e.getMessage() + ")";
            }
        }
        boolean onHost = computesOnHost(la);
        String fmaPeak;
        double fmaPeakGflops = Double.NaN;
        Optional<String> noVectors = FmaPeak.unavailableReason();
        if (!onHost) {
            fmaPeak = "n/a (a device backend: the host's FMA peak does not bound it)";
        } else if (noVectors.isPresent()) {
            fmaPeak = "n/a (" + noVectors.get() + ")";
        } else {
            FmaPeak peak = FmaPeak.measure(FMA_PEAK_WARMUP_MS, FMA_PEAK_MS);
            fmaPeakGflops = peak.gflops();
            fmaPeak = peak.description();
        }
        CopyBandwidth bandwidth = CopyBandwidth.of(c, onHost);
        return new BenchContext(la.backendName(), baselineRuns, baseline, sgemm, sgemmGflops, fmaPeak, fmaPeakGflops,
                bandwidth.gbs(), bandwidth.source());
    }

    /** Host backends can view host memory in place; device backends cannot (LightningAttention.wrap). */
    static boolean computesOnHost(LightningAttention la) {
        try (Arena arena = Arena.ofConfined()) {
            Optional<Tensor> view = la.wrap(arena.allocate(4, 4), DType.FP32, Shape.of(1));
            view.ifPresent(Tensor::close);
            return view.isPresent();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static Measured measure(BenchConfig c, LightningAttention la, Diagnostics diagnostics, BenchProblem p,
                                    BenchListener listener, long[] done, long total, boolean firstSize) {
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
        BenchCall timed = c.call();
        MemorySegment doa = timed.backward() ? RandomInputs.tiled(host, dtype, p.valueElements(), 1, random) : null;
        List<Tensor> made = new ArrayList<>();
        try {
            diagnostics.resetPeakMemory();
            resetHeapPeaks();
            Tensor q = track(made, la.allocate(dtype, keys));
            Tensor k = track(made, la.allocate(dtype, keys));
            Tensor v = track(made, la.allocate(dtype, values));
            Tensor decay = track(made, la.tensor(DecaySlopes.alibi(p.heads()), dtype.stateType(), Shape.of(p.heads())));
            Tensor out = track(made, la.allocate(dtype, values));
            Tensor fin = timed.finalState() ? track(made, la.allocate(dtype.stateType(), states)) : null;
            Tensor dOut = timed.backward() ? track(made, la.allocate(dtype, values)) : null;
            double h2d = diagnostics.timeMillis(() -> {
                q.copyFrom(qa);
                k.copyFrom(ka);
                v.copyFrom(va);
                if (dOut != null) {
                    dOut.copyFrom(doa);
                }
            });
            Gradients grads = timed.backward() ? new Gradients(track(made, la.allocate(dtype, keys)),
                    track(made, la.allocate(dtype, keys)), track(made, la.allocate(dtype, values)),
                    track(made, la.allocate(dtype.stateType(), states)),
                    timed.learnDecay() ? track(made, la.allocate(dtype.stateType(), Shape.of(p.heads()))) : null)
                    : null;
            AttentionInputs inputs = AttentionInputs.of(q, k, v, decay);
            AttentionOptions options = AttentionOptions.defaults().withLayout(layout).withPrecision(c.precision())
                    .withLearnableDecay(timed.learnDecay());
            AttentionOptions training = options.withSaveForBackward(timed.keepStates());
            Runnable call = timed.backward()
                    ? () -> {
                        try (SavedForward saved = la.forward(inputs, training, out, fin)) {
                            la.backward(inputs, dOut, null, options, saved, grads);
                        }
                    }
                    : () -> la.forward(inputs, options, out, fin);
            String stage = la.backendName() + " N=" + p.tokens();
            warmUp(c, () -> diagnostics.timeMillis(call), c.warmupSeconds(firstSize), stage, listener, done, total);
            Tensor decayGradient = grads == null ? null : grads.dDecay();
            if (decayGradient != null) {
                decayGradient.fill(Double.NaN);
            }
            // queued back to back: on a GPU each time is the device's, per-call host overhead hidden
            double[] times = diagnostics.timeMillis(call, c.repeats());
            if (decayGradient != null) {
                requireWritten(decayGradient);
            }
            done[0] += c.repeats();
            listener.progress(stage, done[0], total);
            double pairedForward = Double.NaN, ratio = Double.NaN;
            if (timed.backward()) {
                // Forward alone against forward+backward, alternated call by call, so that the ratio
                // compares the two under the same load (a shared machine's speed drifts within minutes).
                Runnable forward = () -> la.forward(inputs, options, out, fin);
                double[] alone = new double[c.repeats()], both = new double[c.repeats()];
                for (int r = 0; r < c.repeats(); r++) {
                    alone[r] = diagnostics.timeMillis(forward, 1)[0];
                    both[r] = diagnostics.timeMillis(call, 1)[0];
                    listener.progress(stage + " paired with forward", ++done[0], total);
                }
                pairedForward = Stats.of(alone).median();
                ratio = Stats.of(both).median() / pairedForward;
            }
            // The input buffers are reused as download targets: only the transfer time is wanted here.
            MemorySegment oa = va;
            MemorySegment ga = qa;
            MemorySegment gv = va;
            double d2h = diagnostics.timeMillis(() -> {
                out.copyTo(oa);
                if (grads != null) {
                    grads.dq().copyTo(ga);
                    grads.dk().copyTo(ga);
                    grads.dv().copyTo(gv);
                }
            });
            Optional<MemoryStats> stats = diagnostics.memoryStats();
            return new Measured(Stats.of(times), stats.map(MemoryStats::peakBytes).orElse(-1L),
                    stats.map(MemoryStats::kind).orElse(null), heapPeak(), h2d, d2h, pairedForward, ratio);
        } finally {
            made.forEach(Tensor::close);
            host.close();
        }
    }

    /**
     * Untimed calls: at least {@code --warmup} of them and at least {@code seconds} of them, so that
     * the JIT has compiled the host kernels before anything is timed (a small call runs about ten
     * times slower before that) and a GPU runs at the clocks of a sustained load.
     */
    static void warmUp(BenchConfig c, Runnable call, double seconds, String stage, BenchListener listener,
                       long[] done, long total) {
        long start = System.nanoTime();
        long nanos = (long) (seconds * 1e9); // saturates rather than overflows; compared as a difference below
        for (int i = 0; i < c.warmup() || System.nanoTime() - start < nanos; i++) {
            call.run();
            if (i < c.warmup()) {
                listener.progress(stage + " warm-up", ++done[0], total);
            }
        }
    }

    private static Stats baseline(BenchConfig c, Nd4jSupport support, BenchProblem p, BenchListener listener,
                                  long[] done, long total) {
        SplittableRandom random = new SplittableRandom(c.seed() ^ p.tokens());
        try (ComposedAttention nd4j = support.composedAttention()) {
            nd4j.load(p, c.dtype() == DType.FP64, RandomInputs.queries(p, random), RandomInputs.queries(p, random),
                    RandomInputs.values(p, random), DecaySlopes.alibi(p.heads()), null, 1.0);
            if (c.call().backward()) {
                nd4j.loadGradients(RandomInputs.values(p, random), null);
            }
            Runnable call = c.call().backward() ? () -> {
                nd4j.forward();
                nd4j.backward();
            } : nd4j::forward;
            String stage = "nd4j N=" + p.tokens();
            warmUp(c, call, c.warmupSeconds(false), stage, listener, done, total);
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

    /**
     * The timed calls wrote finite values over the poison of {@code t}: a figure for a call that
     * skipped the work it was asked for would mean nothing.
     */
    static void requireWritten(Tensor t) {
        double[] values = t.toDoubleArray();
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new IllegalStateException("the timed backward left the decay gradient's element " + i + " at "
                        + values[i] + "; expected a finite value for every head");
            }
        }
    }

    static Tensor track(List<Tensor> made, Tensor t) {
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
