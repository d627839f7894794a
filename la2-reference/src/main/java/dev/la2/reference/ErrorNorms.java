package dev.la2.reference;

/**
 * How far a backend's result is from the reference, as SPEC.md section 3 measures it: one place,
 * so the conformance kit and the backends' own tests cannot drift apart.
 */
public final class ErrorNorms {
    private ErrorNorms() {
    }

    /**
     * {@code ||actual - expected|| / ||expected||}, or the absolute norm of the difference when
     * {@code expected} is all zeros. Any NaN or infinity in {@code actual} gives NaN, which fails every
     * comparison.
     */
    public static double relative(double[] actual, double[] expected) {
        return conditioned(actual, expected, null);
    }

    /**
     * For a reduction whose terms can cancel (dDecay): {@code ||actual - expected|| / max(||expected||,
     * ||termSizes||)}, since rounding is proportional to the terms, not to what is left after they
     * cancel. {@code termSizes} null measures against {@code expected} alone, as {@link #relative}.
     */
    public static double conditioned(double[] actual, double[] expected, double[] termSizes) {
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("actual: got " + actual.length + " elements; expected " + expected.length);
        }
        double diff = 0, ref = 0, terms = 0;
        for (int i = 0; i < actual.length; i++) {
            if (!Double.isFinite(actual[i])) {
                return Double.NaN;
            }
            double x = actual[i] - expected[i];
            diff += x * x;
            ref += expected[i] * expected[i];
            if (termSizes != null) {
                terms += termSizes[i] * termSizes[i];
            }
        }
        double size = Math.max(ref, terms);
        return size == 0 ? Math.sqrt(diff) : Math.sqrt(diff / size);
    }
}
