package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Outputs that share memory with an input or with each other are refused (SPEC.md section 5) whether
 * the adapter would view them or copy them (the backend sees only the copies, so the adapter checks
 * the arrays: two copied outputs over one array would be written one over the other). Strided views
 * of one buffer that share no element are not refused.
 */
class AdapterAliasingTest {
    private static final int B = 2;
    private static final int H = 2;
    private static final int N = 5;
    private static final int D = 3;
    private static final AttentionOptions OPTIONS = AttentionOptions.defaults();

    /** The backend the layers share, open for the whole JVM. */
    private final LightningAttention la = BackendCache.preferred(TestData.backend(), DType.FP32);

    /** Dense NWC q, k, v and dOutput, and decay rates. */
    private record Call(INDArray q, INDArray k, INDArray v, INDArray dOut, INDArray decay) {
        static Call random(String salt) {
            Random r = TestData.random(salt);
            return new Call(seq(r), seq(r), seq(r), seq(r), Nd4j.createFromArray(0.1f, 0.3f));
        }
    }

    private static INDArray seq(Random r) {
        return TestData.normal(r, DataType.FLOAT, 0.5, B, N, (long) H * D);
    }

    private static INDArray nan(long... shape) {
        return Nd4j.createUninitialized(DataType.FLOAT, shape, 'c').assign(Double.NaN);
    }

    private static void assertRefused(Runnable call, String argument, String shared) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(La2ArgumentException.class, e -> {
            assertThat(e.argument()).isEqualTo(argument);
            assertThat(e.getMessage()).contains(shared).contains("outputs may not alias");
        });
    }

    @Test
    void anOutputOverAnInputIsRefusedWhenCopied() {
        Call c = Call.random("aliasInput");
        INDArray q = c.q();
        INDArray before = q.dup();
        Nd4jAttention copying = new Nd4jAttention(la, false);
        assertRefused(() -> copying.forward(SequenceFormat.NWC, H, q, c.k(), c.v(), c.decay(), null, OPTIONS, q, null),
                "output", "the same array as q");
        assertThat(q).isEqualTo(before);

        // A final state over its initial state, both 'f'-ordered so that even the viewing adapter copies them.
        INDArray s0 = TestData.normal(TestData.random("aliasState"), DataType.FLOAT, 0.5, B, H, D, D).dup('f');
        INDArray out = nan(B, N, (long) H * D);
        assertRefused(() -> new Nd4jAttention(la).forward(SequenceFormat.NWC, H, q, c.k(), c.v(), c.decay(), s0,
                OPTIONS.withFinalState(true), out, s0), "finalState", "the same array as initialState");
        assertThat(out.isNaN().all()).as("output left as it was").isTrue();
    }

    @Test
    void twoGradientsOverOneArrayAreRefusedWhenCopied() {
        Call c = Call.random("aliasGrads");
        INDArray shared = nan(B, N, (long) H * D).dup('f');
        Nd4jAttention.Grads into = new Nd4jAttention.Grads(shared, shared, nan(B, N, (long) H * D),
                nan(B, H, D, D), null);
        assertRefused(() -> new Nd4jAttention(la).backward(SequenceFormat.NWC, H, c.q(), c.k(), c.v(), c.decay(), null,
                c.dOut(), null, OPTIONS, into), "into.dk", "the same array as into.dq");
        assertThat(shared.isNaN().all()).as("gradients left as they were").isTrue();
    }

    /** q, k, v and the output as column blocks of one [B, N, 4*H*D] buffer: interleaved, never shared. */
    @Test
    void interleavedViewsOfOneBufferAreNotRefused() {
        Random r = TestData.random("aliasInterleaved");
        long width = (long) H * D;
        INDArray fused = TestData.normal(r, DataType.FLOAT, 0.5, B, N, 4 * width);
        INDArray[] block = new INDArray[4];
        for (int i = 0; i < 4; i++) {
            block[i] = fused.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(i * width, (i + 1) * width));
        }
        INDArray decay = Nd4j.createFromArray(0.1f, 0.3f);
        INDArray expected = new Nd4jAttention(la).forward(SequenceFormat.NWC, H, block[0].dup(), block[1].dup(),
                block[2].dup(), decay, null, OPTIONS).output();
        new Nd4jAttention(la).forward(SequenceFormat.NWC, H, block[0], block[1], block[2], decay, null, OPTIONS,
                block[3], null);
        assertThat(block[3]).isEqualTo(expected);
        // The output over the q block itself is refused.
        assertRefused(() -> new Nd4jAttention(la).forward(SequenceFormat.NWC, H, block[0], block[1], block[2], decay,
                null, OPTIONS, fused.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(1, width + 1)),
                null), "output", "memory overlapping q");
    }
}
