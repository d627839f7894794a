package dev.la2.backend.cpu;

import dev.la2.spi.HostTensor;

/**
 * One head's decay weights for blocks of C tokens: lambda^m and c lambda^m for m = 0..C, in float,
 * from exp(-s m); also rev[j] = lambda^(C-1-j), so that lambda^(l-1-j) for a block of l tokens is
 * rev[C-l+j], and crev[j] = c lambda^(C-1-j). Loops index the reversed tables upwards, which C2
 * vectorizes (a downward index it does not).
 */
record DecayPowers(double s, float[] pow, float[] cpow, float[] rev, float[] crev) {

    static DecayPowers of(double s, double scale, int c) {
        float[] pow = new float[c + 1], cpow = new float[c + 1], rev = new float[c], crev = new float[c];
        for (int m = 0; m <= c; m++) {
            double p = Math.exp(-s * m);
            pow[m] = weight(p);
            cpow[m] = scaledWeight(scale, p);
        }
        for (int j = 0; j < c; j++) {
            rev[j] = pow[c - 1 - j];
            crev[j] = cpow[c - 1 - j];
        }
        return new DecayPowers(s, pow, cpow, rev, crev);
    }

    /** The powers of every head of {@code decay} (one rate per head), for blocks of {@code block} tokens. */
    static DecayPowers[] perHead(HostTensor decay, int heads, double scale, int block) {
        DecayPowers[] p = new DecayPowers[heads];
        for (int h = 0; h < heads; h++) {
            p[h] = of(decay.get(h), scale, block);
        }
        return p;
    }

    /** lambda^m in double, for any m. */
    double at(long m) {
        return Math.exp(-s * m);
    }

    /**
     * A decay weight as float, with magnitudes below 1e-28 flushed to zero. Powers of lambda
     * underflow smoothly into subnormal floats, and products with subnormal operands cost Intel
     * cores a microcode assist each, enough to slow a segmented call several times. A weight that
     * small changes a result by at most 1e-28 times the term it multiplies, below fp32's resolution
     * of the terms of weight 1 (lambda^0) unless that term (a state, a value row) is about 1e20
     * times larger than they are: SPEC.md section 3 states the limit. Results that
     * have no such term, whose every term carries lambda (dS0 = lambda G_0 and the decay gradient,
     * SPEC.md section 2), are therefore computed from quantities that have one (G_0; T / lambda in
     * {@link DqSweep}) or from the unflushed {@link #at} ({@link TileOps#decayRowDots}), and take
     * their power of lambda in double: where lambda itself is below 1e-28 every table weight but
     * lambda^0 is zero.
     */
    static float weight(double x) {
        return Math.abs(x) < 1e-28 ? 0f : (float) x;
    }

    /**
     * c lambda^m as float, zero where lambda^m is flushed by {@link #weight}: the flush compares a
     * power with the undecayed term, which carries the same factor c, so c itself must not decide it
     * (a scale below 1e-28 would otherwise zero every weight).
     */
    static float scaledWeight(double scale, double power) {
        return weight(power) == 0f ? 0f : (float) (scale * power);
    }

    /** The same for weights kept in double (subnormal doubles start near 1e-308). */
    static double weight64(double x) {
        return Math.abs(x) < 1e-280 ? 0 : x;
    }
}
