package dev.la2.api;

import dev.la2.spi.AttentionShape;
import dev.la2.spi.Residuals;

/**
 * What a forward call kept for its backward ({@link AttentionOptions#saveForBackward()}): on
 * backends that support it, the state entering every block, so that the backward skips the sweep
 * that would recompute them. Costs about D*E*4/C bytes per token and head (C: the backend's block
 * size; 1 KiB at D=E=128 on the cpu backend), reported by {@link #byteSize()}. A backend that
 * keeps nothing (the cuda and reference backends, the cpu backend's fp64 path) returns one that
 * {@linkplain #holdsStates() holds nothing}; its backward recomputes, as without one.
 *
 * <p>Pass it to {@link LightningAttention#backward(AttentionInputs, Tensor, Tensor, AttentionOptions, SavedForward)}
 * with the same inputs and options as the forward call, and close it afterwards (closing the
 * {@link ForwardResult} closes it too). The backward checks the shape, options, decay rates and
 * initial state against the forward call's and refuses a mismatch; q, k and v must also be
 * unchanged, which it cannot check. Closing it while a backward call reads it is safe: the memory
 * goes when that call ends. On a device backend the initial state is recognised by
 * identity and version (no read-back); another tensor with the same values is compared by value.
 * A backend may still recompute, for instance for a decay gradient the forward was not told of (the
 * cpu backend rebuilds its states unless the forward's options had
 * {@link AttentionOptions#withLearnableDecay(boolean) withLearnableDecay(true)}).
 *
 * <p>A packed forward's (SPEC.md section 8) serves only a packed backward on the same offsets. One
 * whose states came from a pool also keeps a copy of the initial states it read there, since the
 * pool then holds the final states: its backward takes them from here (the inputs' initial state
 * must be null) and they count in {@link #byteSize()}; it keeps no block states
 * ({@link #holdsStates()} is false).
 */
public final class SavedForward implements AutoCloseable {
    private final LightningAttention owner;
    private final AttentionShape shape;
    private final AttentionOptions options;
    private final double[] rates;
    private final InputStamp initialState;
    private final Residuals residuals;
    private final SequenceOffsets offsets;
    private final Tensor pooledStates;
    private volatile boolean closed;
    /** Backward calls reading this now: its memory goes once it is closed and none reads it. */
    private int readers;

    SavedForward(LightningAttention owner, AttentionShape shape, AttentionOptions options, double[] rates,
                 InputStamp initialState, Residuals residuals) {
        this(owner, shape, options, rates, initialState, residuals, null, null);
    }

    /**
     * A packed forward's ({@code offsets} non-null); {@code pooledStates} is the copy of the
     * initial states a pooled forward read from its pool, or null.
     */
    SavedForward(LightningAttention owner, AttentionShape shape, AttentionOptions options, double[] rates,
                 InputStamp initialState, Residuals residuals, SequenceOffsets offsets, Tensor pooledStates) {
        this.offsets = offsets;
        this.pooledStates = pooledStates;
        this.owner = owner;
        this.shape = shape;
        this.options = options;
        this.rates = rates;
        this.initialState = initialState;
        this.residuals = residuals;
    }

    /** Memory held by the backend for this forward call. */
    public long byteSize() {
        if (closed) {
            return 0;
        }
        return (residuals == null ? 0 : residuals.byteSize()) + (pooledStates == null ? 0 : pooledStates.byteSize());
    }

    /** Whether the backend kept anything: false where its backward recomputes. */
    public boolean holdsStates() {
        return residuals != null;
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * Idempotent. The memory goes now, or, where backward calls are reading it, when the last of
     * them ends.
     */
    @Override
    public void close() {
        boolean free;
        synchronized (this) {
            free = !closed && readers == 0;
            closed = true;
        }
        if (free) {
            free();
        }
    }

    /**
     * Runs a backward call's {@code work} (everything from its first read of {@code saved}, null
     * for none) as a reader: a closed one is refused with {@link La2ArgumentException} naming
     * {@code saved}, before {@code work}; one closed while {@code work} runs keeps its memory until
     * it ends.
     */
    static void reading(SavedForward saved, Runnable work) {
        if (saved == null) {
            work.run();
            return;
        }
        saved.startReading();
        try {
            work.run();
        } finally {
            saved.endReading();
        }
    }

    /** Refuses a closed one, naming {@code saved} (a backward's check; {@link #reading} checks again under its lock). */
    void checkOpen() {
        if (closed) {
            throw new La2ArgumentException("saved", "a closed " + this, "the open result of this call's forward");
        }
    }

    private synchronized void startReading() {
        checkOpen();
        readers++;
    }

    private void endReading() {
        boolean free;
        synchronized (this) {
            free = --readers == 0 && closed;
        }
        if (free) {
            free();
        }
    }

    private void free() {
        if (residuals != null) {
            residuals.close();
        }
        if (pooledStates != null) {
            pooledStates.close();
        }
    }

    /** The offsets of a packed forward, null for a dense one. */
    SequenceOffsets offsets() {
        return offsets;
    }

    /** The initial states a pooled forward read, [S, H, D, E]; null otherwise. */
    Tensor pooledStates() {
        return pooledStates;
    }

    LightningAttention owner() {
        return owner;
    }

    AttentionShape shape() {
        return shape;
    }

    AttentionOptions options() {
        return options;
    }

    double[] rates() {
        return rates;
    }

    /** What the forward call's initial state was (possibly absent). */
    InputStamp initialState() {
        return initialState;
    }

    /** What the backend kept, or null. */
    Residuals residuals() {
        return residuals;
    }

    @Override
    public String toString() {
        return "SavedForward[" + shape.dtype() + " B=" + shape.batch() + " H=" + shape.heads() + " N=" + shape.tokens()
                + " D=" + shape.keyDim() + " E=" + shape.valueDim() + ", " + byteSize() + " bytes"
                + (closed ? ", closed]" : "]");
    }
}
