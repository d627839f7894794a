package dev.la2.api;

import java.util.Objects;

/**
 * Per-call options.
 *
 * @param scale            the factor c of SPEC.md (default 1.0); any finite value
 * @param layout           memory order of q, k, v, the output and their gradients (default BHND)
 * @param precision        how FP32 storage may be multiplied (default {@link Precision#STRICT})
 * @param returnFinalState whether {@code forward} allocates and returns the final state (default true)
 * @param learnableDecay   whether {@code backward} computes the gradient of the decay rates (default false)
 * @param saveForBackward  whether {@code forward} keeps per-block states for its backward, trading
 *                         memory for a faster backward (default false; see {@link SavedForward})
 */
public record AttentionOptions(double scale, Layout layout, Precision precision,
                               boolean returnFinalState, boolean learnableDecay, boolean saveForBackward) {

    private static final AttentionOptions DEFAULTS =
            new AttentionOptions(1.0, Layout.BHND, Precision.STRICT, true, false, false);

    public AttentionOptions {
        if (!Double.isFinite(scale)) {
            throw new La2ArgumentException("scale", String.valueOf(scale), "a finite number");
        }
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(precision, "precision");
    }

    public static AttentionOptions defaults() {
        return DEFAULTS;
    }

    public AttentionOptions withScale(double newScale) {
        return new AttentionOptions(newScale, layout, precision, returnFinalState, learnableDecay, saveForBackward);
    }

    public AttentionOptions withLayout(Layout newLayout) {
        return new AttentionOptions(scale, newLayout, precision, returnFinalState, learnableDecay, saveForBackward);
    }

    public AttentionOptions withPrecision(Precision newPrecision) {
        return new AttentionOptions(scale, layout, newPrecision, returnFinalState, learnableDecay, saveForBackward);
    }

    public AttentionOptions withFinalState(boolean wanted) {
        return new AttentionOptions(scale, layout, precision, wanted, learnableDecay, saveForBackward);
    }

    public AttentionOptions withLearnableDecay(boolean learnable) {
        return new AttentionOptions(scale, layout, precision, returnFinalState, learnable, saveForBackward);
    }

    public AttentionOptions withSaveForBackward(boolean save) {
        return new AttentionOptions(scale, layout, precision, returnFinalState, learnableDecay, save);
    }
}
