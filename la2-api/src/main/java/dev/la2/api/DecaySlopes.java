package dev.la2.api;

/** Default per-head decay rates (SPEC.md section 4), as the paper's models use them. */
public final class DecaySlopes {
    private DecaySlopes() {
    }

    /**
     * ALiBi-style rates: for H a power of two, s_h = 2^(-8 (h+1) / H); otherwise the rates of the
     * nearest lower power of two followed by every other rate of the next power of two.
     *
     * @throws La2ArgumentException if {@code heads < 1}
     */
    public static double[] alibi(int heads) {
        if (heads < 1) {
            throw new La2ArgumentException("heads", String.valueOf(heads), ">= 1");
        }
        int lower = Integer.highestOneBit(heads);
        double[] rates = new double[heads];
        double[] base = powerOfTwo(lower);
        System.arraycopy(base, 0, rates, 0, lower);
        if (lower != heads) {
            double[] next = powerOfTwo(2 * lower);
            for (int i = 0; i < heads - lower; i++) {
                rates[lower + i] = next[2 * i];
            }
        }
        return rates;
    }

    /** {@link #alibi(int)} with every rate multiplied by {@code layerScale} (TransNormerLLM's per-layer scaling). */
    public static double[] alibi(int heads, double layerScale) {
        if (!(layerScale >= 0) || Double.isInfinite(layerScale)) {
            throw new La2ArgumentException("layerScale", String.valueOf(layerScale), "a finite number >= 0");
        }
        double[] rates = alibi(heads);
        for (int i = 0; i < rates.length; i++) {
            rates[i] *= layerScale;
        }
        return rates;
    }

    private static double[] powerOfTwo(int heads) {
        double[] rates = new double[heads];
        for (int h = 0; h < heads; h++) {
            rates[h] = Math.pow(2, -8.0 * (h + 1) / heads);
        }
        return rates;
    }
}
