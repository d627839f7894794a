package dev.la2.reference;

import dev.la2.api.Layout;
import dev.la2.api.Tensor;
import dev.la2.spi.AttentionShape;

/** Moves sequence tensors between a call's layout and the reference's canonical [B, H, N, F]. */
public final class Canonical {
    private Canonical() {
    }

    /** The tensor's elements as float64 in [B, H, N, F] order. */
    public static double[] gather(Tensor t, AttentionShape s, int features) {
        return toCanonical(t.toDoubleArray(), s, features);
    }

    /** Writes canonical [B, H, N, F] values into {@code t} in the call's layout. */
    public static void scatter(double[] canonical, Tensor t, AttentionShape s, int features) {
        t.copyFrom(fromCanonical(canonical, s, features));
    }

    public static double[] toCanonical(double[] physical, AttentionShape s, int features) {
        if (s.layout() == Layout.BHND) {
            return physical;
        }
        double[] out = new double[physical.length];
        permute(physical, out, s, features, true);
        return out;
    }

    public static double[] fromCanonical(double[] canonical, AttentionShape s, int features) {
        if (s.layout() == Layout.BHND) {
            return canonical;
        }
        double[] out = new double[canonical.length];
        permute(canonical, out, s, features, false);
        return out;
    }

    private static void permute(double[] src, double[] dst, AttentionShape s, int f, boolean toCanonical) {
        int n = s.tokens(), heads = s.heads();
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < n; t++) {
                    int canonical = ((b * heads + h) * n + t) * f;
                    int physical = (int) s.layout().rowOffset(b, h, t, heads, n, f);
                    if (toCanonical) {
                        System.arraycopy(src, physical, dst, canonical, f);
                    } else {
                        System.arraycopy(src, canonical, dst, physical, f);
                    }
                }
            }
        }
    }
}
