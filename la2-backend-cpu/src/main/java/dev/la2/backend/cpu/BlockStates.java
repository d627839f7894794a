package dev.la2.backend.cpu;

import dev.la2.spi.Residuals;
import java.lang.foreign.MemorySegment;

/**
 * What a keeping forward call leaves for its backward: the state entering every block of every
 * sequence (D x E, local to its segment as {@link TiledForward} computes it), plus the true state
 * entering each later segment (transposed, as the dq correction reads it). With them the backward
 * needs no forward sweep: a sizeable part of its arithmetic, and one pass over k, v and dO. The
 * block states are stored as the forward holds them, and the backward transposes each as dq's
 * product dO S^T reads it: a transpose in the forward, which writes every block's state, costs
 * the keeping forward more than it saves the backward. A block whose local state is zero (the
 * first of a segment without an initial state) stores nothing.
 */
final class BlockStates implements Residuals {
    private final SegmentPlan plan;
    private final int block;
    private final int stateFloats;
    private final boolean forDecayGradient;
    private final long blocksPerSequence;
    private final StatePool pool;
    private final StatePool.Buffer buffer;
    private final MemorySegment states;
    /** [sequence][segment]: the true incoming state, transposed; null for segment 0. */
    private final float[][][] segmentIn;
    private final long bytes;
    /** Backward calls reading now; the buffer goes back to the pool when the last one ends after close(). */
    private int readers;
    private boolean closed;

    BlockStates(SegmentPlan plan, int block, int keyDim, int valueDim, boolean forDecayGradient, StatePool pool) {
        this.plan = plan;
        this.forDecayGradient = forDecayGradient;
        this.block = block;
        this.stateFloats = keyDim * valueDim;
        this.blocksPerSequence = (plan.tokens() + block - 1) / block;
        this.pool = pool;
        long stateBytes = 4L * stateFloats * blocksPerSequence * plan.sequences();
        this.segmentIn = new float[plan.sequences()][plan.segments()][];
        this.bytes = stateBytes + 4L * stateFloats * plan.sequences() * (plan.segments() - 1);
        this.buffer = pool.acquire(stateBytes);
        this.states = buffer.segment();
    }

    SegmentPlan plan() {
        return plan;
    }

    /** Whether the states were summed in double, as the decay gradient needs them. */
    boolean forDecayGradient() {
        return forDecayGradient;
    }

    /** Stores the local state entering the block that starts at token {@code t}. */
    void put(int seq, int t, float[] state) {
        MemorySegment.copy(state, 0, states, Rows.F32, offset(seq, t), stateFloats);
    }

    /** Reads what {@link #put} stored for the block at token {@code t}. */
    void get(int seq, int t, float[] state) {
        MemorySegment.copy(states, Rows.F32, offset(seq, t), state, 0, stateFloats);
    }

    void putSegmentIn(int seq, int segment, float[] transposedState) {
        segmentIn[seq][segment] = transposedState;
    }

    float[][] segmentIn(int seq) {
        return segmentIn[seq];
    }

    private long offset(int seq, int t) {
        return 4L * stateFloats * (seq * blocksPerSequence + t / block);
    }

    /**
     * Registers a backward call that will read these states; false if they were closed. A buffer
     * given back while a call still read it could be refilled by another forward under that call.
     */
    synchronized boolean startReading() {
        if (closed) {
            return false;
        }
        readers++;
        return true;
    }

    void endReading() {
        boolean giveBack;
        synchronized (this) {
            giveBack = --readers == 0 && closed;
        }
        if (giveBack) {
            pool.release(buffer);
        }
    }

    @Override
    public long byteSize() {
        return bytes;
    }

    @Override
    public void close() {
        boolean giveBack;
        synchronized (this) {
            giveBack = !closed && readers == 0;
            closed = true;
        }
        if (giveBack) {
            pool.release(buffer);
        }
    }
}
