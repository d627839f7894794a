package dev.la2.backend.cpu;

import dev.la2.spi.Residuals;
import java.util.List;

/**
 * What a keeping packed forward leaves for its backward (SPEC.md sections 7 and 8): the
 * {@link BlockStates} of each non-empty sequence, in order, all in one {@code memory} buffer, so
 * that a packed call of many sequences takes one buffer from the {@link StatePool}, not one each.
 */
record PackedBlockStates(KeptBuffer memory, List<BlockStates> parts) implements Residuals {

    @Override
    public long byteSize() {
        long bytes = 0;
        for (BlockStates part : parts) {
            bytes += part.byteSize();
        }
        return bytes;
    }

    @Override
    public void close() {
        memory.close();
    }
}
