package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionStreamTest {

    @Test
    void chunkedStreamEqualsOneCall() {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        int b = 1, h = 2, n = 23, d = 3, e = 5;
        double[] q = gaussian(random, b * h * n * d), k = gaussian(random, b * h * n * d), v = gaussian(random, b * h * n * e);
        try (LightningAttention la = LightningAttention.open("loop");
             Tensor decay = la.tensor(new double[] {0.1, 0.0}, DType.FP64, Shape.of(h))) {
            double[] whole;
            try (Tensor tq = la.tensor(q, DType.FP64, Shape.of(b, h, n, d));
                 Tensor tk = la.tensor(k, DType.FP64, Shape.of(b, h, n, d));
                 Tensor tv = la.tensor(v, DType.FP64, Shape.of(b, h, n, e));
                 ForwardResult r = la.forward(AttentionInputs.of(tq, tk, tv, decay), AttentionOptions.defaults())) {
                whole = r.output().toDoubleArray();
            }
            double[] streamed = new double[whole.length];
            int[] cuts = {0, 1, 2, 9, 17, n};
            try (AttentionStream stream = AttentionStream.open(la, decay, DType.FP64, b, h, d, e, AttentionOptions.defaults())) {
                for (int c = 0; c + 1 < cuts.length; c++) {
                    int lo = cuts[c], len = cuts[c + 1] - lo;
                    try (Tensor tq = la.tensor(slice(q, h, n, d, lo, len), DType.FP64, Shape.of(b, h, len, d));
                         Tensor tk = la.tensor(slice(k, h, n, d, lo, len), DType.FP64, Shape.of(b, h, len, d));
                         Tensor tv = la.tensor(slice(v, h, n, e, lo, len), DType.FP64, Shape.of(b, h, len, e));
                         Tensor out = stream.next(tq, tk, tv)) {
                        double[] o = out.toDoubleArray();
                        for (int hh = 0; hh < h; hh++) {
                            System.arraycopy(o, hh * len * e, streamed, (hh * n + lo) * e, len * e);
                        }
                    }
                }
                assertThat(stream.tokens()).isEqualTo(n);
            }
            for (int i = 0; i < whole.length; i++) {
                assertThat(streamed[i]).as("element %d, seed %d", i, seed)
                        .isCloseTo(whole[i], org.assertj.core.data.Offset.offset(1e-12));
            }
        }
    }

    @Test
    void aChunkThatDoesNotContinueTheStreamIsNamedNotTheStreamsState() {
        try (LightningAttention la = LightningAttention.open("loop");
             Tensor decay = la.tensor(new double[] {0.1, 0.0}, DType.FP64, Shape.of(2));
             AttentionStream stream = AttentionStream.open(la, decay, DType.FP64, 1, 2, 3, 5, AttentionOptions.defaults());
             Tensor wideBatch = la.allocate(DType.FP64, Shape.of(2, 2, 4, 3));
             Tensor q = la.allocate(DType.FP64, Shape.of(1, 2, 4, 3));
             Tensor otherValues = la.allocate(DType.FP64, Shape.of(1, 2, 4, 6));
             Tensor single = la.allocate(DType.FP32, Shape.of(1, 2, 4, 3))) {
            double[] state = stream.state().toDoubleArray();
            assertThatThrownBy(() -> stream.next(wideBatch, wideBatch, otherValues))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("q: got shape [2, 2, 4, 3] [B, H, N, D]; expected B=1, H=2, D=3 as the stream's state [1, 2, 3, 5]");
            assertThatThrownBy(() -> stream.next(q, q, otherValues))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("v: got shape [1, 2, 4, 6] [B, H, N, E]; expected B=1, H=2, E=5");
            assertThatThrownBy(() -> stream.next(single, single, single))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("q: got dtype FP32; expected FP64, the stream's sequence type");
            assertThat(stream.state().toDoubleArray()).containsExactly(state);
            assertThat(stream.tokens()).isZero();
        }
    }

    @Test
    void openingRefusesAMissingDecayAndAClosedInitialStateByName() {
        try (LightningAttention la = LightningAttention.open("loop");
             Tensor decay = la.tensor(new double[] {0.1, 0.0}, DType.FP64, Shape.of(2))) {
            assertThatThrownBy(() -> AttentionStream.open(la, null, DType.FP64, 1, 2, 3, 5, AttentionOptions.defaults()))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("decay: got null;");
            Tensor closed = la.allocate(DType.FP64, Shape.of(1, 2, 3, 5));
            closed.close();
            assertThatThrownBy(() -> AttentionStream.open(la, decay, DType.FP64, closed, AttentionOptions.defaults()))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("initialState: got a closed tensor;");
        }
    }

    @Test
    void openingRefusesAnExtentBelowOneByNameBeforeAllocating() {
        String[] names = {"batch", "heads", "keyDim", "valueDim"};
        try (LightningAttention la = LightningAttention.open("loop");
             Tensor decay = la.tensor(new double[] {0.1, 0.0}, DType.FP64, Shape.of(2))) {
            for (String name : names) {
                for (int bad : new int[] {0, -3, Integer.MIN_VALUE}) {
                    int[] dims = {1, 2, 3, 5};
                    dims[java.util.Arrays.asList(names).indexOf(name)] = bad;
                    long live = dev.la2.spi.HostTensor.liveBytes();
                    assertThatThrownBy(() -> AttentionStream.open(la, decay, DType.FP64, dims[0], dims[1], dims[2], dims[3],
                            AttentionOptions.defaults()))
                            .isInstanceOfSatisfying(La2ArgumentException.class, e -> {
                                assertThat(e.argument()).isEqualTo(name);
                                assertThat(e.got()).isEqualTo(String.valueOf(bad));
                                assertThat(e.getMessage()).startsWith(name + ": got " + bad + "; expected ");
                            });
                    assertThat(dev.la2.spi.HostTensor.liveBytes()).as("host bytes held").isLessThanOrEqualTo(live);
                }
            }
        }
    }

    private static double[] slice(double[] a, int h, int n, int f, int lo, int len) {
        double[] out = new double[h * len * f];
        for (int hh = 0; hh < h; hh++) {
            System.arraycopy(a, (hh * n + lo) * f, out, hh * len * f, len * f);
        }
        return out;
    }

    private static double[] gaussian(Random r, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextGaussian();
        }
        return a;
    }
}
