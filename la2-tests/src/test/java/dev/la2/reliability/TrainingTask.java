package dev.la2.reliability;

import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import java.util.Random;

/**
 * A learnable regression for {@link ProjectedAttention}: a fixed random input x ~ N(0, 1) and the
 * output of a teacher of the same architecture with its own random weights and decay rates,
 * computed by the float64 reference backend. The teacher's scale c is chosen so that the target's
 * root mean square is one (the output is linear in c); the student shares that c, starts from other
 * random weights and has each head's decay rate 4 times or a quarter of the teacher's.
 *
 * @param studentSeed seeds the student's weights, so that every run of a task starts alike
 */
record TrainingTask(ProjectedAttention.Size size, float[] x, float[] target, double scale, long studentSeed,
                    double[] studentRates) {

    static TrainingTask random(ProjectedAttention.Size s, Random r) {
        float[] x = Calls.gaussian(r, s.b() * s.n() * s.model(), 1);
        double[] teacherRates = new double[s.h()], studentRates = new double[s.h()];
        for (int h = 0; h < s.h(); h++) {
            // Log-uniform in [0.02, 0.2]: memories of 5 to 50 tokens.
            teacherRates[h] = 0.02 * Math.pow(10, r.nextDouble());
            studentRates[h] = teacherRates[h] * (r.nextBoolean() ? 4 : 0.25);
        }
        double scale = 1 / Math.sqrt(s.d());
        float[] target;
        try (LightningAttention reference = LightningAttention.open("reference")) {
            target = ProjectedAttention.random(s, scale, r, teacherRates).output(reference, DType.FP32, x);
        }
        double sum = 0;
        for (float y : target) {
            sum += (double) y * y;
        }
        float rms = (float) Math.sqrt(sum / target.length);
        for (int i = 0; i < target.length; i++) {
            target[i] /= rms;
        }
        return new TrainingTask(s, x, target, scale / rms, r.nextLong(), studentRates);
    }

    ProjectedAttention student() {
        return ProjectedAttention.random(size, scale, new Random(studentSeed), studentRates);
    }
}
