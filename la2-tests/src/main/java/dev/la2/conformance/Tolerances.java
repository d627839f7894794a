package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.Precision;

/**
 * SPEC.md section 3's tolerances: the largest relative Frobenius error {@code ||x - ref|| / ||ref||}
 * a backend may show against the float64 reference computed from the values its tensors hold.
 */
public final class Tolerances {
    /** The sequence length up to which the fp32 bound holds as stated; beyond it, rounding grows as sqrt(N). */
    public static final int FP32_TOKENS = 4096;

    private Tolerances() {
    }

    /**
     * @param dtype     storage type of the sequence tensors
     * @param precision how FP32 may be multiplied (ignored for other types); TF32X3 promises fp32 accuracy
     * @param tokens    sequence length N of the call
     */
    public static double of(DType dtype, Precision precision, int tokens) {
        return switch (dtype) {
            case FP64 -> 1e-10;
            case FP32 -> precision == Precision.TF32 ? 3e-3 : 1e-5 * Math.max(1.0, Math.sqrt(tokens / (double) FP32_TOKENS));
            case BF16, FP16 -> 2e-2;
        };
    }

    /**
     * {@code ||actual - expected|| / ||expected||}, or the absolute norm of the difference when
     * {@code expected} is all zeros. Any NaN or infinity in {@code actual} gives NaN, which fails every
     * comparison.
     */
    public static double relativeError(double[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("actual: got " + actual.length + " elements; expected " + expected.length);
        }
        double diff = 0;
        double ref = 0;
        for (int i = 0; i < actual.length; i++) {
            if (!Double.isFinite(actual[i])) {
                return Double.NaN;
            }
            double x = actual[i] - expected[i];
            diff += x * x;
            ref += expected[i] * expected[i];
        }
        return ref == 0 ? Math.sqrt(diff) : Math.sqrt(diff / ref);
    }
}
