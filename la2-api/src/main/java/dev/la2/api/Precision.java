package dev.la2.api;

/**
 * How FP32 storage may be multiplied. Ignored for FP64 (always strict) and BF16/FP16 (always
 * tensor-core products with fp32 accumulation where the backend has them).
 */
public enum Precision {
    /** fp32 FMAs only: within 1e-5 of the float64 reference (SPEC.md section 3). */
    STRICT,
    /**
     * fp32 accuracy (within 1e-5, like {@link #STRICT}) through tensor cores: each fp32 product is
     * split into three TF32 products (big*big + big*small + small*big). Much faster than FMAs on
     * GPUs. A backend without it computes {@link #STRICT}.
     */
    TF32X3,
    /**
     * Permits tensor-core products of operands rounded to TF32's 11-bit significand (within 3e-3):
     * TF32 products, or fp16 products of operands scaled by powers of two. A backend without them
     * computes {@link #STRICT}, which also meets this tolerance.
     */
    TF32
}
