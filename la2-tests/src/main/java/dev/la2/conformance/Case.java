package dev.la2.conformance;

import dev.la2.api.DecaySlopes;
import dev.la2.api.Layout;
import java.util.SplittableRandom;

/**
 * The geometry and options of one conformance case. {@code split} is the chaining point m
 * (0 where unused) or, for decode, unused; {@code decay} picks how the per-head rates are drawn.
 */
record Case(int batch, int heads, int tokens, int keyDim, int valueDim, Layout layout, double scale,
            Decay decay, boolean initialState, boolean finalState, boolean finalGradient, boolean learnableDecay,
            int split) {

    enum Decay {
        /** Head 0 without decay, head 1 strong (s in [2, 8]), the rest mild random rates. */
        MIXED,
        /** SPEC.md section 4's ALiBi slopes. */
        ALIBI,
        /**
         * Every head so fast (s in [66, 85]) that lambda is below 1e-28 yet a normal float: dS0 and
         * the decay gradient are proportional to lambda, so a backend that drops negligible powers
         * of lambda must not drop lambda itself.
         */
        FAST,
        /**
         * Every head forgets most of each token (s in [3, 6]): the decay gradient is small beside
         * the sums an identity for it would cancel, so a backend computing it that way must notice.
         */
        STRONG
    }

    static Case of(int b, int h, int n, int d, int e, Layout layout, double scale, Decay decay, boolean s0) {
        return new Case(b, h, n, d, e, layout, scale, decay, s0, true, false, false, 0);
    }

    Case withoutFinalState() {
        return new Case(batch, heads, tokens, keyDim, valueDim, layout, scale, decay, initialState, false, finalGradient,
                learnableDecay, split);
    }

    Case withGradients(boolean dFinal, boolean learnable) {
        return new Case(batch, heads, tokens, keyDim, valueDim, layout, scale, decay, initialState, finalState, dFinal,
                learnable, split);
    }

    Case withSplit(int m) {
        return new Case(batch, heads, tokens, keyDim, valueDim, layout, scale, decay, initialState, finalState,
                finalGradient, learnableDecay, m);
    }

    /** The same case over {@code n} tokens, with or without an initial state. */
    Case withTokens(int n, boolean s0) {
        return new Case(batch, heads, n, keyDim, valueDim, layout, scale, decay, s0, finalState, finalGradient,
                learnableDecay, 0);
    }

    double[] rates(SplittableRandom rng) {
        if (decay == Decay.ALIBI) {
            return DecaySlopes.alibi(heads);
        }
        double[] s = new double[heads];
        if (decay == Decay.FAST || decay == Decay.STRONG) {
            for (int h = 0; h < heads; h++) {
                s[h] = decay == Decay.FAST ? 66 + 19 * rng.nextDouble() : 3 + 3 * rng.nextDouble();
            }
            return s;
        }
        for (int h = 0; h < heads; h++) {
            s[h] = switch (h % 3) {
                case 0 -> 0.0;
                case 1 -> 2 + 6 * rng.nextDouble();
                default -> 0.5 * rng.nextDouble();
            };
        }
        return s;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder().append("B=").append(batch).append(" H=").append(heads)
                .append(" N=").append(tokens).append(" D=").append(keyDim).append(" E=").append(valueDim)
                .append(' ').append(layout).append(" scale=").append(String.format(java.util.Locale.ROOT, "%.4g", scale))
                .append(" decay=").append(decay.name().toLowerCase(java.util.Locale.ROOT))
                .append(initialState ? " S0" : " noS0");
        if (!finalState) {
            sb.append(" noSfinal");
        }
        if (finalGradient) {
            sb.append(" dSfinal");
        }
        if (learnableDecay) {
            sb.append(" learnable");
        }
        if (split > 0) {
            sb.append(" m=").append(split);
        }
        return sb.toString();
    }
}
