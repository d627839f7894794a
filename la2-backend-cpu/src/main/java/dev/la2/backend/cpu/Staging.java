package dev.la2.backend.cpu;

import java.util.ArrayList;
import java.util.List;

/**
 * The memory of one call's {@link StagedOutput}s: one buffer from the {@link StatePool}, so that a
 * training step's calls reuse it instead of faulting in fresh memory each time, given back when
 * the call ends. Its size is that of the staged segments, nothing for fp32 outputs or uncut
 * sequences.
 */
final class Staging implements AutoCloseable {
    private final StatePool pool;
    private final StatePool.Buffer buffer;
    private final List<StagedOutput> outputs;

    /** Memory for every one of {@code wanted}, in its order in {@link #outputs()}. */
    Staging(StatePool pool, List<StagedOutput> wanted) {
        this.pool = pool;
        long total = 0;
        for (StagedOutput o : wanted) {
            total += o.bytes();
        }
        this.buffer = total == 0 ? null : pool.acquire(total);
        this.outputs = new ArrayList<>(wanted.size());
        long at = 0;
        for (StagedOutput o : wanted) {
            long bytes = o.bytes();
            outputs.add(bytes == 0 ? o : o.in(buffer.segment().asSlice(at, bytes)));
            at += bytes;
        }
    }

    List<StagedOutput> outputs() {
        return outputs;
    }

    @Override
    public void close() {
        if (buffer != null) {
            pool.release(buffer);
        }
    }
}
