package dev.la2.nd4j;

import java.util.Arrays;
import java.util.Random;

/**
 * Times of two modes, A and B, measured in interleaved pairs (run i of A next to run i of B), and
 * the robust summaries of them for a noisy machine: per mode the median and the interquartile
 * range, and the ratio of the medians B / A with a percentile bootstrap interval that resamples
 * whole pairs, so load shared by a pair's two runs moves both together.
 *
 * @param a times of mode A, one per pair
 * @param b times of mode B, in the same order
 */
record PairedTimes(double[] a, double[] b) {
    /** Bootstrap resamples; the interval's ends move by well under its width at this count. */
    private static final int RESAMPLES = 2000;

    PairedTimes {
        if (a.length != b.length || a.length == 0) {
            throw new IllegalArgumentException("pairs: got " + a.length + " and " + b.length
                    + " times; expected the same number, at least 1");
        }
    }

    /** The p-quantile (0..1) by linear interpolation between order statistics. */
    static double quantile(double[] x, double p) {
        double[] s = x.clone();
        Arrays.sort(s);
        double pos = p * (s.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, s.length - 1);
        return s[lo] + (pos - lo) * (s[hi] - s[lo]);
    }

    static double median(double[] x) {
        return quantile(x, 0.5);
    }

    /** The median ratio B / A. */
    double ratio() {
        return median(b) / median(a);
    }

    /**
     * The central {@code level} interval (for example 0.95) of the ratio of medians over bootstrap
     * resamples of the pairs, from a fixed seed so a table is reproducible from its times.
     */
    double[] ratioInterval(double level) {
        Random random = new Random(0x1a2L);
        int n = a.length;
        double[] ratios = new double[RESAMPLES];
        double[] ra = new double[n];
        double[] rb = new double[n];
        for (int i = 0; i < RESAMPLES; i++) {
            for (int j = 0; j < n; j++) {
                int k = random.nextInt(n);
                ra[j] = a[k];
                rb[j] = b[k];
            }
            ratios[i] = median(rb) / median(ra);
        }
        double tail = (1 - level) / 2;
        return new double[] {quantile(ratios, tail), quantile(ratios, 1 - tail)};
    }

    /** "median [q1, q3]" of the times, to {@code decimals} places. */
    static String medianAndQuartiles(double[] x, int decimals) {
        String f = "%." + decimals + "f";
        return String.format(f + " [" + f + ", " + f + "]", median(x), quantile(x, 0.25), quantile(x, 0.75));
    }
}
