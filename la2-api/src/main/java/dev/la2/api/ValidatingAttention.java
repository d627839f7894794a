package dev.la2.api;

import dev.la2.spi.AttentionBackend;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.CallerMemory;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import dev.la2.spi.Residuals;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The one implementation of {@link LightningAttention}: checks every argument against SPEC.md's
 * shapes and types, then hands the backend a call it can trust.
 */
final class ValidatingAttention implements LightningAttention {
    private final AttentionBackend backend;
    private final DecayCheck decayCheck = new DecayCheck();
    private final PackedAttention packed;
    private volatile boolean closed;

    ValidatingAttention(AttentionBackend backend) {
        this.backend = backend;
        this.packed = new PackedAttention(this, backend, decayCheck);
    }

    @Override
    public String backendName() {
        return backend.name();
    }

    @Override
    public Set<DType> dtypes() {
        return backend.dtypes();
    }

    @Override
    public Set<Precision> precisions() {
        return backend.precisions();
    }

    @Override
    public Tensor allocate(DType dtype, Shape shape) {
        checkOpen();
        required(dtype, "dtype");
        required(shape, "shape");
        if (!backend.dtypes().contains(dtype) && backend.dtypes().stream().noneMatch(d -> d.stateType() == dtype)) {
            throw new La2ArgumentException("dtype", dtype.toString(),
                    "one of " + backend.dtypes() + " (backend '" + backend.name() + "')");
        }
        return backend.allocate(dtype, shape);
    }

    @Override
    public Tensor tensor(float[] data, DType dtype, Shape shape) {
        required(data, "data");
        checkCount(data.length, shape);
        Tensor t = allocate(dtype, shape);
        return fillOrClose(t, () -> t.copyFrom(data));
    }

    @Override
    public Tensor tensor(double[] data, DType dtype, Shape shape) {
        required(data, "data");
        checkCount(data.length, shape);
        Tensor t = allocate(dtype, shape);
        return fillOrClose(t, () -> t.copyFrom(data));
    }

    @Override
    public Tensor tensor(MemorySegment data, DType dtype, Shape shape) {
        required(data, "data");
        required(dtype, "dtype");
        required(shape, "shape");
        CallerMemory.usable("data", data);
        long bytes = HostTensor.byteSize(dtype, shape);
        if (data.byteSize() != bytes) {
            throw new La2ArgumentException("data", data.byteSize() + " bytes", bytes + " bytes (" + dtype + " " + shape + ")");
        }
        Tensor t = allocate(dtype, shape);
        return fillOrClose(t, () -> t.copyFrom(data));
    }

    @Override
    public Optional<Tensor> wrap(MemorySegment memory, DType dtype, Shape shape) {
        checkOpen();
        required(memory, "memory");
        required(dtype, "dtype");
        required(shape, "shape");
        return backend.wrap(memory, dtype, shape);
    }

    @Override
    public ForwardResult forward(AttentionInputs inputs, AttentionOptions options) {
        AttentionShape s = checkInputs(inputs, options);
        List<Tensor> made = new ArrayList<>(2);
        try {
            Tensor out = track(made, backend.allocate(s.dtype(), options.layout().shape(s.batch(), s.heads(), s.tokens(), s.valueDim())));
            Tensor fin = options.returnFinalState() ? track(made, backend.allocate(s.dtype().stateType(), stateShape(s))) : null;
            SavedForward saved = runForward(s, inputs, options, out, fin);
            return new ForwardResult(out, fin, saved);
        } catch (RuntimeException | Error e) {
            made.forEach(Tensor::close);
            throw e;
        }
    }

    @Override
    public SavedForward forward(AttentionInputs inputs, AttentionOptions options, Tensor output, Tensor finalState) {
        AttentionShape s = checkInputs(inputs, options);
        Map<Tensor, String> seen = inputNames(inputs);
        checkOutput(output, "output", s.dtype(), options.layout().shape(s.batch(), s.heads(), s.tokens(), s.valueDim()), seen);
        if (finalState != null) {
            checkOutput(finalState, "finalState", s.dtype().stateType(), stateShape(s), seen);
        }
        return runForward(s, inputs, options, output, finalState);
    }

