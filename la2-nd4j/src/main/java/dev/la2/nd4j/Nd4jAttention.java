package dev.la2.nd4j;

import static dev.la2.nd4j.CallShapes.checkShape;
import static dev.la2.nd4j.CallShapes.dims;
import static dev.la2.nd4j.CallShapes.packedDims;
import static dev.la2.nd4j.CallShapes.required;
import static dev.la2.nd4j.CallShapes.requiredOptions;
import static dev.la2.nd4j.CallShapes.sameStateType;
import static dev.la2.nd4j.CallShapes.sameType;
import static dev.la2.nd4j.CallShapes.sequenceShape;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.SavedForward;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.nd4j.CallShapes.Dims;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Runs an la2 backend on INDArrays: q, k, v, decay and states in, outputs and gradients out.
 *
 * <p>Sequence arrays are in one {@link SequenceFormat}; for the rank-3 DL4J formats the feature
 * axis holds {@code heads} heads of D (or E) features each. Decay rates are any array of H
 * elements, states [B, H, D, E]; both are held in {@link DType#stateType()} of the sequences'
 * type (another floating type is converted on the way in).
 *
 * <p>A dense row-major FLOAT/DOUBLE/BFLOAT16/HALF array is handed to the backend without a copy when
 * the backend can {@linkplain LightningAttention#wrap wrap} host memory; anything else (an NCW
 * array, a strided view, a device backend) is copied once in and results once out. The numbers
 * are the same either way, and so are the refusals: an output sharing memory with an input or
 * another output is refused before any work whether it would be viewed or copied. The backend runs
 * synchronously, so wrapped memory is only used during the call. The {@code layout} of the options
 * passed in is ignored: the format decides it.
 *
 * <p>On ND4J's CUDA backend every array is brought to the host before it is read and ND4J is told of
 * every host write, so that neither side sees stale memory; other ND4J backends than CPU and CUDA are
 * refused with an {@link IllegalStateException} naming them.
 *
 * <p>Thread-safe as far as the backend is (la2 backends are).
 */
public final class Nd4jAttention {
    private final LightningAttention attention;
    private final boolean zeroCopy;
    private final java.util.concurrent.atomic.AtomicLong copiedBytes = new java.util.concurrent.atomic.AtomicLong();

    /** An adapter that views ND4J memory directly wherever it can. */
    public Nd4jAttention(LightningAttention attention) {
        this(attention, true);
    }

    /**
     * @param zeroCopy false to copy every array even where a view would do (for tests and for
     *                 measuring what zero-copy saves)
     */
    public Nd4jAttention(LightningAttention attention, boolean zeroCopy) {
        this.attention = Objects.requireNonNull(attention, "attention");
        this.zeroCopy = zeroCopy;
    }

    public LightningAttention attention() {
        return attention;
    }

    /** Bytes this adapter has copied between ND4J and backend memory so far; 0 while every array was viewed in place. */
    public long copiedBytes() {
        return copiedBytes.get();
    }

    /**
     * @param output     in the sequences' format and type
     * @param finalState [B, H, D, E] or null when not requested
     */
    public record Result(INDArray output, INDArray finalState) {
    }

    /** Gradients shaped like the corresponding inputs; dDecay [H] is null unless the decay is learnable. */
    public record Grads(INDArray dq, INDArray dk, INDArray dv, INDArray dInitialState, INDArray dDecay) {
    }

    /** Allocates the output (and the final state when the options ask for it) outside any workspace. */
    public Result forward(SequenceFormat format, int heads, INDArray q, INDArray k, INDArray v, INDArray decay,
                          INDArray initialState, AttentionOptions options) {
        requiredOptions(options);
        Dims d = dims(format, heads, q, k, v);
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray out = Nd4j.createUninitialized(q.dataType(), sequenceShape(format, d, d.valueDim()));
            INDArray fin = options.returnFinalState()
                    ? Nd4j.createUninitialized(Nd4jTensors.dataType(d.dtype().stateType()),
                            d.batch(), d.heads(), d.keyDim(), d.valueDim())
                    : null;
            forward(format, heads, q, k, v, decay, initialState, options, out, fin);
            return new Result(out, fin);
        }
    }

    /**
     * Writes the output into {@code output} and, when non-null, the final state into {@code finalState}.
     * Returns what the backend kept for the backward when {@link AttentionOptions#saveForBackward()}
     * asks for it (else null; see {@link SavedForward}); pass it to the backward on the same arrays,
     * then close it.
     */
    public SavedForward forward(SequenceFormat format, int heads, INDArray q, INDArray k, INDArray v, INDArray decay,
                                INDArray initialState, AttentionOptions options, INDArray output, INDArray finalState) {
        requiredOptions(options);
        Dims d = dims(format, heads, q, k, v);
        inputs(q, k, v, decay, initialState).output("output", output).output("finalState", finalState);
        try (Bindings b = new Bindings()) {
            AttentionInputs in = b.inputs(format, q, k, v, decay, initialState, d);
            Tensor to = b.out(format, required(output, "output"), d, d.valueDim(), "output");
            Tensor tf = finalState == null ? null : b.stateOut(finalState, d, "finalState");
            SavedForward saved = attention.forward(in, options.withLayout(format.layout()), to, tf);
            return b.copyBack(saved);
        }
    }

    /** Allocates every gradient outside any workspace. */
    public Grads backward(SequenceFormat format, int heads, INDArray q, INDArray k, INDArray v, INDArray decay,
                          INDArray initialState, INDArray dOutput, INDArray dFinalState, AttentionOptions options) {
        requiredOptions(options);
        Dims d = dims(format, heads, q, k, v);
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            DataType st = Nd4jTensors.dataType(d.dtype().stateType());
            Grads g = new Grads(
                    Nd4j.createUninitialized(q.dataType(), q.shape()),
                    Nd4j.createUninitialized(q.dataType(), k.shape()),
                    Nd4j.createUninitialized(q.dataType(), v.shape()),
                    Nd4j.createUninitialized(st, d.batch(), d.heads(), d.keyDim(), d.valueDim()),
                    options.learnableDecay() ? Nd4j.createUninitialized(st, d.heads()) : null);
            backward(format, heads, q, k, v, decay, initialState, dOutput, dFinalState, options, g);
            return g;
        }
    }

    /**
     * Writes the gradients into {@code into}, whose dDecay must be non-null exactly when the options
     * declare the decay learnable. dFinalState may be null (no gradient reaches the final state).
     */
    public void backward(SequenceFormat format, int heads, INDArray q, INDArray k, INDArray v, INDArray decay,
                         INDArray initialState, INDArray dOutput, INDArray dFinalState, AttentionOptions options,
                         Grads into) {
        backward(format, heads, q, k, v, decay, initialState, dOutput, dFinalState, options, null, into);
    }

    /** As the method above, reading what the forward call on the same arrays kept ({@code saved}, may be null). */
    public void backward(SequenceFormat format, int heads, INDArray q, INDArray k, INDArray v, INDArray decay,
                         INDArray initialState, INDArray dOutput, INDArray dFinalState, AttentionOptions options,
                         SavedForward saved, Grads into) {
        requiredOptions(options);
        required(into, "into");
        Dims d = dims(format, heads, q, k, v);
        gradients(inputs(q, k, v, decay, initialState), dOutput, dFinalState, into);
        try (Bindings b = new Bindings()) {
            AttentionInputs in = b.inputs(format, q, k, v, decay, initialState, d);
            Tensor tdo = b.in(format, required(dOutput, "dOutput"), d, d.valueDim(), "dOutput");
            Tensor tdf = dFinalState == null ? null : b.state(dFinalState, d, "dFinalState");
            Tensor gq = b.out(format, required(into.dq(), "into.dq"), d, d.keyDim(), "into.dq");
            Tensor gk = b.out(format, required(into.dk(), "into.dk"), d, d.keyDim(), "into.dk");
            Tensor gv = b.out(format, required(into.dv(), "into.dv"), d, d.valueDim(), "into.dv");
            Tensor gs = b.stateOut(required(into.dInitialState(), "into.dInitialState"), d, "into.dInitialState");
            Tensor gd = into.dDecay() == null ? null : b.vectorOut(into.dDecay(), d, "into.dDecay");
            attention.backward(in, tdo, tdf, options.withLayout(format.layout()), saved,
                    new Gradients(gq, gk, gv, gs, gd));
            b.copyBack();
        }
    }

    /**
     * A packed forward (SPEC.md section 8): q, k [T, H, D] and v, {@code output} [T, H, E] token-major,
     * sequence i at tokens {@code offsets[i]} to {@code offsets[i+1]}; states [S, H, D, E]
     * ({@code initialState} and {@code finalState} may be null). Returns what the backend kept when
     * the options ask for it, for {@link #backwardPacked} on the same arrays and offsets.
     */
    public SavedForward forwardPacked(INDArray q, INDArray k, INDArray v, INDArray decay, SequenceOffsets offsets,
                                      INDArray initialState, AttentionOptions options, INDArray output,
                                      INDArray finalState) {
        requiredOptions(options);
        Dims d = packedDims(q, k, v, offsets);
        inputs(q, k, v, decay, initialState).output("output", output).output("finalState", finalState);
        try (Bindings b = new Bindings()) {
            PackedInputs in = b.packedInputs(q, k, v, decay, offsets, initialState, d);
            Tensor to = b.packedOut(required(output, "output"), d, d.valueDim(), "output");
            Tensor tf = finalState == null ? null : b.stateOut(finalState, d, "finalState");
            SavedForward saved = attention.forwardPacked(in, options, to, tf);
            return b.copyBack(saved);
        }
    }

    /** Gradients of {@link #forwardPacked}, into {@code into} ([S, H, D, E] dInitialState); dFinalState may be null. */
    public void backwardPacked(INDArray q, INDArray k, INDArray v, INDArray decay, SequenceOffsets offsets,
                               INDArray initialState, INDArray dOutput, INDArray dFinalState, AttentionOptions options,
                               SavedForward saved, Grads into) {
        requiredOptions(options);
        required(into, "into");
        Dims d = packedDims(q, k, v, offsets);
        gradients(inputs(q, k, v, decay, initialState), dOutput, dFinalState, into);
        try (Bindings b = new Bindings()) {
            PackedInputs in = b.packedInputs(q, k, v, decay, offsets, initialState, d);
            Tensor tdo = b.packedIn(required(dOutput, "dOutput"), d, d.valueDim(), "dOutput");
            Tensor tdf = dFinalState == null ? null : b.state(dFinalState, d, "dFinalState");
            Tensor gq = b.packedOut(required(into.dq(), "into.dq"), d, d.keyDim(), "into.dq");
            Tensor gk = b.packedOut(required(into.dk(), "into.dk"), d, d.keyDim(), "into.dk");
            Tensor gv = b.packedOut(required(into.dv(), "into.dv"), d, d.valueDim(), "into.dv");
            Tensor gs = b.stateOut(required(into.dInitialState(), "into.dInitialState"), d, "into.dInitialState");
            Tensor gd = into.dDecay() == null ? null : b.vectorOut(into.dDecay(), d, "into.dDecay");
            attention.backwardPacked(in, tdo, tdf, options, saved, new Gradients(gq, gk, gv, gs, gd));
            b.copyBack();
        }
    }

    // ------------------------------------------------------------------ aliasing

    /** A call's inputs, for the outputs to be checked against (SPEC.md section 5), copied or not. */
    private static Overlaps inputs(INDArray q, INDArray k, INDArray v, INDArray decay, INDArray initialState) {
        return new Overlaps().input("q", q).input("k", k).input("v", v).input("decay", decay)
                .input("initialState", initialState);
    }

    /** Refuses gradients that share memory with each other or with an input of a backward call. */
    private static void gradients(Overlaps inputs, INDArray dOutput, INDArray dFinalState, Grads into) {
        inputs.input("dOutput", dOutput).input("dFinalState", dFinalState)
                .output("into.dq", into.dq()).output("into.dk", into.dk()).output("into.dv", into.dv())
                .output("into.dInitialState", into.dInitialState()).output("into.dDecay", into.dDecay());
    }

    // ------------------------------------------------------------------ transfers

    /** Tensors made for one call, and the results that must be copied back into ND4J memory. */
    private final class Bindings implements AutoCloseable {
        private final List<Tensor> made = new ArrayList<>();
        private final List<Runnable> copyBack = new ArrayList<>();
        private final HostMemory host = HostMemory.current();
        /**
         * Every array whose memory a tensor reads or writes in place (by address, which does not keep
         * the array alive): held until the call's end, since an array the caller made for the call
         * alone could otherwise be collected, and its memory freed by ND4J, while the backend reads it.
         */
        private final List<INDArray> viewed = new ArrayList<>();

        /** The sequence array as la2 sees it: [B, N, H*F] for the DL4J formats (a permuted view for NCW). */
        private INDArray logical(SequenceFormat format, INDArray a) {
            return format == SequenceFormat.NCW ? a.permute(0, 2, 1) : a;
        }

        /** q, k, v, decay and the optional initial state, bound in the order their checks name them. */
        AttentionInputs inputs(SequenceFormat format, INDArray q, INDArray k, INDArray v, INDArray decay,
                               INDArray initialState, Dims d) {
            Tensor tq = in(format, q, d, d.keyDim(), "q");
            Tensor tk = in(format, k, d, d.keyDim(), "k");
            Tensor tv = in(format, v, d, d.valueDim(), "v");
            Tensor td = vector(decay, d, "decay");
            Tensor ts = initialState == null ? null : state(initialState, d, "initialState");
            return new AttentionInputs(tq, tk, tv, td, ts);
        }

        private Shape physical(SequenceFormat format, Dims d, int features) {
            return format.layout().shape(d.batch(), d.heads(), d.tokens(), features);
        }

        Tensor in(SequenceFormat format, INDArray a, Dims d, int features, String name) {
            checkShape(a, sequenceShape(format, d, features), name);
            return input(logical(format, a), d.dtype(), physical(format, d, features), name);
        }

        PackedInputs packedInputs(INDArray q, INDArray k, INDArray v, INDArray decay, SequenceOffsets offsets,
                                  INDArray initialState, Dims d) {
            Tensor tq = packedIn(q, d, d.keyDim(), "q");
            Tensor tk = packedIn(k, d, d.keyDim(), "k");
            Tensor tv = packedIn(v, d, d.valueDim(), "v");
            Tensor td = vector(decay, d, "decay");
            Tensor ts = initialState == null ? null : state(initialState, d, "initialState");
            return new PackedInputs(tq, tk, tv, td, offsets, ts);
        }

        Tensor packedIn(INDArray a, Dims d, int features, String name) {
            checkShape(a, new long[] {d.tokens(), d.heads(), features}, name);
            return input(a, d.dtype(), Shape.of(d.tokens(), d.heads(), features), name);
        }

        Tensor packedOut(INDArray a, Dims d, int features, String name) {
            checkShape(a, new long[] {d.tokens(), d.heads(), features}, name);
            sameType(a, name, Nd4jTensors.dataType(d.dtype()), "as q");
            return output(a, d.dtype(), Shape.of(d.tokens(), d.heads(), features));
        }

        Tensor state(INDArray a, Dims d, String name) {
            checkShape(a, new long[] {d.batch(), d.heads(), d.keyDim(), d.valueDim()}, name);
            return input(a, d.dtype().stateType(), d.state(), name);
        }

        Tensor vector(INDArray a, Dims d, String name) {
            required(a, name);
            if (a.length() != d.heads()) {
                throw new La2ArgumentException(name, "shape " + Arrays.toString(a.shape()),
                        d.heads() + " elements, one per head");
            }
            return input(a, d.dtype().stateType(), Shape.of(d.heads()), name);
        }

        Tensor out(SequenceFormat format, INDArray a, Dims d, int features, String name) {
            checkShape(a, sequenceShape(format, d, features), name);
            sameType(a, name, Nd4jTensors.dataType(d.dtype()), "as q");
            return output(logical(format, a), d.dtype(), physical(format, d, features));
        }

        Tensor stateOut(INDArray a, Dims d, String name) {
            checkShape(a, new long[] {d.batch(), d.heads(), d.keyDim(), d.valueDim()}, name);
            sameStateType(a, name, d);
            return output(a, d.dtype().stateType(), d.state());
        }

        Tensor vectorOut(INDArray a, Dims d, String name) {
            if (a.length() != d.heads()) {
                throw new La2ArgumentException(name, "shape " + Arrays.toString(a.shape()),
                        d.heads() + " elements, one per head");
            }
            sameStateType(a, name, d);
            return output(a, d.dtype().stateType(), Shape.of(d.heads()));
        }

        private Tensor input(INDArray a, DType type, Shape shape, String name) {
            if (!a.dataType().isFPType()) {
                throw new La2ArgumentException(name, "data type " + a.dataType(),
                        "a floating type (" + Nd4jTensors.dataType(type) + ", or another one to convert)");
            }
            DataType want = Nd4jTensors.dataType(type);
            Optional<Tensor> view = a.dataType() == want ? view(a, type, shape) : Optional.empty();
            if (view.isPresent()) {
                return track(view.get());
            }
            try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                INDArray dense = a.dataType() == want ? a.dup('c') : a.castTo(want).dup('c');
                host.toHost(dense);
                copiedBytes.addAndGet(dense.length() * dense.dataType().width());
                Tensor copy = track(attention.tensor(Nd4jTensors.segment(dense), type, shape));
                Reference.reachabilityFence(dense);  // its memory is read by address above
                return copy;
            }
        }

        private Tensor output(INDArray a, DType type, Shape shape) {
            Optional<Tensor> view = view(a, type, shape);
            if (view.isPresent()) {
                copyBack.add(() -> host.written(a));
                return track(view.get());
            }
            Tensor t = track(attention.allocate(type, shape));
            copyBack.add(() -> {
                try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                    INDArray dense = Nd4j.createUninitialized(a.dataType(), a.shape(), 'c');
                    host.toHost(dense);
                    t.copyTo(Nd4jTensors.segment(dense));
                    host.written(dense);
                    a.assign(dense);
                    copiedBytes.addAndGet(t.byteSize());
                }
            });
            return t;
        }

        private Optional<Tensor> view(INDArray a, DType type, Shape shape) {
            if (!zeroCopy || !Nd4jTensors.isDenseRowMajor(a)) {
                return Optional.empty();
            }
            // An output view may share its buffer with data the call does not write: sync that too.
            host.toHost(a);
            viewed.add(a);
            MemorySegment memory = Nd4jTensors.segment(a);
            return attention.wrap(memory, type, shape);
        }

        private Tensor track(Tensor t) {
            made.add(t);
            return t;
        }

        void copyBack() {
            copyBack.forEach(Runnable::run);
        }

        /** Copies back after a forward call, closing what it kept if that fails; returns it. */
        SavedForward copyBack(SavedForward saved) {
            try {
                copyBack();
            } catch (RuntimeException | Error e) {
                if (saved != null) {
                    saved.close();
                }
                throw e;
            }
            return saved;
        }

        @Override
        public void close() {
            made.forEach(Tensor::close);
            Reference.reachabilityFence(viewed);
        }
    }

}
