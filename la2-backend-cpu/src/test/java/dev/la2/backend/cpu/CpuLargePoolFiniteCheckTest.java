package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The finite check of a pooled call (SPEC.md sections 3 and 8) on a pool of more than 2^31
 * elements, as a server's pool of many slots can be: it reads the named slots only, so it neither
 * overflows an int index nor copies the whole pool. The pool is a sparse file mapped into memory:
 * only the pages the call touches are ever backed.
 */
class CpuLargePoolFiniteCheckTest {
    private static final int D = 64;
    private static final int E = 64;
    private static final int SLOTS = (int) ((1L << 31) / (D * E)) + 1;

    @TempDir
    Path dir;

    @Test
    void aPoolOfMoreThan2To31ElementsIsCheckedSlotBySlot() throws IOException {
        long slotBytes = 4L * D * E;
        Path file = dir.resolve("pool");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.SPARSE,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
             Arena arena = Arena.ofShared();
             LightningAttention la = LightningAttention.open("cpu")) {
            MemorySegment memory = channel.map(FileChannel.MapMode.READ_WRITE, 0, SLOTS * slotBytes, arena);
            int last = SLOTS - 1;
            memory.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, last * (long) D * E + 5, Float.NaN);
            memory.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 7L * D * E, Float.NaN); // slot 7, named by no call
            try (Tensor pool = la.wrap(memory, DType.FP32, Shape.of(SLOTS, 1, D, E)).orElseThrow();
                 Tensor q = la.tensor(new float[2 * D], DType.FP32, Shape.of(2, 1, D));
                 Tensor k = la.tensor(new float[2 * D], DType.FP32, Shape.of(2, 1, D));
                 Tensor v = la.tensor(new float[2 * E], DType.FP32, Shape.of(2, 1, E));
                 Tensor decay = la.tensor(new float[] {0.5f}, DType.FP32, Shape.of(1));
                 Tensor out = la.allocate(DType.FP32, Shape.of(2, 1, E))) {
                assertThat(pool.elementCount()).isGreaterThan(Integer.MAX_VALUE);
                PackedInputs in = PackedInputs.of(q, k, v, decay, SequenceOffsets.ofLengths(1, 1));
                AttentionOptions checked = AttentionOptions.defaults().withFiniteCheck(true);
                assertThatThrownBy(() -> la.forwardPacked(in, PoolSlots.of(pool, 3, last), checked, out))
                        .isInstanceOf(La2ArgumentException.class)
                        .hasMessage("pool: got NaN at [" + last + ", 0, 0, 5] (slot, h, d, e) of shape [" + SLOTS
                                + ", 1, 64, 64]; expected finite values, since options.checkFinite() is true");
                la.forwardPacked(in, PoolSlots.of(pool, 3, 2), checked, out);
                assertThat(out.toFloatArray()).containsOnly(0f);
            }
        }
    }
}
