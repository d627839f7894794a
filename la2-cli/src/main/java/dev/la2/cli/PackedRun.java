package dev.la2.cli;

import static dev.la2.cli.RunCommand.rank;
import static dev.la2.cli.RunCommand.read;
import static dev.la2.cli.RunCommand.result;
import static dev.la2.cli.RunCommand.same;
import static dev.la2.cli.RunCommand.sameType;
import static dev.la2.cli.RunCommand.tensor;
import static dev.la2.cli.RunCommand.track;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SavedForward;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code la2 run --cu-seqlens}: packed sequences (SPEC.md section 8) with dense states
 * ({@code --initial-state}, {@code final_state.npy}) or a state pool ({@code --state-pool},
 * {@code --slots}, {@code state_pool.npy}). As the dense run, every check comes before any file
 * is written.
 */
final class PackedRun {
    private final RunCommand c;

    PackedRun(RunCommand command) {
        this.c = command;
    }

    int call(PrintWriter out, PrintWriter err, boolean layoutGiven) throws IOException {
        if (layoutGiven) {
            throw new CliException("--layout: applies to dense [B,H,N,*] or [B,N,H,*] arrays, not to --cu-seqlens"
                    + " (packed sequences are token-major [T,H,*])");
        }
        if (c.statePoolFile != null && c.initialStateFile != null) {
            throw new CliException("--state-pool takes the place of --initial-state; give one of them");
        }
        if ((c.statePoolFile == null) != (c.slotsFile == null)) {
            throw new CliException(c.statePoolFile == null ? "--slots needs --state-pool" : "--state-pool needs --slots");
        }
        if (c.freshFile != null && c.slotsFile == null) {
            throw new CliException("--fresh needs --slots and --state-pool (it marks sequences starting anew in their slots)");
        }
        NpyArray q = read("--q", c.qFile);
        NpyArray k = read("--k", c.kFile);
        NpyArray v = read("--v", c.vFile);
        NpyArray decay = read("--decay", c.decayFile);
        NpyArray s0 = c.initialStateFile == null ? null : read("--initial-state", c.initialStateFile);
        NpyArray pool = c.statePoolFile == null ? null : read("--state-pool", c.statePoolFile);
        NpyArray dOut = c.dOutputFile == null ? null : read("--do", c.dOutputFile);
        NpyArray dFinal = c.dFinalStateFile == null ? null : read("--dfinal-state", c.dFinalStateFile);

        rank("--q", c.qFile, q, 3, "[T,H,D] (packed sequences, with --cu-seqlens)");
        int t = q.shape()[0], h = q.shape()[1], d = q.shape()[2];
        same("--k", c.kFile, k, q.shape(), "q's shape [T,H,D]");
        rank("--v", c.vFile, v, 3, "[T,H,E]");
        int e = v.shape()[2];
        int[] valueShape = {t, h, e};
        same("--v", c.vFile, v, valueShape, "T=" + t + ", H=" + h + " as in q, [T,H,E]");
        same("--decay", c.decayFile, decay, new int[] {h}, "[H] with H=" + h + " as in q");
        SequenceOffsets offsets = offsets(t);
        int s = offsets.sequences();
        int[] stateShape = {s, h, d, e};
        if (s0 != null) {
            same("--initial-state", c.initialStateFile, s0, stateShape, "[S,H,D,E] with S=" + s + " sequences");
        }
        int[] slots = null;
        if (pool != null) {
            rank("--state-pool", c.statePoolFile, pool, 4, "[P,H,D,E]");
            same("--state-pool", c.statePoolFile, pool, new int[] {pool.shape()[0], h, d, e}, "[P,H,D,E] with H=" + h
                    + ", D=" + d + ", E=" + e);
            slots = indices("--slots", c.slotsFile);
        }
        boolean[] fresh = c.freshFile == null ? null : marks("--fresh", c.freshFile);
        if (dOut != null) {
            same("--do", c.dOutputFile, dOut, valueShape, "v's shape [T,H,E]");
        }
        if (dFinal != null) {
            same("--dfinal-state", c.dFinalStateFile, dFinal, stateShape, "[S,H,D,E] with S=" + s + " sequences");
        }
        NpyArray.Type fileType = q.type();
        sameType("--k", c.kFile, k, fileType);
        sameType("--v", c.vFile, v, fileType);
        if (dOut != null) {
            sameType("--do", c.dOutputFile, dOut, fileType);
        }

        Map<String, NpyArray> results = new LinkedHashMap<>();
        try (LightningAttention la = LightningAttention.open(c.selection.backend, c.selection.options())) {
            DType dtype = RunCommand.dtypeFor(la, fileType, err);
            DType state = dtype.stateType();
            NpyArray.Type stateFileType = RunCommand.stateFileType(fileType);
            List<Tensor> made = new ArrayList<>();
            try {
                PackedInputs inputs = new PackedInputs(track(made, tensor(la, q, dtype)), track(made, tensor(la, k, dtype)),
                        track(made, tensor(la, v, dtype)), track(made, tensor(la, decay, state)), offsets,
                        s0 == null ? null : track(made, tensor(la, s0, state)));
                AttentionOptions options = AttentionOptions.defaults().withScale(c.scale).withFinalState(true)
                        .withLearnableDecay(c.learnableDecay).withFiniteCheck(c.checkFinite)
                        .withSaveForBackward(pool != null && dOut != null);
                Tensor tdo = dOut == null ? null : track(made, tensor(la, dOut, dtype));
                Tensor tdf = dFinal == null ? null : track(made, tensor(la, dFinal, state));
                if (pool == null) {
                    try (ForwardResult r = la.forwardPacked(inputs, options)) {
                        results.put("o.npy", result(r.output(), fileType, valueShape));
                        results.put("final_state.npy", result(r.finalState(), stateFileType, stateShape));
                    }
                    if (tdo != null) {
                        try (Gradients g = la.backwardPacked(inputs, tdo, tdf, options, null)) {
                            RunCommand.putGradients(results, g, fileType, q.shape(), valueShape, stateShape);
                        }
                    }
                } else {
                    Tensor tpool = track(made, tensor(la, pool, state));
                    Tensor o = track(made, la.allocate(dtype, Shape.of(valueShape)));
                    int[] slotList = slots;
                    PoolSlots states = fresh == null ? PoolSlots.of(tpool, slotList) : PoolSlots.of(tpool, slotList).withFresh(fresh);
                    try (SavedForward saved = la.forwardPacked(inputs, states, options, o)) {
                        results.put("o.npy", result(o, fileType, valueShape));
                        results.put("state_pool.npy", result(tpool, stateFileType, pool.shape()));
                        if (tdo != null) {
                            try (Gradients g = la.backwardPacked(inputs, tdo, tdf, options, saved)) {
                                RunCommand.putGradients(results, g, fileType, q.shape(), valueShape, stateShape);
                            }
                        }
                    }
                }
            } finally {
                made.forEach(Tensor::close);
            }
            RunCommand.writeAll(c.outDir, results);
            out.println("la2 run: backend " + la.backendName() + ", " + dtype + ", packed S=" + s + " T=" + t + " H=" + h
                    + " D=" + d + " E=" + e + (pool == null ? "" : ", pool P=" + pool.shape()[0]) + ", scale " + c.scale);
        }
        RunCommand.listWritten(out, c.outDir, results);
        return 0;
    }

