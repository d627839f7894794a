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
    private final KeptBuffer memory;
    private final MemorySegment states;
    /** [sequence][segment]: the true incoming state, transposed; null for segment 0. */
    private final float[][][] segmentIn;
    private final long bytes;

    /** States in a buffer of their own from {@code pool}. */
    BlockStates(SegmentPlan plan, int block, int keyDim, int valueDim, boolean forDecayGradient, StatePool pool) {
        this(plan, block, keyDim, valueDim, forDecayGradient,
                KeptBuffer.acquire(pool, stateBytes(plan, block, keyDim, valueDim)), 0);
    }

    /**
     * States in bytes [{@code offset}, {@code offset + stateBytes(..)}) of {@code memory}, which
     * other calls' states may share: reading and closing then act on the whole buffer.
     */
    BlockStates(SegmentPlan plan, int block, int keyDim, int valueDim, boolean forDecayGradient, KeptBuffer memory,
                long offset) {
        this.plan = plan;
        this.forDecayGradient = forDecayGradient;
        this.block = block;
        this.stateFloats = keyDim * valueDim;
        this.blocksPerSequence = (plan.tokens() + block - 1) / block;
        this.memory = memory;
        long stateBytes = stateBytes(plan, block, keyDim, valueDim);
        this.segmentIn = new float[plan.sequences()][plan.segments()][];
        this.bytes = stateBytes + 4L * stateFloats * plan.sequences() * (plan.segments() - 1);
        this.states = memory.segment().asSlice(offset, stateBytes);
    }

    /** Bytes of the block states of a call cut as {@code plan}: one D x E fp32 state per block and sequence. */
    static long stateBytes(SegmentPlan plan, int block, int keyDim, int valueDim) {
        return 4L * keyDim * valueDim * ((plan.tokens() + block - 1) / block) * plan.sequences();
    }

    SegmentPlan plan() {
        return plan;
    }

    KeptBuffer memory() {
        return memory;
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

    /** See {@link KeptBuffer#startReading()}. */
    boolean startReading() {
        return memory.startReading();
    }

    void endReading() {
        memory.endReading();
    }

    @Override
    public long byteSize() {
        return bytes;
    }

    @Override
    public void close() {
        memory.close();
    }
}
