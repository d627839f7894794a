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
}
