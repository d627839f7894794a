package dev.la2.backend.cpu;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.Canonical;
import dev.la2.spi.AttentionShape;
import dev.la2.api.BackendOptions;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random problems for the tests, fresh each run unless {@code -Dla2.seed} replays one, with the
 * helpers to move them between canonical float64 arrays (the reference's) and backend tensors.
 */
final class Fixture {
    static final long SEED = Long.getLong("la2.seed", System.nanoTime());

    private Fixture() {
    }

    static SplittableRandom random(String test) {
        return new SplittableRandom(SEED ^ (0x9E3779B97F4A7C15L * test.hashCode()));
    }

    static String seed() {
        return "seed " + SEED + " (replay with -Dla2.seed=" + SEED + ")";
    }

    static LightningAttention open(int threads, Map<String, String> properties) {
        return LightningAttention.open("cpu", new BackendOptions(threads, 0, properties));
    }

    /** Values drawn with std, rounded to what the dtype stores so the reference sees the same inputs. */
    static double[] gaussian(SplittableRandom rng, int count, double std, DType dtype) {
        double[] a = new double[count];
        for (int i = 0; i < count; i++) {
            double x = std * rng.nextGaussian();
            a[i] = dtype == DType.FP32 ? (float) x : x;
        }
        return a;
    }

    /** Decay rates covering no decay, slow, ALiBi-like and fast decay. */
    static double[] decay(SplittableRandom rng, int heads, DType dtype) {
        double[] menu = {0.0, 0.003, 0.0625, 0.35, 1.7};
        double[] s = new double[heads];
        for (int h = 0; h < heads; h++) {
            double x = h < menu.length ? menu[h] : menu[rng.nextInt(menu.length)] * (0.5 + rng.nextDouble());
            s[h] = dtype == DType.FP32 ? (float) x : x;
        }
        return s;
    }

    static AttentionShape shape(int b, int h, int n, int d, int e, Layout layout, DType dtype) {
        return new AttentionShape(b, h, n, d, e, layout, dtype);
    }

    /** A sequence tensor holding canonical [B, H, N, F] data in the shape's layout. */
    static Tensor sequence(LightningAttention la, double[] canonical, AttentionShape s, int f) {
        return la.tensor(Canonical.fromCanonical(canonical, s, f), s.dtype(),
                s.layout().shape(s.batch(), s.heads(), s.tokens(), f));
    }

    static double[] canonical(Tensor t, AttentionShape s, int f) {
        return Canonical.gather(t, s, f);
    }

    static Tensor state(LightningAttention la, double[] data, AttentionShape s) {
        return la.tensor(data, s.dtype().stateType(), Shape.of(s.batch(), s.heads(), s.keyDim(), s.valueDim()));
    }

    static double tolerance(DType dtype) {
        return dtype == DType.FP64 ? 1e-12 : 1e-5;
    }
}
