package dev.la2.cli;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.bench.BenchCall;
import dev.la2.bench.BenchConfig;
import dev.la2.bench.BenchContext;
import dev.la2.bench.BenchListener;
import dev.la2.bench.BenchRow;
import dev.la2.bench.LengthSweep;
import dev.la2.bench.ServingBench;
import dev.la2.bench.ServingConfig;
import dev.la2.bench.ServingMode;
import dev.la2.bench.ServingRow;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Time a backend over a sweep of sequence lengths N (SPEC.md section 6).",
                "The ND4J-composed baseline, the sgemm ceiling, the fp32 FMA peak and the host copy bandwidth are"
                        + " measured in the same run.",
                "fwd times la.forward(inputs, options, out, finalState) with finalState null unless --final-state;"
                        + " fwdbwd adds la.backward into caller-allocated gradients (dDecay with --learn-decay). Inputs"
                        + " stay on the backend; each figure is a median of --repeats calls queued back to back after the"
                        + " warm-up, on the backend's clock (CUDA events on GPUs): the call and clock of CudaBench.",
                "The serving modes (SPEC.md section 8) time packed sequences and decode by slot beside the dense"
                        + " call of the same tokens."})
final class BenchCommand implements Callable<Integer> {

    enum Mode {
        FWD(null), FWDBWD(null), PACKED_FWD(ServingMode.PACKED_FWD), PACKED_FWDBWD(ServingMode.PACKED_FWDBWD),
        SLOT_DECODE(ServingMode.SLOT_DECODE);

        /** The serving comparison this mode runs; null for the length sweeps. */
        final ServingMode serving;

        Mode(ServingMode serving) {
            this.serving = serving;
        }

        /** As written on the command line: fwd, packed-fwd. */
        String label() {
            return serving != null ? serving.label() : name().toLowerCase(Locale.ROOT);
        }
    }

    /** Takes the modes as written on the command line: packed-fwd for PACKED_FWD, any case. */
    static final class ModeConverter implements CommandLine.ITypeConverter<Mode> {
        @Override
        public Mode convert(String value) {
            try {
                return Mode.valueOf(value.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not a mode; expected fwd, fwdbwd,"
                        + " packed-fwd, packed-fwdbwd or slot-decode");
            }
        }
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    BackendSelection selection = new BackendSelection();

    @Option(names = "--b", paramLabel = "B", defaultValue = "1", description = "Batch (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--h", paramLabel = "H", defaultValue = "8", description = "Heads (default ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--d", paramLabel = "D", defaultValue = "128", description = "Key dimension (default ${DEFAULT-VALUE}).")
    int keyDim;

    @Option(names = "--e", paramLabel = "E", defaultValue = "128", description = "Value dimension (default ${DEFAULT-VALUE}).")
    int valueDim;

    @Option(names = "--n", paramLabel = "N", split = ",", defaultValue = "1024,4096,16384,65536",
            description = "Sequence lengths (default ${DEFAULT-VALUE}).")
    int[] tokens;

    @Option(names = "--dtype", paramLabel = "TYPE", defaultValue = "FP32", description = "fp32 (default), fp64, bf16 or fp16.")
    DType dtype;

    @Option(names = "--precision", paramLabel = "P", defaultValue = "STRICT", description = "strict (default), tf32x3 or tf32 (how FP32 is multiplied).")
    Precision precision;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "fwd", converter = ModeConverter.class,
            description = "fwd (default) or fwdbwd: a sweep over --n; packed-fwd or packed-fwdbwd: --sequences packed"
                    + " sequences of lengths from 1 to --max-len beside an equal-length batch of the same tokens;"
                    + " slot-decode: one decode step of --sequences pool slots beside the dense decode.")
    Mode mode;

    @Option(names = "--sequences", paramLabel = "S", defaultValue = "16",
            description = "Serving modes: sequences per call, and pool slots for slot-decode (default ${DEFAULT-VALUE}).")
    int sequences;

    @Option(names = "--max-len", paramLabel = "L", defaultValue = "4096",
            description = "Packed modes: lengths are drawn uniformly from 1 to L with a fixed seed (default ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--keep-states", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "fwdbwd: the forward keeps its block states for the backward, as training does"
                    + " (default on; --no-keep-states recomputes them in the backward and needs less memory).")
    boolean keepStates;

    @Option(names = "--learn-decay",
            description = "fwdbwd: the decay is learnable, so the backward also computes its gradient (dDecay);"
                    + " default: a fixed decay.")
    boolean learnDecay;

