package dev.la2.conformance;

import dev.la2.reference.ErrorNorms;
import java.util.Arrays;
import java.util.Locale;

/** Comparisons against the reference whose failure messages say what, where and by how much. */
final class Check {
    private Check() {
    }

    /** Fails unless {@code actual} is finite everywhere and within {@code tolerance} of {@code expected}. */
    static void close(String what, double[] actual, double[] expected, double tolerance, String context) {
        double error = ErrorNorms.relative(actual, expected);
        if (error <= tolerance) {
            return;
        }
        int bad = 0;
        int firstBad = -1;
        int worst = 0;
        double worstDiff = -1;
        for (int i = 0; i < actual.length; i++) {
            if (!Double.isFinite(actual[i])) {
                bad++;
                if (firstBad < 0) {
                    firstBad = i;
                }
            } else if (Math.abs(actual[i] - expected[i]) > worstDiff) {
                worstDiff = Math.abs(actual[i] - expected[i]);
                worst = i;
            }
        }
        String detail;
        if (bad > 0) {
            detail = bad + " of " + actual.length + " elements are not finite (first at index " + firstBad + ": "
                    + actual[firstBad] + ", expected " + expected[firstBad]
                    + "); outputs are poisoned with NaN before the call, so an unwritten element shows up here";
        } else {
            detail = String.format(Locale.ROOT, "relative error %.3e exceeds %.1e (largest difference %.3e at index %d:"
                    + " got %.9g, expected %.9g)", error, tolerance, worstDiff, worst, actual[worst], expected[worst]);
        }
        throw new AssertionError(context + ": " + what + ": " + detail);
    }

    /**
     * For a reduction whose terms can cancel (dDecay): the error is measured against the larger of
     * the reference and the size of its terms, {@code ||actual - expected|| / max(||expected||, ||scale||)},
     * since rounding is proportional to the terms, not to what is left after they cancel.
     */
    static void closeConditioned(String what, double[] actual, double[] expected, double[] scale, double tolerance,
                                 String context) {
        double error = ErrorNorms.conditioned(actual, expected, scale);
        if (Double.isNaN(error)) {
            close(what, actual, expected, tolerance, context); // says which elements are not finite
            return;
        }
        if (!(error <= tolerance)) {
            throw new AssertionError(context + ": " + what + ": " + String.format(Locale.ROOT,
                    "error %.3e relative to the size of its terms exceeds %.1e (got %s, expected %s, term sizes %s)",
                    error, tolerance, Arrays.toString(actual), Arrays.toString(expected),
                    Arrays.toString(scale)));
        }
    }
}
