package dev.la2.bench;

/**
 * SPEC.md's function composed from a tensor library's general-purpose ops, as a user of that
 * library would write it without la2: the baseline la2's speed is compared with. Inputs are in
 * canonical [B, H, N, F] order. Implementations are found through {@link Nd4jSupport} so that
 * callers never link against the library itself.
 */
public interface ComposedAttention extends AutoCloseable {

    /** What runs, for example "ND4J 1.0.0-M2.1 ops (CPU backend), blocks of 64, FLOAT". */
    String description();

    /**
     * Copies the inputs into the library's arrays. {@code fp64} computes in double precision,
     * otherwise in float.
     *
     * @param initialState [B, H, D, E] or null for zero
     */
    void load(BenchProblem problem, boolean fp64, float[] q, float[] k, float[] v, double[] decay,
              float[] initialState, double scale);

    /** The upstream gradients used by {@link #backward()}; dFinalState may be null. */
    void loadGradients(float[] dOutput, float[] dFinalState);

    /** Computes the output and the final state. */
    void forward();

    /** Computes dq, dk, dv and dInitialState from the loaded inputs and gradients (not dDecay). */
    void backward();

    double[] output();

    double[] finalState();

    double[] dq();

    double[] dk();

    double[] dv();

    double[] dInitialState();

    @Override
    void close();
}
