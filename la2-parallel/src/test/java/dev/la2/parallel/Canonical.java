package dev.la2.parallel;

import dev.la2.api.Layout;

/** Sequence arrays in canonical [B, H, N, F] order, moved to and from a layout and cut into token ranges. */
final class Canonical {
    private Canonical() {
    }

    static double[] toLayout(double[] canonical, Layout layout, int b, int h, int n, int f) {
        double[] out = new double[canonical.length];
        move(canonical, out, layout, b, h, n, f, true);
        return out;
    }

    static double[] fromLayout(double[] physical, Layout layout, int b, int h, int n, int f) {
        double[] out = new double[physical.length];
        move(physical, out, layout, b, h, n, f, false);
        return out;
    }

    private static void move(double[] from, double[] to, Layout layout, int b, int h, int n, int f, boolean toPhysical) {
        for (int ib = 0; ib < b; ib++) {
            for (int ih = 0; ih < h; ih++) {
                for (int t = 0; t < n; t++) {
                    int c = ((ib * h + ih) * n + t) * f;
                    int p = (int) layout.rowOffset(ib, ih, t, h, n, f);
                    System.arraycopy(from, toPhysical ? c : p, to, toPhysical ? p : c, f);
                }
            }
        }
    }

    /** Tokens [start, end) of every (b, h) sequence. */
    static double[] cut(double[] canonical, int bh, int n, int f, int start, int end) {
        int len = end - start;
        double[] out = new double[bh * len * f];
        for (int s = 0; s < bh; s++) {
            System.arraycopy(canonical, (s * n + start) * f, out, s * len * f, len * f);
        }
        return out;
    }

    /** Writes a piece cut at [start, start + len) back into the whole. */
    static void place(double[] piece, double[] canonical, int bh, int n, int f, int start) {
        int len = piece.length / (bh * f);
        for (int s = 0; s < bh; s++) {
            System.arraycopy(piece, s * len * f, canonical, (s * n + start) * f, len * f);
        }
    }
}
