package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Outputs may not alias an input (SPEC.md section 5), and {@code wrap} makes a new tensor for each
 * view of the caller's memory: two distinct tensors over overlapping memory alias as much as one
 * tensor passed twice, and are refused the same way, before any work.
 */
class OverlappingMemoryTest {
    private static final int B = 1, H = 2, N = 4, D = 4, E = 4;
    private static final Shape SEQUENCE = Shape.of(B, H, N, D);
    private static final int COUNT = B * H * N * D;

    private final long seed = System.nanoTime();
    private final Random random = new Random(seed);

    @Test
    void anOutputWrappingAnInputsMemoryIsRefusedAndChangesNothing() {
        try (LightningAttention la = LightningAttention.open("cpu"); Arena arena = Arena.ofShared()) {
            MemorySegment memory = randomFloats(arena, COUNT);
            Tensor q = la.wrap(memory, DType.FP32, SEQUENCE).orElseThrow();
            Tensor sameMemory = la.wrap(memory, DType.FP32, SEQUENCE).orElseThrow();
            try (Tensor k = random(la, SEQUENCE); Tensor v = random(la, SEQUENCE); Tensor decay = decay(la);
                 Tensor fin = la.allocate(DType.FP32, Shape.of(B, H, D, E))) {
                float[] before = q.toFloatArray();
                assertThatThrownBy(() -> la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults(), sameMemory, fin))
                        .isInstanceOf(La2ArgumentException.class)
                        .hasMessage("output: got memory overlapping q; expected a tensor of its own (outputs may not alias)");
                assertThat(q.toFloatArray()).as("seed %d", seed).containsExactly(before);
                try (ForwardResult r = la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults())) {
                    assertThat(r.output().toFloatArray()).doesNotContain(Float.NaN);
                }
            }
        }
    }

    @Test
    void anOutputOverlappingPartOfAnInputIsRefused() {
        try (LightningAttention la = LightningAttention.open("cpu"); Arena arena = Arena.ofShared()) {
            MemorySegment memory = randomFloats(arena, 2 * COUNT);
            long bytes = COUNT * 4L;
            Tensor k = la.wrap(memory.asSlice(0, bytes), DType.FP32, SEQUENCE).orElseThrow();
            Tensor halfOverK = la.wrap(memory.asSlice(bytes / 2, bytes), DType.FP32, SEQUENCE).orElseThrow();
            Tensor besideK = la.wrap(memory.asSlice(bytes, bytes), DType.FP32, SEQUENCE).orElseThrow();
            try (Tensor q = random(la, SEQUENCE); Tensor v = random(la, SEQUENCE); Tensor decay = decay(la)) {
                float[] held = halfOverK.toFloatArray();
                assertThatThrownBy(() -> la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults(), halfOverK, null))
                        .isInstanceOf(La2ArgumentException.class)
                        .hasMessageStartingWith("output: got memory overlapping k;");
                assertThat(halfOverK.toFloatArray()).as("seed %d", seed).containsExactly(held);
                besideK.fill(Double.NaN);
                la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults(), besideK, null);
                assertThat(besideK.toFloatArray()).doesNotContain(Float.NaN);
            }
        }
    }

    @Test
    void aDecodeStateOrAPoolOverlappingAnInputIsRefused() {
        try (LightningAttention la = LightningAttention.open("cpu"); Arena arena = Arena.ofShared()) {
            MemorySegment memory = randomFloats(arena, B * H * D * E);
            Tensor state = la.wrap(memory, DType.FP32, Shape.of(B, H, D, E)).orElseThrow();
            Tensor q = la.wrap(memory.asSlice(0, B * H * D * 4L), DType.FP32, Shape.of(B, H, D)).orElseThrow();
            try (Tensor k = random(la, Shape.of(B, H, D)); Tensor v = random(la, Shape.of(B, H, E)); Tensor decay = decay(la)) {
                assertThatThrownBy(() -> la.decode(q, k, v, decay, state, 1.0))
                        .isInstanceOf(La2ArgumentException.class)
                        .hasMessageStartingWith("state: got memory overlapping q;");
                Tensor packedQ = la.wrap(memory.asSlice(0, N * H * D * 4L), DType.FP32, Shape.of(N, H, D)).orElseThrow();
                try (Tensor pk = random(la, Shape.of(N, H, D)); Tensor pv = random(la, Shape.of(N, H, E));
                     Tensor out = la.allocate(DType.FP32, Shape.of(N, H, E))) {
                    float[] before = state.toFloatArray();
                    assertThatThrownBy(() -> la.forwardPacked(PackedInputs.of(packedQ, pk, pv, decay, SequenceOffsets.ofLengths(N)),
                            PoolSlots.of(state, 0), AttentionOptions.defaults(), out))
                            .isInstanceOf(La2ArgumentException.class)
                            .hasMessageStartingWith("pool: got memory overlapping q;");
                    assertThat(state.toFloatArray()).containsExactly(before);
                }
            }
        }
    }

    private MemorySegment randomFloats(Arena arena, int count) {
        MemorySegment m = arena.allocate(count * 4L, 64);
        for (int i = 0; i < count; i++) {
            m.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
        }
        return m;
    }

    private Tensor random(LightningAttention la, Shape shape) {
        float[] a = new float[Math.toIntExact(shape.elementCount())];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) random.nextGaussian();
        }
        return la.tensor(a, DType.FP32, shape);
    }

    private static Tensor decay(LightningAttention la) {
        return la.tensor(new float[] {0.1f, 0.5f}, DType.FP32, Shape.of(H));
    }
}
