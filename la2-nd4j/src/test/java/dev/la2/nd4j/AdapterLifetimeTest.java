package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionOptions;
import dev.la2.api.LightningAttention;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The adapter hands the backend the arrays' memory by address, which does not keep an array alive:
 * arrays a caller makes for one call alone (as the layer does for a masked batch's initial states)
 * must stay alive until the call ends, or ND4J frees their memory under the backend. The backend
 * here collects garbage as each call starts and notes whether any array of the call was collected;
 * the calls run often enough for the JIT to compile the adapter, whose compiled frames hold no
 * argument past its last use.
 */
class AdapterLifetimeTest {
    private static final int B = 2, H = 2, N = 9, D = 4, E = 3;
    private final List<WeakReference<INDArray>> arrays = new ArrayList<>();

    @AfterEach
    void quiet() {
        CountingProvider.atCall = () -> { };
    }

    /** {@code a}, watched: it is collected only once nothing holds it. */
    private INDArray watched(INDArray a) {
        arrays.add(new WeakReference<>(a));
        return a;
    }

    private INDArray random(long... shape) {
        return watched(Nd4j.rand(DataType.FLOAT, shape));
    }

    /** One forward, then one backward, each on arrays made for it alone (outputs and gradients aside). */
    private void forwardBackward(Nd4jAttention attention, AttentionOptions options) {
        arrays.clear();
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, B, H, N, E);
        attention.forward(SequenceFormat.BHND, H, random(B, H, N, D), random(B, H, N, D), random(B, H, N, E),
                watched(Nd4j.createFromArray(0.1f, 0.4f)), random(B, H, D, E), options, out, null);
        arrays.clear();
        attention.backward(SequenceFormat.BHND, H, random(B, H, N, D), random(B, H, N, D), random(B, H, N, E),
                watched(Nd4j.createFromArray(0.1f, 0.4f)), random(B, H, D, E), random(B, H, N, E), null, options);
    }

    @Test
    void theArraysACallReadsLiveUntilItEnds() {
        AttentionOptions options = AttentionOptions.defaults();
        List<Boolean> collected = new ArrayList<>();
        try (LightningAttention la = LightningAttention.open(CountingProvider.NAME)) {
            Nd4jAttention attention = new Nd4jAttention(la);
            for (int i = 0; i < 3000; i++) {
                forwardBackward(attention, options);
            }
            CountingProvider.atCall = () -> {
                System.gc();
                collected.add(arrays.stream().anyMatch(r -> r.get() == null));
            };
            for (int i = 0; i < 10; i++) {
                forwardBackward(attention, options);
            }
        }
        assertThat(collected).hasSize(20).containsOnly(false);
    }
}