    @Option(names = "--final-state",
            description = "fwd, fwdbwd: the forward also writes the final state [B, H, D, E]; default: it does not,"
                    + " as CudaBench and the peers it is compared with time it.")
    boolean finalState;

    @Option(names = "--layout", paramLabel = "LAYOUT", defaultValue = "BHND", description = "bhnd (default) or bnhd.")
    Layout layout;

    @Option(names = "--warmup", paramLabel = "K", defaultValue = "3",
            description = "Untimed calls per N, at least (default ${DEFAULT-VALUE}); the warm-up also lasts --warmup-s.")
    int warmup;

    @Option(names = "--warmup-s", paramLabel = "SECONDS", defaultValue = "1",
            description = "Shortest warm-up per N, in seconds, besides the --warmup calls (default ${DEFAULT-VALUE};"
                    + " " + BenchConfig.FIRST_WARMUP_FACTOR + " times that for the first N and for the serving call), so that"
                    + " the JIT has compiled the kernels and a GPU runs at the clocks of a sustained load;"
                    + " 0 leaves the --warmup calls alone.")
    double warmupSeconds;

    @Option(names = "--repeats", paramLabel = "R", defaultValue = "10", description = "Timed calls per N (default ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--json", paramLabel = "FILE",
            description = "Also write the results as JSON: {\"context\": {...}, \"rows\": [one object per N]}.")
    Path json;

    /** Where {@link #json} is written (the file a link names), resolved once before any timing. */
    private Path jsonTarget;

    @Option(names = "--baseline", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Time the ND4J-composed baseline at each N (default on; --no-baseline skips it).")
    boolean baseline;

    @Option(names = "--gemm-size", paramLabel = "S", defaultValue = "2048",
            description = "Size of the sgemm ceiling's square fp32 product (default ${DEFAULT-VALUE}; 0 skips it).")
    int gemmSize;

    @Option(names = "--sgemm-gflops", paramLabel = "GFLOP/s",
            description = "A known fp32 matrix rate to use as the ceiling instead of measuring it with ND4J"
                    + " (for a device backend: the device's measured fp32 matrix rate).")
    Double sgemmGflops;

    @Option(names = "--bandwidth", paramLabel = "GB/s",
            description = "Copy bandwidth (read+write) for the memory floor; default: measured in-run for host backends.")
    Double bandwidth;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the random inputs (default: a fresh one each run).")
    Long seed;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        BenchModeScope.check(spec.commandLine().getParseResult(), mode, keepStates);
        // NaN stands for "not given" below: a NaN typed on the command line is refused, not taken as that.
        if (sgemmGflops != null && sgemmGflops.isNaN() || bandwidth != null && bandwidth.isNaN()) {
            throw new CliException((bandwidth != null && bandwidth.isNaN() ? "--bandwidth" : "--sgemm-gflops")
                    + ": got NaN; expected a rate > 0");
        }
        boolean backward = mode == Mode.FWDBWD || mode.serving != null && mode.serving.backward();
        BenchConfig config = new BenchConfig(selection.backend, selection.options(), batch, heads, keyDim, valueDim,
                tokens, dtype, precision, new BenchCall(backward, keepStates, learnDecay, finalState), layout, warmup,
                warmupSeconds, repeats, baseline, gemmSize,
                sgemmGflops == null ? Double.NaN : sgemmGflops, bandwidth == null ? Double.NaN : bandwidth,
                seed != null ? seed : new java.util.SplittableRandom().nextLong());
        ServingConfig serving = mode.serving == null ? null : new ServingConfig(config, mode.serving, sequences, maxLength);
        if (json != null) {
            // Before the sweep, so a path that cannot be written fails at once, not after minutes of timing.
            jsonTarget = ResultFile.target("--json", json);
            ResultFile.requireWritable("--json", json, jsonTarget);
        }
        if (serving != null) {
            return serve(serving, out, err);
        }
        List<BenchRow> rows;
        Printer printer;
        // The ND4J kit is loaded only here, and its jars stay off the class path of every other command.
        Nd4jKit kit = Nd4jKit.get();
        try (Progress progress = Progress.create(err, "la2 bench", Progress.interactive())) {
            printer = new Printer(out, err, progress, config);
            rows = kit.call(() -> LengthSweep.run(config, kit.bench(), printer));
        }
        out.flush();
        if (rows.isEmpty()) {
            // Each skipped N said why on stderr; a run that measured nothing must not pass for one that did.
            err.println("la2 bench: no N was measured" + (json != null ? "; " + json + " not written" : ""));
            return La2Cli.EXIT_FAILURE;
        }
        if (json != null) {
            String method = "la2 bench: median of " + repeats + " timed calls after at least " + warmup
                    + " warm-up calls and " + printer.warmUpSeconds() + " of them, on the backend's clock;"
                    + " inputs resident on the backend; the call: " + config.call().description();
            writeJson(method, printer.context, rows.stream().map(BenchRow::toJson).toList());
            out.println("wrote " + rows.size() + (rows.size() == 1 ? " row" : " rows") + " to " + json);
        }
        return 0;
    }

