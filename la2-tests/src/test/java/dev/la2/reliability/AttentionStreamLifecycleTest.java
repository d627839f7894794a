package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionOptions;
import dev.la2.api.AttentionStream;
import dev.la2.api.DType;
import dev.la2.api.Diagnostics;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import org.junit.jupiter.api.Test;

/**
 * An {@link AttentionStream} holds two states and nothing else, whatever options it is given, and a
 * closed stream says so rather than failing on the states it has released.
 */
class AttentionStreamLifecycleTest {
    private static final int B = 1, H = 2, N = 130, D = 16, E = 16;

    @Test
    void aStreamOpenedWithSaveForBackwardKeepsNothingPerChunk() {
        try (LightningAttention la = LightningAttention.open("cpu");
             Tensor q = la.tensor(new float[B * H * N * D], DType.FP32, Shape.of(B, H, N, D));
             Tensor k = la.tensor(new float[B * H * N * D], DType.FP32, Shape.of(B, H, N, D));
             Tensor v = la.tensor(new float[B * H * N * E], DType.FP32, Shape.of(B, H, N, E));
             Tensor decay = la.tensor(new float[] {0.1f, 0.2f}, DType.FP32, Shape.of(H))) {
            Diagnostics diag = Diagnostics.of(la);
            long before = diag.memoryStats().orElseThrow().inUseBytes();
            try (AttentionStream stream = AttentionStream.open(la, decay, DType.FP32, B, H, D, E,
                    AttentionOptions.defaults().withSaveForBackward(true))) {
                for (int i = 0; i < 20; i++) {
                    stream.next(q, k, v).close();
                }
            }
            assertThat(diag.memoryStats().orElseThrow().inUseBytes()).isEqualTo(before);
        }
    }

    @Test
    void aClosedStreamRefusesTheNextChunkAsClosed() {
        try (LightningAttention la = LightningAttention.open("reference");
             Tensor q = la.tensor(new float[B * H * D], DType.FP32, Shape.of(B, H, 1, D));
             Tensor v = la.tensor(new float[B * H * E], DType.FP32, Shape.of(B, H, 1, E));
             Tensor out = la.allocate(DType.FP32, Shape.of(B, H, 1, E));
             Tensor decay = la.tensor(new float[] {0.1f, 0.2f}, DType.FP32, Shape.of(H))) {
            AttentionStream stream = AttentionStream.open(la, decay, DType.FP32, B, H, D, E, AttentionOptions.defaults());
            stream.next(q, q, v).close();
            stream.close();
            assertThatThrownBy(() -> stream.next(q, q, v)).isInstanceOf(IllegalStateException.class)
                    .hasMessage("la2 AttentionStream is closed (after 1 tokens)");
            assertThatThrownBy(() -> stream.next(q, q, v, out)).isInstanceOf(IllegalStateException.class);
            stream.close();
        }
    }
}
