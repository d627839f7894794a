package dev.la2.bench;

import java.util.Optional;

/**
 * The one door to ND4J. Nothing else outside {@code dev.la2.bench.nd4j} names an ND4J type, and
 * that package is loaded only by reflection after {@link #unavailableReason()} found ND4J on the
 * class path, so la2 runs (and reports "n/a") on class paths without ND4J's jars.
 */
public final class Nd4jSupport {
    private static final String ND4J_CLASS = "org.nd4j.linalg.factory.Nd4j";
    private static final String COMPOSED = "dev.la2.bench.nd4j.Nd4jComposedAttention";
    private static final String GEMM = "dev.la2.bench.nd4j.Nd4jGemmCeiling";

    private Nd4jSupport() {
    }

    /** Empty when ND4J's API is on the class path; otherwise why the baseline cannot run. */
    public static Optional<String> unavailableReason() {
        try {
            Class.forName(ND4J_CLASS, false, Nd4jSupport.class.getClassLoader());
            return Optional.empty();
        } catch (ClassNotFoundException | LinkageError e) {
            return Optional.of("nd4j not on class path");
        }
    }

    /**
     * A new ND4J-composed attention.
     *
     * @throws UnsupportedOperationException naming the reason when ND4J is absent or fails to start
     */
    public static ComposedAttention composedAttention() {
        return instantiate(COMPOSED, ComposedAttention.class);
    }

    /** @throws UnsupportedOperationException naming the reason when ND4J is absent or fails to start */
    public static GemmCeiling gemmCeiling() {
        return instantiate(GEMM, GemmCeiling.class);
    }

    private static <T> T instantiate(String className, Class<T> type) {
        Optional<String> absent = unavailableReason();
        if (absent.isPresent()) {
            throw new UnsupportedOperationException(absent.get());
        }
        try {
            return type.cast(Class.forName(className).getDeclaredConstructor().newInstance());
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            // ND4J's backend loads native code in static initializers: report the root cause.
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            throw new UnsupportedOperationException("nd4j failed to start: " + root, e);
        }
    }
}