    private int serve(ServingConfig config, PrintWriter out, PrintWriter err) throws IOException {
        ServingRow row;
        ServingTable table;
        try (Progress progress = Progress.create(err, "la2 bench", Progress.interactive())) {
            table = new ServingTable(out, err, progress, config);
            row = ServingBench.run(config, table);
        }
        out.flush();
        if (json != null) {
            int half = (repeats + 1) / 2;
            String method = "la2 bench " + config.mode().label() + ": medians of " + 2 * half + " timed calls each of the"
                    + " serving call and its dense counterpart, in blocks of " + half + " ordered serving, dense, dense,"
                    + " serving, after at least " + warmup + " warm-up calls and " + table.warmUpSeconds()
                    + " of them, on the backend's clock;"
                    + " inputs resident on the backend; sequence lengths and slots from seed " + ServingConfig.LAYOUT_SEED;
            writeJson(method, table.context(), List.of(row.toJson()));
            out.println("wrote 1 row to " + json);
        }
        return 0;
    }

    /** {"context": {...}, "rows": [...]}, one row per line. */
    private void writeJson(String method, BenchContext context, List<String> rows) {
        Path target = jsonTarget;
        Path tmp = ResultFile.temporary(target);
        try {
            List<String> lines = new ArrayList<>();
            lines.add("{");
            lines.add(" \"measured_on\": \"" + java.time.Instant.now() + ", " + Runtime.getRuntime().availableProcessors()
                    + " processors, Java " + Runtime.version() + "\",");
            lines.add(" \"method\": \"" + method + "\",");
            lines.add(" \"context\": {" + context.toJsonMembers() + "},");
            lines.add(" \"rows\": [");
            for (int i = 0; i < rows.size(); i++) {
                lines.add("  " + rows.get(i) + (i < rows.size() - 1 ? "," : ""));
            }
            lines.add(" ]");
            lines.add("}");
            Files.write(tmp, lines);
            ResultFile.publish(tmp, target);
        } catch (IOException e) {
            throw new CliException("--json " + json + ": cannot write (" + ResultFile.reason(e) + ")", e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // Nothing was published under the temporary name; a leftover is only a hidden file.
            }
        }
    }

    /** Prints the header once the context is known, then each row as it is measured. */
    static class Printer implements BenchListener {
        private static final String FORMAT = "%8s %10s %21s %9s %11s %8s %9s %10s %10s %8s %8s %10s %8s %7s %7s %7s %6s%n";
        final PrintWriter out;
        private final PrintWriter err;
        private final Progress progress;
        private final BenchConfig config;
        BenchContext context;

        Printer(PrintWriter out, PrintWriter err, Progress progress, BenchConfig config) {
            this.out = out;
            this.err = err;
            this.progress = progress;
            this.config = config;
        }

