package dev.la2.bench;

import jdk.incubator.vector.FloatVector;
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
        float[] chains = new float[ACCUMULATORS * SPECIES.length()];
        java.util.Arrays.fill(chains, 1e-3f);
        long bursts = 0;
        do {
            burst(chains);
            bursts++;
        } while (System.nanoTime() < deadlineNanos);
        float total = 0;
        for (float c : chains) {
            total += c;
        }
        sink = total;
        return bursts * INNER * ACCUMULATORS;
    }

    /**
     * INNER FMAs on each chain, the chains held in registers. A method of its own, called again and
     * again, so the JIT compiles it whole with the vector intrinsics; a long-running loop compiled
     * on stack replacement can keep its vectors boxed and measure the allocator instead.
     */
    private static void burst(float[] chains) {
        int l = SPECIES.length();
        FloatVector x = FloatVector.broadcast(SPECIES, 0.999f);
        FloatVector y = FloatVector.broadcast(SPECIES, 1e-3f);
        FloatVector a0 = FloatVector.fromArray(SPECIES, chains, 0);
        FloatVector a1 = FloatVector.fromArray(SPECIES, chains, l);
        FloatVector a2 = FloatVector.fromArray(SPECIES, chains, 2 * l);
        FloatVector a3 = FloatVector.fromArray(SPECIES, chains, 3 * l);
        FloatVector a4 = FloatVector.fromArray(SPECIES, chains, 4 * l);
        FloatVector a5 = FloatVector.fromArray(SPECIES, chains, 5 * l);
        FloatVector a6 = FloatVector.fromArray(SPECIES, chains, 6 * l);
        FloatVector a7 = FloatVector.fromArray(SPECIES, chains, 7 * l);
        FloatVector a8 = FloatVector.fromArray(SPECIES, chains, 8 * l);
        FloatVector a9 = FloatVector.fromArray(SPECIES, chains, 9 * l);
        FloatVector a10 = FloatVector.fromArray(SPECIES, chains, 10 * l);
        FloatVector a11 = FloatVector.fromArray(SPECIES, chains, 11 * l);
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
        a0.intoArray(chains, 0);
        a1.intoArray(chains, l);
        a2.intoArray(chains, 2 * l);
        a3.intoArray(chains, 3 * l);
        a4.intoArray(chains, 4 * l);
        a5.intoArray(chains, 5 * l);
        a6.intoArray(chains, 6 * l);
        a7.intoArray(chains, 7 * l);
        a8.intoArray(chains, 8 * l);
        a9.intoArray(chains, 9 * l);
        a10.intoArray(chains, 10 * l);
        a11.intoArray(chains, 11 * l);
    }
}