    private SavedForward runForward(AttentionShape s, AttentionInputs in, AttentionOptions options, Tensor out, Tensor fin) {
        if (options.checkFinite()) {
            FiniteCheck.inputs(in, options.layout());
        }
        ForwardCall call = new ForwardCall(s, in.q(), in.k(), in.v(), in.decay(), in.initialState(),
                options.scale(), options.precision(), out, fin);
        if (!options.saveForBackward()) {
            backend.forward(call);
            return null;
        }
        Residuals kept = backend.forwardKeeping(call, options.learnableDecay());
        return new SavedForward(this, s, options, decayCheck.rates(in.decay()), InputStamp.of(in.initialState()), kept);
    }

    @Override
    public Gradients backward(AttentionInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                              SavedForward saved) {
        AttentionShape s = checkBackwardInputs(inputs, dOutput, dFinalState, options);
        checkSaved(saved, s, inputs, options);
        List<Tensor> made = new ArrayList<>(5);
        try {
            Gradients g = new Gradients(
                    track(made, backend.allocate(s.dtype(), inputs.q().shape())),
                    track(made, backend.allocate(s.dtype(), inputs.k().shape())),
                    track(made, backend.allocate(s.dtype(), inputs.v().shape())),
                    track(made, backend.allocate(s.dtype().stateType(), stateShape(s))),
                    options.learnableDecay() ? track(made, backend.allocate(s.dtype().stateType(), Shape.of(s.heads()))) : null);
            runBackward(s, inputs, dOutput, dFinalState, options, saved, g);
            return g;
        } catch (RuntimeException | Error e) {
            made.forEach(Tensor::close);
            throw e;
        }
    }

    @Override
    public void backward(AttentionInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                         SavedForward saved, Gradients into) {
        AttentionShape s = checkBackwardInputs(inputs, dOutput, dFinalState, options);
        checkSaved(saved, s, inputs, options);
        required(into, "into");
        Map<Tensor, String> seen = inputNames(inputs);
        seen.put(dOutput, "dOutput");
        if (dFinalState != null) {
            seen.put(dFinalState, "dFinalState");
        }
        checkOutput(into.dq(), "into.dq", s.dtype(), inputs.q().shape(), seen);
        checkOutput(into.dk(), "into.dk", s.dtype(), inputs.k().shape(), seen);
        checkOutput(into.dv(), "into.dv", s.dtype(), inputs.v().shape(), seen);
        checkOutput(into.dInitialState(), "into.dInitialState", s.dtype().stateType(), stateShape(s), seen);
        if (options.learnableDecay()) {
            checkOutput(into.dDecay(), "into.dDecay", s.dtype().stateType(), Shape.of(s.heads()), seen);
        } else if (into.dDecay() != null) {
            throw new La2ArgumentException("into.dDecay", "a tensor",
                    "null, since options.learnableDecay() is false (set it to get the decay gradient)");
        }
        runBackward(s, inputs, dOutput, dFinalState, options, saved, into);
    }

    private void runBackward(AttentionShape s, AttentionInputs in, Tensor dOutput, Tensor dFinalState,
                             AttentionOptions options, SavedForward saved, Gradients g) {
        if (options.checkFinite()) {
            FiniteCheck.inputs(in, options.layout());
            FiniteCheck.sequence(dOutput, "dOutput", options.layout(), "e");
            FiniteCheck.state(dFinalState, "dFinalState");
        }
        SavedForward.reading(saved, () -> backend.backward(new BackwardCall(s, in.q(), in.k(), in.v(), in.decay(),
                in.initialState(), dOutput, dFinalState, options.scale(), options.precision(),
                g.dq(), g.dk(), g.dv(), g.dInitialState(), g.dDecay(), saved == null ? null : saved.residuals())));
    }

