package dev.la2.cli;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteOrder;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Compute the function (and with --do its gradients) on NumPy .npy arrays.",
                "",
                "With --cu-seqlens q, k, v and do are packed [T,H,*] sequences (SPEC.md section 8). Arrays are float16 ('<f2'), float32 ('<f4') or float64 ('<f8') in C order. q, k: [B,H,N,D] (bhnd) "
                        + "or [B,N,H,D] (bnhd); v, do: the same with E; decay: [H]; states: [B,H,D,E]. Float64 arrays "
                        + "are computed in FP64 and float16 arrays stored as FP16 (fp32 arithmetic) where the backend "
                        + "has them.",
                "",
                "Writes o.npy and final_state.npy (with --do also dq, dk, dv, dinitial_state and, with "
                        + "--learnable-decay, ddecay) in the arrays' dtype; for float16 arrays the states and ddecay in "
                        + "float32, as la2 holds them. On any error nothing is written: one line on stderr, exit code 2.",
                ""})
final class RunCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    BackendSelection selection = new BackendSelection();

    @Option(names = "--q", required = true, paramLabel = "FILE", description = "Queries [B,H,N,D] or [B,N,H,D].")
    Path qFile;

    @Option(names = "--k", required = true, paramLabel = "FILE", description = "Keys, shaped like q.")
    Path kFile;

    @Option(names = "--v", required = true, paramLabel = "FILE", description = "Values [B,H,N,E] or [B,N,H,E].")
    Path vFile;

    @Option(names = "--decay", required = true, paramLabel = "FILE", description = "Decay rates s_h >= 0, [H].")
    Path decayFile;

    @Option(names = "--scale", paramLabel = "X", defaultValue = "1.0", description = "Scale c (default 1.0).")
    double scale;

    @Option(names = "--initial-state", paramLabel = "FILE", description = "Initial state S0 [B,H,D,E] (default zero).")
    Path initialStateFile;

    @Option(names = "--do", paramLabel = "FILE", description = "Gradient of the output, shaped like v: also computes gradients.")
    Path dOutputFile;

    @Option(names = "--dfinal-state", paramLabel = "FILE", description = "Gradient of the final state [B,H,D,E] (needs --do).")
    Path dFinalStateFile;

    @Option(names = "--learnable-decay", description = "Also compute ddecay.npy, the decay gradient summed over the batch (needs --do).")
    boolean learnableDecay;

    @Option(names = "--check-finite", description = "Reject inputs holding NaN or infinity, naming the first such element "
            + "(by default they propagate to the outputs they touch).")
    boolean checkFinite;

    @Option(names = "--layout", paramLabel = "LAYOUT", defaultValue = "BHND", description = "bhnd (default) or bnhd.")
    Layout layout;

    @Option(names = "--cu-seqlens", paramLabel = "FILE", description = "Sequence offsets (int32 or int64, [S+1], from 0 "
            + "to T): q, k [T,H,D], v and do [T,H,E] hold S packed sequences; states are then [S,H,D,E] (--layout does "
            + "not apply).")
    Path cuSeqlensFile;

    @Option(names = "--state-pool", paramLabel = "FILE", description = "With --cu-seqlens and --slots: a state pool "
            + "[P,H,D,E] in place of --initial-state; sequence i starts from slot slots[i] and leaves its final state "
            + "there. Writes state_pool.npy, the pool after the call, instead of final_state.npy.")
    Path statePoolFile;

    @Option(names = "--slots", paramLabel = "FILE", description = "Each sequence's pool slot (int32 or int64, [S]); -1: "
            + "start from zero, write nothing back.")
    Path slotsFile;

    @Option(names = "--fresh", paramLabel = "FILE", description = "With --slots: 1 for each sequence that starts anew in "
            + "its slot (from zero whatever the slot holds, its final state written back), else 0 (int32 or int64, [S]).")
    Path freshFile;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory for the result files (created if missing).")
    Path outDir;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (dOutputFile == null && dFinalStateFile != null) {
            throw new CliException("--dfinal-state needs --do (the gradient of the output)");
        }
        if (dOutputFile == null && learnableDecay) {
            throw new CliException("--learnable-decay needs --do: the decay gradient comes from the backward pass");
        }
        if (Files.exists(outDir) && !Files.isDirectory(outDir)) {
            throw new CliException("--out " + outDir + ": exists and is not a directory");
        }
        try {
            return cuSeqlensFile != null
                    ? new PackedRun(this).call(out, err, spec.commandLine().getParseResult().hasMatchedOption("--layout"))
                    : dense(out, err);
        } catch (La2ArgumentException ex) {
            throw byOption(ex);
        }
    }

    /**
     * The library's refusal of an argument, told as the option (and file) it came from: the library
     * names its own argument ("scale"), the user typed "--scale".
     */
    private RuntimeException byOption(La2ArgumentException ex) {
        String option = switch (ex.argument()) {
            case "q" -> "--q " + qFile;
            case "k" -> "--k " + kFile;
            case "v" -> "--v " + vFile;
            case "decay" -> "--decay " + decayFile;
            case "scale" -> "--scale";
            case "initialState" -> "--initial-state " + initialStateFile;
            case "dOutput" -> "--do " + dOutputFile;
            case "dFinalState" -> "--dfinal-state " + dFinalStateFile;
            case "pool" -> "--state-pool " + statePoolFile;
            case "slots" -> "--slots " + slotsFile;
            case "fresh" -> "--fresh " + freshFile;
            default -> null;
        };
        return option == null ? ex : new CliException(option + ": got " + ex.got() + "; expected " + ex.expected(), ex);
    }

    private int dense(PrintWriter out, PrintWriter err) throws IOException {
        if (statePoolFile != null || slotsFile != null || freshFile != null) {
            throw new CliException((statePoolFile != null ? "--state-pool" : slotsFile != null ? "--slots" : "--fresh")
                    + " needs --cu-seqlens (pools serve packed sequences)");
        }

        NpyArray q = read("--q", qFile);
        NpyArray k = read("--k", kFile);
        NpyArray v = read("--v", vFile);
        NpyArray decay = read("--decay", decayFile);
        NpyArray s0 = initialStateFile == null ? null : read("--initial-state", initialStateFile);
        NpyArray dOut = dOutputFile == null ? null : read("--do", dOutputFile);
        NpyArray dFinal = dFinalStateFile == null ? null : read("--dfinal-state", dFinalStateFile);

        // Shapes, named by option and file, before any backend is started.
        rank("--q", qFile, q, 4, layout.axes('D'));
        int b = layout.batch(shape(q)), h = layout.heads(shape(q)), n = layout.tokens(shape(q)), d = layout.features(shape(q));
        same("--k", kFile, k, q.shape(), "q's shape " + layout.axes('D'));
        rank("--v", vFile, v, 4, layout.axes('E'));
        int e = layout.features(shape(v));
        int[] valueShape = layout.shape(b, h, n, e).dims();
        same("--v", vFile, v, valueShape, "B=" + b + ", H=" + h + ", N=" + n + " as in q, " + layout.axes('E'));
        same("--decay", decayFile, decay, new int[] {h}, "[H] with H=" + h + " as in q");
        int[] stateShape = {b, h, d, e};
        if (s0 != null) {
            same("--initial-state", initialStateFile, s0, stateShape, "[B,H,D,E]");
        }
        if (dOut != null) {
            same("--do", dOutputFile, dOut, valueShape, "v's shape " + layout.axes('E'));
        }
        if (dFinal != null) {
            same("--dfinal-state", dFinalStateFile, dFinal, stateShape, "[B,H,D,E]");
        }
        // Sequence arrays share one dtype; that dtype is what the results are written in.
        NpyArray.Type fileType = q.type();
        sameType("--k", kFile, k, fileType);
        sameType("--v", vFile, v, fileType);
        if (dOut != null) {
            sameType("--do", dOutputFile, dOut, fileType);
        }

        Map<String, NpyArray> results = new LinkedHashMap<>();
        try (LightningAttention la = LightningAttention.open(selection.backend, selection.options())) {
            DType dtype = dtypeFor(la, fileType, err);
            NpyArray.Type stateFileType = stateFileType(fileType);
            DType state = dtype.stateType();
            List<Tensor> made = new ArrayList<>();
            try {
                Tensor tq = track(made, tensor(la, q, dtype));
                Tensor tk = track(made, tensor(la, k, dtype));
                Tensor tv = track(made, tensor(la, v, dtype));
                Tensor td = track(made, tensor(la, decay, state));
                Tensor ts0 = s0 == null ? null : track(made, tensor(la, s0, state));
                AttentionInputs inputs = new AttentionInputs(tq, tk, tv, td, ts0);
                AttentionOptions options = AttentionOptions.defaults().withScale(scale).withLayout(layout)
                        .withFinalState(true).withLearnableDecay(learnableDecay).withFiniteCheck(checkFinite);
                try (ForwardResult r = la.forward(inputs, options)) {
                    results.put("o.npy", result(r.output(), fileType, valueShape));
                    results.put("final_state.npy", result(r.finalState(), stateFileType, stateShape));
                }
                if (dOut != null) {
                    Tensor tdo = track(made, tensor(la, dOut, dtype));
                    Tensor tdf = dFinal == null ? null : track(made, tensor(la, dFinal, state));
                    try (Gradients g = la.backward(inputs, tdo, tdf, options)) {
                        putGradients(results, g, fileType, q.shape(), valueShape, stateShape);
                    }
                }
            } finally {
                made.forEach(Tensor::close);
            }
            writeAll(outDir, results);
            out.println("la2 run: backend " + la.backendName() + ", " + dtype + ", " + layout + ", B=" + b + " H=" + h
                    + " N=" + n + " D=" + d + " E=" + e + ", scale " + scale);
        }
        listWritten(out, outDir, results);
        return 0;
    }

    /** The storage type for arrays of {@code fileType}: its own where the backend has it, else FP32 (said on stderr). */
    static DType dtypeFor(LightningAttention la, NpyArray.Type fileType, PrintWriter err) {
        DType wanted = switch (fileType) {
            case FLOAT16 -> DType.FP16;
            case FLOAT32 -> DType.FP32;
            case FLOAT64 -> DType.FP64;
            case INT32, INT64 -> throw new IllegalStateException("sequence arrays are float arrays");
        };
        DType dtype = la.dtypes().contains(wanted) ? wanted : DType.FP32;
        if (dtype != wanted) {
            err.println("la2 run: note: backend '" + la.backendName() + "' has no " + wanted + "; computing the "
                    + fileType.name().toLowerCase(java.util.Locale.ROOT) + " arrays in FP32 (results are written as "
                    + fileType.name().toLowerCase(java.util.Locale.ROOT) + ")");
        }
        if (!la.dtypes().contains(dtype)) {
            throw new CliException("--backend " + la.backendName() + ": supports " + la.dtypes() + ", not " + dtype);
        }
        return dtype;
    }

    /** States and the decay gradient are held in the state type: FP32 for 16-bit sequences. */
    static NpyArray.Type stateFileType(NpyArray.Type fileType) {
        return fileType == NpyArray.Type.FLOAT16 ? NpyArray.Type.FLOAT32 : fileType;
    }

    /** dq, dk, dv, dinitial_state and, when computed, ddecay. */
    static void putGradients(Map<String, NpyArray> results, Gradients g, NpyArray.Type fileType, int[] keyShape,
                             int[] valueShape, int[] stateShape) {
        NpyArray.Type stateType = stateFileType(fileType);
        results.put("dq.npy", result(g.dq(), fileType, keyShape));
        results.put("dk.npy", result(g.dk(), fileType, keyShape));
        results.put("dv.npy", result(g.dv(), fileType, valueShape));
        results.put("dinitial_state.npy", result(g.dInitialState(), stateType, stateShape));
        if (g.dDecay() != null) {
            results.put("ddecay.npy", result(g.dDecay(), stateType, new int[] {stateShape[1]}));
        }
    }

    static void listWritten(PrintWriter out, Path outDir, Map<String, NpyArray> results) {
        for (Map.Entry<String, NpyArray> r : results.entrySet()) {
            out.println("  wrote " + outDir.resolve(r.getKey()) + "  " + r.getValue());
        }
    }

    static NpyArray read(String option, Path file) throws IOException {
        return read(option, file, false);
    }

    /** A float array, or with {@code indices} an int32 or int64 one; failures name the option and file. */
    static NpyArray read(String option, Path file, boolean indices) throws IOException {
        try {
            return indices ? NpyArray.readIndices(file) : NpyArray.read(file);
        } catch (NoSuchFileException e) {
            throw new CliException(option + " " + file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new CliException(option + " " + file + ": permission denied");
        } catch (NpyFormatException e) {
            throw new CliException(option + " " + e.getMessage());
        }
    }

    static Shape shape(NpyArray a) {
        return Shape.of(a.shape());
    }

    static void rank(String option, Path file, NpyArray a, int rank, String expected) {
        if (a.rank() != rank) {
            throw new CliException(option + " " + file + ": got shape " + a.shapeString() + " (rank " + a.rank()
                    + "); expected rank " + rank + ", " + expected);
        }
        for (int extent : a.shape()) {
            if (extent < 1) {
                throw new CliException(option + " " + file + ": got shape " + a.shapeString() + "; every extent must be >= 1");
            }
        }
    }

    static void same(String option, Path file, NpyArray a, int[] shape, String expected) {
        if (!Arrays.equals(a.shape(), shape)) {
            throw new CliException(option + " " + file + ": got shape " + a.shapeString() + "; expected "
                    + NpyArray.tuple(shape) + " (" + expected + ")");
        }
    }

    static void sameType(String option, Path file, NpyArray a, NpyArray.Type type) {
        if (a.type() != type) {
            throw new CliException(option + " " + file + ": got dtype '" + a.type().descr() + "'; expected '"
                    + type.descr() + "' like q (q, k, v and do share one dtype)");
        }
    }

    /** Zero-copy from the mapped file where the element types agree (and memory is little-endian). */
    static Tensor tensor(LightningAttention la, NpyArray a, DType dtype) {
        Shape shape = Shape.of(a.shape());
        boolean rawMatches = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN
                && (a.type() == NpyArray.Type.FLOAT16 && dtype == DType.FP16
                || a.type() == NpyArray.Type.FLOAT32 && dtype == DType.FP32
                || a.type() == NpyArray.Type.FLOAT64 && dtype == DType.FP64);
        if (rawMatches) {
            return la.tensor(a.data(), dtype, shape);
        }
        return a.type() == NpyArray.Type.FLOAT64 ? la.tensor(a.toDoubleArray(), dtype, shape)
                : la.tensor(a.toFloatArray(), dtype, shape);
    }

    static NpyArray result(Tensor t, NpyArray.Type type, int[] shape) {
        return switch (type) {
            case FLOAT16 -> NpyArray.ofFloat16(t.toDoubleArray(), shape);
            case FLOAT32 -> NpyArray.of(t.toFloatArray(), shape);
            case FLOAT64 -> NpyArray.of(t.toDoubleArray(), shape);
            case INT32, INT64 -> throw new IllegalStateException("results are float arrays");
        };
    }

    static Tensor track(List<Tensor> made, Tensor t) {
        made.add(t);
        return t;
    }

    /**
     * Everything was computed before this: write each file under a temporary name, then rename
     * ({@link ResultFile}), so a failure leaves no partial set behind. The directory and every name
     * in it are checked before the first byte is written.
     */
    static void writeAll(Path outDir, Map<String, NpyArray> results) {
        ResultFile.createDirectories("--out", outDir, outDir);
        Map<String, Path> targets = new LinkedHashMap<>();
        for (String name : results.keySet()) {
            targets.put(name, ResultFile.target("--out", outDir.resolve(name)));
        }
        Map<Path, Path> written = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, NpyArray> r : results.entrySet()) {
                Path target = targets.get(r.getKey());
                Path tmp = ResultFile.temporary(target);
                written.put(tmp, target);
                r.getValue().write(tmp);
            }
            for (Map.Entry<Path, Path> w : written.entrySet()) {
                ResultFile.publish(w.getKey(), w.getValue());
            }
        } catch (IOException | RuntimeException ex) {
            for (Path tmp : written.keySet()) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException cleanup) {
                    ex.addSuppressed(cleanup);
                }
            }
            throw new CliException("--out " + outDir + ": cannot write results (" + ResultFile.reason(ex) + ")", ex);
        }
    }
}
