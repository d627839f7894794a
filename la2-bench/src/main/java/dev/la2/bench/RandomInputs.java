package dev.la2.bench;

import java.util.SplittableRandom;

/**
 * Inputs drawn as SPEC.md section 3 prescribes: q, k ~ N(0, 1/D), v ~ N(0, 1). The values do not
 * depend on the layout (they are i.i.d.), so one array serves BHND and BNHD tensors alike.
 */
public final class RandomInputs {
    private RandomInputs() {
    }

    public static float[] normal(long count, double stdDev, SplittableRandom random) {
        float[] out = new float[Math.toIntExact(count)];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (random.nextGaussian() * stdDev);
        }
        return out;
    }

    public static float[] queries(BenchProblem p, SplittableRandom random) {
        return normal(p.keyElements(), 1 / Math.sqrt(p.keyDim()), random);
    }

    public static float[] values(BenchProblem p, SplittableRandom random) {
        return normal(p.valueElements(), 1, random);
    }
}