    /** The offsets of --cu-seqlens, which must run from 0 to T without decreasing. */
    private SequenceOffsets offsets(int tokens) throws IOException {
        int[] raw = indices("--cu-seqlens", c.cuSeqlensFile);
        SequenceOffsets offsets;
        try {
            offsets = new SequenceOffsets(raw);
        } catch (La2ArgumentException ex) {
            throw new CliException("--cu-seqlens " + c.cuSeqlensFile + ": " + ex.getMessage());
        }
        if (offsets.sequences() < 1 || offsets.tokens() != tokens) {
            throw new CliException("--cu-seqlens " + c.cuSeqlensFile + ": got offsets ending at " + offsets.tokens()
                    + " for " + offsets.sequences() + " sequences; expected S+1 >= 2 offsets ending at T = " + tokens
                    + ", q's first extent");
        }
        return offsets;
    }

    /** A one-dimensional int32 or int64 array of 0 and 1. */
    private static boolean[] marks(String option, Path file) throws IOException {
        int[] raw = indices(option, file);
        boolean[] marks = new boolean[raw.length];
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] != 0 && raw[i] != 1) {
                throw new CliException(option + " " + file + ": got " + raw[i] + " at [" + i + "]; expected 0 or 1");
            }
            marks[i] = raw[i] == 1;
        }
        return marks;
    }

    /** A one-dimensional int32 or int64 array. */
    private static int[] indices(String option, Path file) throws IOException {
        NpyArray a = read(option, file, true);
        if (a.rank() != 1) {
            throw new CliException(option + " " + file + ": got shape " + a.shapeString() + "; expected one dimension");
        }
        try {
            return a.toIntArray();
        } catch (IllegalArgumentException ex) {
            throw new CliException(option + " " + file + ": " + ex.getMessage());
        }
    }
}
