package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;

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