        @Override
        public void context(BenchContext c) {
            context = c;
            out.printf(Locale.ROOT, "la2 bench: backend %s, %s %s, %s, layout %s, B=%d H=%d D=%d E=%d, warm-up %d"
                            + " calls and %s, repeats %d%n",
                    c.backend(), lower(config.dtype()), lower(config.precision()),
                    config.call().description(), lower(config.layout()),
                    config.batch(), config.heads(), config.keyDim(), config.valueDim(), config.warmup(),
                    warmUpSeconds(), config.repeats());
            out.println("  times: median (min-max) of the timed calls on the backend's clock; on GPUs CUDA events between"
                    + " calls queued back to back (device time per call, host overhead hidden, as triton's do_bench);"
                    + " inputs stay on the backend");
            out.println("  ms/Mtok: ms per million tokens, tokens = B*N (all H heads of a token count once);"
                    + " Mth/s: million token-heads (B*H*N) per second");
            out.println("  GFLOP/s: SPEC.md section 6's notional F = B*H*N*(2*64*(D+E) + 4*D*E)"
                    + (config.call().backward() ? ", fwdbwd counts 3F" : ""));
            out.println("  floor: " + (config.call().backward() ? "|Q|+|K|+|V|+|O| + |Q|+|K|+|V|+|dO|+|dQ|+|dK|+|dV|" : "|Q|+|K|+|V|+|O|")
                    + " at the copy bandwidth; " + c.bandwidth());
            out.println("  peak: backend-reported peak memory, and the JVM heap pools' peak; h2d/d2h: one upload of q,k,v"
                    + (config.call().backward() ? ",dO" : "") + " / one download of o" + (config.call().backward() ? ",dq,dk,dv" : "")
                    + ", timed apart from the medians");
            out.println("  baseline (xND4J = its median / ours): " + c.baseline());
            out.println("  sgemm ceiling (%sgemm = our GFLOP/s / its): " + (c.sgemmGflops() == null ? c.sgemm()
                    : String.format(Locale.ROOT, "%s: %.1f GFLOP/s median (%.1f-%.1f)", c.sgemm(),
                    c.sgemmGflops().median(), c.sgemmGflops().min(), c.sgemmGflops().max())));
            out.println("  FMA peak (%FMApk = our GFLOP/s / the host's fp32 FMA peak; the notional F counts each block's masked"
                    + " half, which the kernels skip, so a fast kernel can pass it): "
                    + c.fmaPeak());
            out.println("  vsN0: ms/Mtok relative to the smallest N (flat = 1.00 is the paper's claim)");
            if (config.call().backward()) {
                out.println("  /fwd: forward+backward over the forward alone, both timed again in calls alternated one by one"
                        + " (a ratio measured under the same load)");
            }
            out.println();
            out.printf(Locale.ROOT, FORMAT, "N", "median ms", "min-max ms", "ms/Mtok", "Mth/s", "GFLOP/s", "floor ms",
                    "peak", "heap peak", "h2d ms", "d2h ms", "ND4J ms", "xND4J", "%sgemm", "%FMApk", "vsN0", "/fwd");
            out.flush();
        }

        /** The shortest warm-up, as the header and the JSON method line say it: 1 s (5 s the first N). */
        String warmUpSeconds() {
            return seconds(config.warmupSeconds(false)) + " (" + seconds(config.warmupSeconds(true)) + " the first N)";
        }

        @Override
        public void progress(String stage, long done, long total) {
            progress.update(stage, done, total);
        }

        void clearProgress() {
            progress.clearLine();
        }

        @Override
        public void row(BenchRow r) {
            progress.clearLine();
            out.printf(Locale.ROOT, FORMAT, r.n(), ms(r.ms().median()),
                    ms(r.ms().min()) + "-" + ms(r.ms().max()), fixed(r.msPerMillionTokens(), 2),
                    fixed(r.tokenHeadsPerSecond() / 1e6, 2), fixed(r.gflops(), 1), r.floorMs() > 0 ? ms(r.floorMs()) : "n/a",
                    r.peakBackendBytes() < 0 ? "n/a" : bytes(r.peakBackendBytes()), bytes(r.peakHeapBytes()),
                    ms(r.hostToDeviceMs()), ms(r.deviceToHostMs()),
                    Double.isNaN(r.baselineMsMedian()) ? "n/a" : ms(r.baselineMsMedian()),
                    Double.isNaN(r.speedupVsBaseline()) ? "n/a" : fixed(r.speedupVsBaseline(), 2),
                    Double.isNaN(r.fractionOfSgemm()) ? "n/a" : fixed(100 * r.fractionOfSgemm(), 1),
                    Double.isNaN(r.fractionOfFmaPeak()) ? "n/a" : fixed(100 * r.fractionOfFmaPeak(), 1),
                    fixed(r.perTokenVsSmallestN(), 2), fixed(r.ratioToForward(), 2));
            out.flush();
        }

        @Override
        public void note(String message) {
            progress.clearLine();
            err.println("la2 bench: " + message);
            err.flush();
        }

        static String lower(Enum<?> e) {
            return e.name().toLowerCase(Locale.ROOT);
        }

        static String ms(double v) {
            if (!Double.isFinite(v)) {
                return "n/a";
            }
            return v >= 100 ? fixed(v, 1) : v >= 1 ? fixed(v, 3) : fixed(v, 4);
        }

        /** A duration in seconds as given: 1 s, 0.25 s. */
        static String seconds(double v) {
            return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString() + " s";
        }

        static String fixed(double v, int digits) {
            return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + digits + "f", v) : "n/a";
        }

        private static String bytes(long b) {
            if (b < 0) {
                return "n/a";
            }
            if (b < 1 << 20) {
                return String.format(Locale.ROOT, "%.1fKiB", b / 1024.0);
            }
            if (b < 1L << 30) {
                return String.format(Locale.ROOT, "%.1fMiB", b / (double) (1 << 20));
            }
            return String.format(Locale.ROOT, "%.2fGiB", b / (double) (1L << 30));
        }
    }
}
