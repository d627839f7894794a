package dev.la2.reference;

import java.util.SplittableRandom;

/**
 * One seed per test run: fresh from the clock unless {@code -Dla2.seed} replays a failure. Every
 * assertion message carries {@link #describe()} so a failing run can be reproduced exactly.
 */
final class Seed {
    static final long VALUE = Long.getLong("la2.seed", System.nanoTime());

    private Seed() {
    }

    /** A stream of its own for each test, so adding a test does not change the others' inputs. */
    static SplittableRandom random(String test) {
        return new SplittableRandom(VALUE ^ (0x9E3779B97F4A7C15L * test.hashCode()));
    }

    static String describe() {
        return "seed " + VALUE + " (replay with -Dla2.seed=" + VALUE + ")";
    }

    static double[] gaussian(SplittableRandom rng, int count, double std) {
        double[] a = new double[count];
        for (int i = 0; i < count; i++) {
            a[i] = std * rng.nextGaussian();
        }
        return a;
    }

    /** ||a - b|| / ||b||, or the absolute norm when b is zero; NaN anywhere gives NaN. */
    static double relativeError(double[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new AssertionError("length " + actual.length + " != " + expected.length);
        }
        double diff = 0, ref = 0;
        for (int i = 0; i < actual.length; i++) {
            double x = actual[i] - expected[i];
            diff += x * x;
            ref += expected[i] * expected[i];
        }
        return ref == 0 ? Math.sqrt(diff) : Math.sqrt(diff / ref);
    }
}
