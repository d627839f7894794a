package dev.la2.reliability;

/**
 * Adam (Kingma and Ba, arXiv 1412.6980) over a fixed set of fp32 parameter arrays, its moments in
 * fp32 as well: the master-weight optimizer of a mixed-precision training loop, whatever the
 * storage type the attention runs in.
 */
final class Adam {
    private static final double BETA1 = 0.9, BETA2 = 0.999, EPSILON = 1e-8;

    private final double learningRate;
    private final float[][] params, first, second;
    private int steps;

    Adam(double learningRate, float[]... params) {
        this.learningRate = learningRate;
        this.params = params;
        first = new float[params.length][];
        second = new float[params.length][];
        for (int i = 0; i < params.length; i++) {
            first[i] = new float[params[i].length];
            second[i] = new float[params[i].length];
        }
    }

    /** One step along {@code gradients}, given in the order of the parameters. */
    void step(float[]... gradients) {
        steps++;
        double correct1 = 1 - Math.pow(BETA1, steps), correct2 = 1 - Math.pow(BETA2, steps);
        for (int i = 0; i < params.length; i++) {
            float[] p = params[i], g = gradients[i], m = first[i], v = second[i];
            for (int j = 0; j < p.length; j++) {
                m[j] = (float) (BETA1 * m[j] + (1 - BETA1) * g[j]);
                v[j] = (float) (BETA2 * v[j] + (1 - BETA2) * g[j] * g[j]);
                p[j] -= (float) (learningRate * (m[j] / correct1) / (Math.sqrt(v[j] / correct2) + EPSILON));
            }
        }
    }
}
