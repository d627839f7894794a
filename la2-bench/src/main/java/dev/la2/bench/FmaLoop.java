package dev.la2.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernel of {@link FmaPeak}: chains of fused multiply-adds on the preferred float vector, kept
 * apart so that nothing else in la2-bench links against the incubator module.
 */
final class FmaLoop {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    /**
     * Independent chains per thread: an FMA's result is ready only some cycles after it issues, and
     * a core issues up to two per cycle, so fewer chains would measure the latency, not the rate.
     */
    static final int ACCUMULATORS = 12;
    /** FMAs per chain between two looks at the clock. */
    private static final int INNER = 1024;

    /** Keeps the accumulators live, so the JIT cannot drop the loop. */
    private static volatile float sink;

    private FmaLoop() {
    }

    /** Runs until {@code deadlineNanos} (System.nanoTime()) and returns the vector FMAs done. */
    static long run(long deadlineNanos) {
        // a = a * x + y converges to y / (1 - x): the values stay finite and normal however long it runs.
        FloatVector x = FloatVector.broadcast(SPECIES, 0.999f);
        FloatVector y = FloatVector.broadcast(SPECIES, 1e-3f);
        FloatVector a0 = y, a1 = y, a2 = y, a3 = y, a4 = y, a5 = y, a6 = y, a7 = y, a8 = y, a9 = y, a10 = y, a11 = y;
        long rounds = 0;
        do {
            for (int i = 0; i < INNER; i++) {
                a0 = a0.fma(x, y);
                a1 = a1.fma(x, y);
                a2 = a2.fma(x, y);
                a3 = a3.fma(x, y);
                a4 = a4.fma(x, y);
                a5 = a5.fma(x, y);
                a6 = a6.fma(x, y);
                a7 = a7.fma(x, y);
                a8 = a8.fma(x, y);
                a9 = a9.fma(x, y);
                a10 = a10.fma(x, y);
                a11 = a11.fma(x, y);
            }
            rounds++;
        } while (System.nanoTime() < deadlineNanos);
        sink = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
        return rounds * INNER * ACCUMULATORS;
    }
}
