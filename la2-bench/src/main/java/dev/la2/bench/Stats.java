package dev.la2.bench;

import java.util.Arrays;

/** Median and spread of repeated timings. */
public record Stats(double median, double min, double max, int count) {

    public static Stats of(double[] samples) {
        if (samples == null || samples.length == 0) {
            throw new IllegalArgumentException("samples: got none; expected at least one timing");
        }
        double[] sorted = samples.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new Stats(median, sorted[0], sorted[n - 1], n);
    }
}
