package dev.la2.backend.cpu;

/**
 * A rows x cols state carried from block to block: {@code value} in fp32, and with {@code wide}
 * also in double, {@code value} then being its rounding and {@code step} the scratch for one
 * block's product (see {@link TileOps#updateState}).
 */
record CarriedState(float[] value, double[] wide, float[] step, int rows, int cols) {

    /** {@code value} as it is, with its double copy when {@code wide}. */
    static CarriedState of(float[] value, boolean wide, int rows, int cols) {
        double[] w = wide ? widen(value) : null;
        return new CarriedState(value, w, w != null ? new float[rows * cols] : null, rows, cols);
    }

    static double[] widen(float[] x) {
        double[] w = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            w[i] = x[i];
        }
        return w;
    }
}
