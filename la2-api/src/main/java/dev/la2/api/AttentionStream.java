package dev.la2.api;

/**
 * Runs an unbounded sequence through Lightning Attention piece by piece: each chunk's final state
 * becomes the next chunk's initial state (SPEC.md's chaining law), so memory stays at two
 * [B, H, D, E] states whatever the total length, and the outputs equal one call over the whole
 * sequence up to rounding. Chunks may have any length, including one token.
 *
 * <pre>{@code
 * try (AttentionStream stream = AttentionStream.open(la, decay, DType.FP32, b, h, d, e, options)) {
 *     while (source.hasNext()) {
 *         Chunk c = source.next();                      // q, k, v of n tokens each
 *         try (Tensor o = stream.next(c.q(), c.k(), c.v())) { sink.accept(o); }
 *     }
 * }
 * }</pre>
 *
 * Not thread-safe: one stream is one sequence position.
 */
public final class AttentionStream implements AutoCloseable {
    private final LightningAttention attention;
    private final Tensor decay;
    private final DType sequenceType;
    private final AttentionOptions options;
    private Tensor state;
    private Tensor spare;
    private long tokens;
    private boolean closed;

    private AttentionStream(LightningAttention attention, Tensor decay, DType sequenceType, AttentionOptions options,
                            Tensor state, Tensor spare) {
        this.attention = attention;
        this.decay = decay;
        this.sequenceType = sequenceType;
        this.options = options;
        this.state = state;
        this.spare = spare;
    }

    /**
     * A stream starting from a zero state.
     *
     * @param sequenceType storage type of the chunks' q, k, v (states are {@link DType#stateType()})
     * @throws La2ArgumentException naming a null argument or an extent below 1, before anything is allocated
     */
    public static AttentionStream open(LightningAttention attention, Tensor decay, DType sequenceType,
                                       int batch, int heads, int keyDim, int valueDim, AttentionOptions options) {
        if (attention == null) {
            throw new La2ArgumentException("attention", "null", "an open LightningAttention");
        }
        if (sequenceType == null) {
            throw new La2ArgumentException("sequenceType", "null", "one of " + attention.dtypes());
        }
        if (options == null) {
            throw new La2ArgumentException("options", "null", "AttentionOptions (AttentionOptions.defaults())");
        }
        if (decay == null) {
            throw new La2ArgumentException("decay", "null", "[H] decay rates, one per head");
        }
        atLeastOne(batch, "batch");
        atLeastOne(heads, "heads");
        atLeastOne(keyDim, "keyDim");
        atLeastOne(valueDim, "valueDim");
        Shape stateShape = Shape.of(batch, heads, keyDim, valueDim);
        Tensor state = attention.allocate(sequenceType.stateType(), stateShape);
        try {
            state.fill(0);
            Tensor spare = attention.allocate(sequenceType.stateType(), stateShape);
            // A stream has no backward: what a keeping forward returned would only be dropped unclosed.
            return new AttentionStream(attention, decay, sequenceType,
                    options.withFinalState(true).withSaveForBackward(false), state, spare);
        } catch (RuntimeException | Error e) {
            state.close();
            throw e;
        }
    }

    private static void atLeastOne(int extent, String argument) {
        if (extent < 1) {
            throw new La2ArgumentException(argument, String.valueOf(extent), "at least 1");
        }
    }

    /** Starts from a copy of {@code initialState} ([B, H, D, E]); the caller keeps its tensor. */
    public static AttentionStream open(LightningAttention attention, Tensor decay, DType sequenceType,
                                       Tensor initialState, AttentionOptions options) {
        if (initialState != null && initialState.isClosed()) {
            throw new La2ArgumentException("initialState", "a closed tensor", "an open [B, H, D, E] state");
        }
        if (initialState == null || initialState.shape().rank() != 4) {
            throw new La2ArgumentException("initialState", initialState == null ? "null" : "shape " + initialState.shape(),
                    "a [B, H, D, E] state");
        }
        Shape s = initialState.shape();
        AttentionStream stream = open(attention, decay, sequenceType, s.dim(0), s.dim(1), s.dim(2), s.dim(3), options);
        try {
            stream.state.copyFrom(initialState.toDoubleArray());
            return stream;
        } catch (RuntimeException | Error e) {
            stream.close();
            throw e;
        }
    }

    /** Processes the next chunk and returns its output (shaped like v); the caller closes it. */
    public Tensor next(Tensor q, Tensor k, Tensor v) {
        checkOpen();
        if (q == null || v == null) {
            throw new La2ArgumentException(q == null ? "q" : "v", "null", "a tensor");
        }
        checkContinues(q, "q", 'D');
        checkContinues(v, "v", 'E');
        Tensor out = attention.allocate(q.dtype(), v.shape());
        try {
            next(q, k, v, out);
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** Processes the next chunk into {@code output} (shaped like v). */
    public void next(Tensor q, Tensor k, Tensor v, Tensor output) {
        checkOpen();
        checkContinues(q, "q", 'D');
        checkContinues(v, "v", 'E');
        attention.forward(new AttentionInputs(q, k, v, decay, state), options, output, spare);
        Tensor advanced = spare;
        spare = state;
        state = advanced;
        tokens += options.layout().tokens(q.shape());
    }

    /**
     * A chunk continues this stream's sequences: the same B and H, D (for q) or E (for v), and the
     * stream's sequence type. Checked here so that a chunk that does not fit
     * is named, not the stream's state; everything else is the forward call's to check.
     */
    private void checkContinues(Tensor t, String name, char featureAxis) {
        if (t == null || t.isClosed() || t.shape().rank() != 4) {
            return;
        }
        Layout layout = options.layout();
        Shape s = state.shape();
        Shape chunk = t.shape();
        int features = featureAxis == 'D' ? s.dim(2) : s.dim(3);
        if (layout.batch(chunk) != s.dim(0) || layout.heads(chunk) != s.dim(1) || layout.features(chunk) != features) {
            throw new La2ArgumentException(name, "shape " + chunk + " " + layout.axes(featureAxis),
                    "B=" + s.dim(0) + ", H=" + s.dim(1) + ", " + featureAxis + "=" + features + " as the stream's state " + s);
        }
        if (t.dtype() != sequenceType) {
            throw new La2ArgumentException(name, "dtype " + t.dtype(), sequenceType + ", the stream's sequence type");
        }
    }

    /** The state after every chunk so far ([B, H, D, E]); owned by the stream, valid until the next chunk. */
    public Tensor state() {
        return state;
    }

    /** Tokens per sequence processed so far. */
    public long tokens() {
        return tokens;
    }

    /** A closed stream has released its states: refused as a closed {@link LightningAttention} is. */
    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("la2 AttentionStream is closed (after " + tokens + " tokens)");
        }
    }

    @Override
    public void close() {
        closed = true;
        state.close();
        spare.close();
    }
}
