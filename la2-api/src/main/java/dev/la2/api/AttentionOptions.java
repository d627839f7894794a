package dev.la2.api;

import java.util.Arrays;

/**
 * Per-call options.
 *
 * @param scale            the factor c of SPEC.md (default 1.0); any finite value, and a call with
 *                         FP32, BF16 or FP16 storage also needs 0 or a normal fp32 magnitude
 *                         ({@link #checkScale(double, DType)})
 * @param layout           memory order of q, k, v, the output and their gradients (default BHND)
 * @param precision        how FP32 storage may be multiplied (default {@link Precision#STRICT})
 * @param returnFinalState whether {@code forward} allocates and returns the final state (default true)
 * @param learnableDecay   whether {@code backward} computes the gradient of the decay rates (default false)
 * @param saveForBackward  whether {@code forward} keeps per-block states for its backward, trading
 *                         memory for a faster backward (default false; see {@link SavedForward})
 * @param checkFinite      whether a call first looks for NaN or infinity in its inputs (q, k, v, the
 *                         initial state; for {@code backward} also dOutput and dFinalState) and
 *                         rejects the call naming the first such element, leaving every output as
 *                         it was (default false: they propagate to the outputs they touch, as
 *                         SPEC.md section 3 says). It reads each input once more, through a host
 *                         copy: a debugging aid, not for every training step.
 */
public record AttentionOptions(double scale, Layout layout, Precision precision,
                               boolean returnFinalState, boolean learnableDecay, boolean saveForBackward,
                               boolean checkFinite) {

    private static final AttentionOptions DEFAULTS =
            new AttentionOptions(1.0, Layout.BHND, Precision.STRICT, true, false, false, false);

    public AttentionOptions {
        checkFinite(scale);
        if (layout == null) {
            throw new La2ArgumentException("layout", "null", "one of " + Arrays.toString(Layout.values()));
        }
        if (precision == null) {
            throw new La2ArgumentException("precision", "null", "one of " + Arrays.toString(Precision.values()));
        }
    }

    private static void checkFinite(double scale) {
        if (!Double.isFinite(scale)) {
            throw new La2ArgumentException("scale", String.valueOf(scale), "a finite number");
        }
    }

    /**
     * A call's scale against its storage type (SPEC.md section 1): finite, and where the storage
     * computes in fp32 (FP32, BF16, FP16), zero or a normal fp32 magnitude, since a scale that
     * fp32 cannot hold would turn every output into zero or infinity. Every call checks it; public
     * for callers that must refuse a call before handing it on (as the ranks of a split sequence do).
     *
     * @throws La2ArgumentException naming {@code scale}
     */
    public static void checkScale(double scale, DType storage) {
        checkFinite(scale);
        double m = Math.abs(scale);
        if (storage != DType.FP64 && m != 0 && (m < Float.MIN_NORMAL || m > Float.MAX_VALUE)) {
            throw new La2ArgumentException("scale", String.valueOf(scale), "0 or a magnitude from " + Float.MIN_NORMAL
                    + " to " + Float.MAX_VALUE + ", since " + storage + " storage computes in fp32");
        }
    }

    public static AttentionOptions defaults() {
        return DEFAULTS;
    }

    public AttentionOptions withScale(double newScale) {
        return new AttentionOptions(newScale, layout, precision, returnFinalState, learnableDecay, saveForBackward, checkFinite);
    }

    public AttentionOptions withLayout(Layout newLayout) {
        return new AttentionOptions(scale, newLayout, precision, returnFinalState, learnableDecay, saveForBackward, checkFinite);
    }

    public AttentionOptions withPrecision(Precision newPrecision) {
        return new AttentionOptions(scale, layout, newPrecision, returnFinalState, learnableDecay, saveForBackward, checkFinite);
    }

    public AttentionOptions withFinalState(boolean wanted) {
        return new AttentionOptions(scale, layout, precision, wanted, learnableDecay, saveForBackward, checkFinite);
    }

    public AttentionOptions withLearnableDecay(boolean learnable) {
        return new AttentionOptions(scale, layout, precision, returnFinalState, learnable, saveForBackward, checkFinite);
    }

    public AttentionOptions withSaveForBackward(boolean save) {
        return new AttentionOptions(scale, layout, precision, returnFinalState, learnableDecay, save, checkFinite);
    }

    public AttentionOptions withFiniteCheck(boolean check) {
        return new AttentionOptions(scale, layout, precision, returnFinalState, learnableDecay, saveForBackward, check);
    }
}
