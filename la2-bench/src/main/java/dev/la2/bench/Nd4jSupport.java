package dev.la2.bench;

import java.util.Optional;

/**
 * The one door to ND4J. Nothing else outside {@code dev.la2.bench.nd4j} names an ND4J type, and
 * that package is loaded by name, through the class loader this door was given, only after ND4J
 * was found there: la2 runs (and reports "n/a") without ND4J's jars, and a caller such as the
 * {@code la2} command can keep them off its class path and hand over a loader for them when the
 * baseline runs. Such a loader must see {@code dev.la2.bench.nd4j} itself, not only ND4J.
 */
public final class Nd4jSupport {
    private static final String ND4J_CLASS = "org.nd4j.linalg.factory.Nd4j";
    private static final String COMPOSED = "dev.la2.bench.nd4j.Nd4jComposedAttention";
    private static final String GEMM = "dev.la2.bench.nd4j.Nd4jGemmCeiling";

    /** Null when ND4J is absent. */
    private final ClassLoader loader;
    private final String absent;

    private Nd4jSupport(ClassLoader loader, String absent) {
        this.loader = loader;
        this.absent = absent;
    }

    /** ND4J as la2-bench's own class loader finds it (the class path, usually). */
    public static Nd4jSupport onClassPath() {
        return in(Nd4jSupport.class.getClassLoader(), "nd4j not on class path");
    }

    /** ND4J as {@code loader} finds it; {@code whyAbsent} is the reason given when it does not. */
    public static Nd4jSupport in(ClassLoader loader, String whyAbsent) {
        try {
            Class.forName(ND4J_CLASS, false, loader);
            return new Nd4jSupport(loader, null);
        } catch (ClassNotFoundException | LinkageError e) {
            return absent(whyAbsent);
        }
    }

    /** No ND4J, for {@code reason}. */
    public static Nd4jSupport absent(String reason) {
        return new Nd4jSupport(null, reason);
    }

    /** Empty when ND4J's API was found; otherwise why the baseline cannot run. */
    public Optional<String> unavailableReason() {
        return Optional.ofNullable(loader == null ? absent : null);
    }

    /**
     * A new ND4J-composed attention.
     *
     * @throws UnsupportedOperationException naming the reason when ND4J is absent or fails to start
     */
    public ComposedAttention composedAttention() {
        return instantiate(COMPOSED, ComposedAttention.class);
    }

    /** @throws UnsupportedOperationException naming the reason when ND4J is absent or fails to start */
    public GemmCeiling gemmCeiling() {
        return instantiate(GEMM, GemmCeiling.class);
    }

    private <T> T instantiate(String className, Class<T> type) {
        if (loader == null) {
            throw new UnsupportedOperationException(absent);
        }
        try {
            return type.cast(Class.forName(className, true, loader).getDeclaredConstructor().newInstance());
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
