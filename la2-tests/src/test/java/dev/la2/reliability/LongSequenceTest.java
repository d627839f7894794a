package dev.la2.reliability;

import dev.la2.api.Diagnostics;
import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.AttentionStream;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.spi.HostTensor;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One million tokens in fp32, with and without decay: finite outputs, memory linear in N, and the
 * same result streamed piece by piece through the recurrent state in constant memory.
 */
class LongSequenceTest {
    private static final int N = 1_000_000;
    private static final int H = 2, D = 32, E = 32;

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.la2.reliability.Backends4Test#fast")
    void millionTokensOneCallAndStreamed(String backend) {
        long seed = Long.getLong("la2.seed", System.nanoTime());
        // Hundreds of millions of draws: SplittableRandom's Gaussians (ziggurat) cost a fraction of
        // java.util.Random's (a lock and a logarithm per pair), which would otherwise dominate the test.
        SplittableRandom r = new SplittableRandom(seed);
        float[] q = Calls.gaussian(r, H * N * D, 1 / Math.sqrt(D));
        float[] k = Calls.gaussian(r, H * N * D, 1 / Math.sqrt(D));
        float[] v = Calls.gaussian(r, H * N * E, 1);
        try (LightningAttention la = LightningAttention.open(backend);
             Tensor tq = la.tensor(q, DType.FP32, Shape.of(1, H, N, D));
             Tensor tk = la.tensor(k, DType.FP32, Shape.of(1, H, N, D));
             Tensor tv = la.tensor(v, DType.FP32, Shape.of(1, H, N, E));
             // Head 0 has no decay (plain causal linear attention), head 1 a slow one.
             Tensor decay = la.tensor(new float[] {0f, 1e-4f}, DType.FP32, Shape.of(H))) {
            long inputs = tq.byteSize() + tk.byteSize() + tv.byteSize();
            HostTensor.resetPeakBytes();
            Diagnostics.of(la).resetPeakMemory();
            long peakBase = HostTensor.liveBytes();
            float[] whole;
            long started = System.nanoTime();
            try (ForwardResult res = la.forward(AttentionInputs.of(tq, tk, tv, decay), AttentionOptions.defaults())) {
                whole = res.output().toFloatArray();
            }
            double oneCall = (System.nanoTime() - started) / 1e9;
            long extra = HostTensor.peakBytes() - peakBase;
            long outputBytes = (long) H * N * E * 4;
            for (float x : whole) {
                if (!Float.isFinite(x)) {
                    throw new AssertionError("non-finite output at N = 1e6, seed " + seed);
                }
            }
            // Memory linear in N: beyond the output and final state, the call holds little scratch.
            if (la.backendName().equals("cpu")) {
                assertThat(extra).as("host bytes allocated during the call").isLessThan(outputBytes + outputBytes / 4 + (64L << 20));
            }

            // Streamed in 64 Ki-token pieces through the recurrent state.
            int piece = 1 << 16;
            float[] streamed = new float[whole.length];
            long streamStart = System.nanoTime();
            try (AttentionStream stream = AttentionStream.open(la, decay, DType.FP32, 1, H, D, E, AttentionOptions.defaults())) {
                for (int lo = 0; lo < N; lo += piece) {
                    int len = Math.min(piece, N - lo);
                    try (Tensor pq = la.tensor(slice(q, N, D, lo, len), DType.FP32, Shape.of(1, H, len, D));
                         Tensor pk = la.tensor(slice(k, N, D, lo, len), DType.FP32, Shape.of(1, H, len, D));
                         Tensor pv = la.tensor(slice(v, N, E, lo, len), DType.FP32, Shape.of(1, H, len, E));
                         Tensor po = stream.next(pq, pk, pv)) {
                        float[] o = po.toFloatArray();
                        for (int h = 0; h < H; h++) {
                            System.arraycopy(o, h * len * E, streamed, (h * N + lo) * E, len * E);
                        }
                    }
                }
            }
            double streamSeconds = (System.nanoTime() - streamStart) / 1e9;
            double err = Calls.relativeError(streamed, Calls.wide(whole));
            System.out.printf("N=1e6 on %s: one call %.2f s (extra host bytes %d MiB for %d MiB of inputs), "
                            + "streamed in %d-token pieces %.2f s, relative difference %.2e%n",
                    backend, oneCall, extra >> 20, inputs >> 20, piece, streamSeconds, err);
            assertThat(err).as("streamed vs one call, seed %d", seed).isLessThan(1e-4);
        }
    }

    private static float[] slice(float[] a, int n, int f, int lo, int len) {
        float[] out = new float[H * len * f];
        for (int h = 0; h < H; h++) {
            System.arraycopy(a, (h * n + lo) * f, out, h * len * f, len * f);
        }
        return out;
    }
}