    @Override
    public Tensor decode(Tensor q, Tensor k, Tensor v, Tensor decay, Tensor state, double scale) {
        DecodeCall shapeOnly = checkDecode(q, k, v, decay, state, scale);
        Tensor out = backend.allocate(shapeOnly.dtype(), Shape.of(shapeOnly.batch(), shapeOnly.heads(), shapeOnly.valueDim()));
        try {
            backend.decode(withOutput(shapeOnly, out));
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    @Override
    public void decode(Tensor q, Tensor k, Tensor v, Tensor decay, Tensor state, double scale, Tensor output) {
        DecodeCall c = checkDecode(q, k, v, decay, state, scale);
        Map<Tensor, String> seen = Aliasing.names(q, k, v, decay);
        seen.put(state, "state");
        checkOutput(output, "output", c.dtype(), Shape.of(c.batch(), c.heads(), c.valueDim()), seen);
        backend.decode(withOutput(c, output));
    }

    private static DecodeCall withOutput(DecodeCall c, Tensor out) {
        return new DecodeCall(c.batch(), c.heads(), c.keyDim(), c.valueDim(), c.dtype(), c.q(), c.k(), c.v(),
                c.decay(), c.state(), c.scale(), out);
    }

    @Override
    public ForwardResult forwardPacked(PackedInputs inputs, AttentionOptions options) {
        return packed.forward(inputs, options);
    }

    @Override
    public SavedForward forwardPacked(PackedInputs inputs, AttentionOptions options, Tensor output, Tensor finalState) {
        return packed.forward(inputs, options, output, finalState);
    }

    @Override
    public SavedForward forwardPacked(PackedInputs inputs, PoolSlots states, AttentionOptions options, Tensor output) {
        return packed.forward(inputs, states, options, output);
    }

    @Override
    public Gradients backwardPacked(PackedInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                              SavedForward saved) {
        return packed.backward(inputs, dOutput, dFinalState, options, saved);
    }

    @Override
    public void backwardPacked(PackedInputs inputs, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                         SavedForward saved, Gradients into) {
        packed.backward(inputs, dOutput, dFinalState, options, saved, into);
    }

    @Override
    public void decodeSlots(Tensor q, Tensor k, Tensor v, Tensor decay, PoolSlots states, double scale, Tensor output) {
        packed.decode(q, k, v, decay, states, scale, output);
    }

    @Override
    public void draft(Tensor q, Tensor k, Tensor v, Tensor decay, PoolSlots states, double scale, Tensor output) {
        packed.draft(q, k, v, decay, states, scale, output);
    }

    @Override
    public void commit(Tensor k, Tensor v, Tensor decay, PoolSlots states, int[] accepted) {
        packed.commit(k, v, decay, states, accepted);
    }

    AttentionBackend backend() {
        return backend;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            backend.close();
        }
    }

    @Override
    public String toString() {
        return "LightningAttention[" + backend.name() + (closed ? ", closed]" : "]");
    }

    // ---------------------------------------------------------------- validation

    private AttentionShape checkInputs(AttentionInputs in, AttentionOptions options) {
        checkOpen();
        required(in, "inputs");
        required(options, "options");
        Layout layout = options.layout();
        Tensor q = owned(in.q(), "q");
        Tensor k = owned(in.k(), "k");
        Tensor v = owned(in.v(), "v");
        Tensor decay = owned(in.decay(), "decay");
        if (q.shape().rank() != 4) {
            throw new La2ArgumentException("q", "shape " + q.shape() + " (rank " + q.shape().rank() + ")",
                    "rank 4, " + layout.axes('D') + " for layout " + layout);
        }
        DType dtype = storage(q, "q");
        int b = layout.batch(q.shape());
        int h = layout.heads(q.shape());
        int n = layout.tokens(q.shape());
        int d = layout.features(q.shape());
        checkSame(k, "k", dtype, q.shape(), "q's shape " + q.shape() + " " + layout.axes('D'));
        if (v.shape().rank() != 4) {
            throw new La2ArgumentException("v", "shape " + v.shape() + " (rank " + v.shape().rank() + ")",
                    "rank 4, " + layout.axes('E') + " for layout " + layout);
        }
        int e = layout.features(v.shape());
        checkSame(v, "v", dtype, layout.shape(b, h, n, e), "B=" + b + ", H=" + h + ", N=" + n + " as in q, "
                + layout.axes('E') + " for layout " + layout);
        AttentionShape s = new AttentionShape(b, h, n, d, e, layout, dtype);
        checkDecay(decay, h, dtype.stateType());
        AttentionOptions.checkScale(options.scale(), dtype);
        if (in.initialState() != null) {
            Tensor s0 = owned(in.initialState(), "initialState");
            checkSame(s0, "initialState", dtype.stateType(), stateShape(s), "[B, H, D, E]");
        }
        return s;
    }

    private AttentionShape checkBackwardInputs(AttentionInputs in, Tensor dOutput, Tensor dFinalState,
                                               AttentionOptions options) {
        AttentionShape s = checkInputs(in, options);
        Tensor dOut = owned(dOutput, "dOutput");
        checkSame(dOut, "dOutput", s.dtype(), options.layout().shape(s.batch(), s.heads(), s.tokens(), s.valueDim()),
                "the output's shape " + options.layout().axes('E'));
        if (dFinalState != null) {
            checkSame(owned(dFinalState, "dFinalState"), "dFinalState", s.dtype().stateType(), stateShape(s), "[B, H, D, E]");
        }
        return s;
    }

    /** A backward's {@code saved} must come from a forward call of this instance on the same inputs and options. */
    private void checkSaved(SavedForward saved, AttentionShape s, AttentionInputs in, AttentionOptions options) {
        if (saved == null) {
            return;
        }
        checkSavedCall(saved, options, in.decay());
        if (saved.offsets() != null) {
            throw new La2ArgumentException("saved", "kept by a packed forward", "a forward call of shape " + s);
        }
        if (!saved.shape().equals(s)) {
            throw new La2ArgumentException("saved", "kept for " + saved.shape(), "a forward call of shape " + s);
        }
        if (!saved.initialState().matches(in.initialState())) {
            throw new La2ArgumentException("saved", saved.initialState().isAbsent() ? "kept without an initial state"
                    : "kept with a different initial state", in.initialState() == null ? "a forward call without one"
                    : "the initial state of inputs.initialState(), unchanged since the forward call");
        }
    }

    /** What every kept forward must share with its backward: open, this instance's, same scale, precision, decay. */
    void checkSavedCall(SavedForward saved, AttentionOptions options, Tensor decay) {
        saved.checkOpen();
        if (saved.owner() != this) {
            throw new La2ArgumentException("saved", "kept by another instance (" + saved.owner() + ")",
                    "what this instance's forward kept (" + this + ")");
        }
        AttentionOptions kept = saved.options();
        // Scales are finite, so == is exact and takes -0.0 for the 0.0 it computes the same as.
        if (kept.scale() != options.scale() || kept.precision() != options.precision()) {
            throw new La2ArgumentException("saved", "kept with scale " + kept.scale() + " and precision " + kept.precision(),
                    "scale " + options.scale() + " and precision " + options.precision() + " as in options");
        }
        if (!Arrays.equals(saved.rates(), decayCheck.rates(decay))) {
            throw new La2ArgumentException("saved", "kept for decay rates " + Arrays.toString(saved.rates()),
                    "the decay rates of inputs.decay(), unchanged since the forward call");
        }
    }

    private DecodeCall checkDecode(Tensor q, Tensor k, Tensor v, Tensor decay, Tensor state, double scale) {
        checkOpen();
        owned(q, "q");
        owned(k, "k");
        owned(v, "v");
        owned(decay, "decay");
        owned(state, "state");
        if (q.shape().rank() != 3) {
            throw new La2ArgumentException("q", "shape " + q.shape() + " (rank " + q.shape().rank() + ")",
                    "rank 3, [B, H, D] (one token per sequence)");
        }
        DType dtype = storage(q, "q");
        int b = q.shape().dim(0);
        int h = q.shape().dim(1);
        int d = q.shape().dim(2);
        checkSame(k, "k", dtype, q.shape(), "q's shape [B, H, D]");
        if (v.shape().rank() != 3) {
            throw new La2ArgumentException("v", "shape " + v.shape() + " (rank " + v.shape().rank() + ")", "rank 3, [B, H, E]");
        }
        int e = v.shape().dim(2);
        checkSame(v, "v", dtype, Shape.of(b, h, e), "[B, H, E] with B=" + b + ", H=" + h + " as in q");
        checkDecay(decay, h, dtype.stateType());
        checkSame(state, "state", dtype.stateType(), Shape.of(b, h, d, e), "[B, H, D, E]");
        HostMemoryCheck.writable(state, "state");
        AttentionOptions.checkScale(scale, dtype);
        String shared = Aliasing.sharedWith(state, Aliasing.names(q, k, v, decay));
        if (shared != null) {
            throw new La2ArgumentException("state", shared, "a tensor of its own (it is updated in place)");
        }
        return new DecodeCall(b, h, d, e, dtype, q, k, v, decay, state, scale, null);
    }

    /** The storage type of {@code t}, which must be one the backend computes in. */
    DType storage(Tensor t, String name) {
        if (!backend.dtypes().contains(t.dtype())) {
            throw new La2ArgumentException(name, "dtype " + t.dtype(), "one of " + backend.dtypes() + " (backend '" + backend.name() + "')");
        }
        return t.dtype();
    }

    void checkDecay(Tensor decay, int heads, DType type) {
        checkSame(decay, "decay", type, Shape.of(heads), "[H] with H=" + heads + ", one rate per head");
        decayCheck.rates(decay);
    }

    static void checkSame(Tensor t, String name, DType dtype, Shape shape, String expectedShape) {
        if (!t.shape().equals(shape)) {
            throw new La2ArgumentException(name, "shape " + t.shape(), shape + " (" + expectedShape + ")");
        }
        if (t.dtype() != dtype) {
            throw new La2ArgumentException(name, "dtype " + t.dtype(), "dtype " + dtype);
        }
    }

    void checkOutput(Tensor t, String name, DType dtype, Shape shape, Map<Tensor, String> seen) {
        owned(t, name);
        checkSame(t, name, dtype, shape, "the shape the inputs imply");
        HostMemoryCheck.writable(t, name);
        String shared = Aliasing.sharedWith(t, seen);
        if (shared != null) {
            throw new La2ArgumentException(name, shared, "a tensor of its own (outputs may not alias)");
        }
        seen.put(t, name);
    }

    private static Map<Tensor, String> inputNames(AttentionInputs in) {
        Map<Tensor, String> seen = Aliasing.names(in.q(), in.k(), in.v(), in.decay());
        if (in.initialState() != null) {
            seen.putIfAbsent(in.initialState(), "initialState");
        }
        return seen;
    }

    Tensor owned(Tensor t, String name) {
        required(t, name);
        HostMemoryCheck.open(t, name);
        if (!backend.owns(t)) {
            throw new La2ArgumentException(name, "a tensor of backend '" + t.backend() + "'",
                    "a tensor made by this instance of backend '" + backend.name() + "' (use its tensor(...) to copy it over)");
        }
        return t;
    }

    private static Shape stateShape(AttentionShape s) {
        return Shape.of(s.batch(), s.heads(), s.keyDim(), s.valueDim());
    }

    private static void checkCount(int length, Shape shape) {
        required(shape, "shape");
        if (length != shape.elementCount()) {
            throw new La2ArgumentException("data", "an array of " + length + " elements",
                    shape.elementCount() + " elements for shape " + shape);
        }
    }

    static <T> T required(T value, String name) {
        if (value == null) {
            throw new La2ArgumentException(name, "null", "a value");
        }
        return value;
    }

    static Tensor track(List<Tensor> made, Tensor t) {
        made.add(t);
        return t;
    }

    private static Tensor fillOrClose(Tensor t, Runnable fill) {
        try {
            fill.run();
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("la2 backend '" + backend.name() + "' is closed");
        }
    }
}
