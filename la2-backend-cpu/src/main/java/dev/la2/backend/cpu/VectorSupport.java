package dev.la2.backend.cpu;

/**
 * The one probe of the Vector API in this JVM, run once: whether the vector kernels load, their
 * float vector width, or why not. It holds no Vector API reference itself, so that it loads and
 * answers on a JVM started without {@code --add-modules jdk.incubator.vector}; there the cpu
 * backend computes with {@link ScalarKernels}, and the probe logs one warning (System.Logger
 * "dev.la2") that names the flag, since nothing else tells a user why the backend is slow.
 */
final class VectorSupport {
    static final String MODULE = "jdk.incubator.vector";
    static final String LOGGER = "dev.la2";

    /** Probed on first use, once per JVM. */
    private static final class Holder {
        static final VectorSupport PROBE = probe();
    }

    private final Kernels kernels;
    private final int bits;

    private VectorSupport(Kernels kernels, int bits) {
        this.kernels = kernels;
        this.bits = bits;
    }

    static VectorSupport get() {
        return Holder.PROBE;
    }

    /** Whether the Vector API kernels are in use. */
    boolean present() {
        return bits > 0;
    }

    /** Their float vector width in bits (the preferred one unless -Dla2.cpu.vectorBits says otherwise); 0 when absent. */
    int bits() {
        return bits;
    }

    /** The kernels the JVM supports: the vector ones, or scalar ones that say why. */
    Kernels kernels() {
        return kernels;
    }

    /** For example "Vector API, 512-bit FloatVector (AVX-512)" or "scalar fallback: ..." with the reason. */
    String describe() {
        return kernels.describe();
    }

    private static VectorSupport probe() {
        if (Integer.getInteger(CpuProvider.VECTOR_BITS_PROPERTY, -1) == 0) {
            return scalar("disabled by -D" + CpuProvider.VECTOR_BITS_PROPERTY + "=0");
        }
        if (ModuleLayer.boot().findModule(MODULE).isEmpty()) {
            System.getLogger(LOGGER).log(System.Logger.Level.WARNING, missingModuleWarning());
            return scalar(MODULE + " not enabled (add --add-modules " + MODULE + ")");
        }
        try {
            // By name, so that this class links no Vector API class.
            Class<?> type = Class.forName("dev.la2.backend.cpu.VectorKernels");
            Kernels vector = (Kernels) type.getDeclaredConstructor().newInstance();
            return new VectorSupport(vector, (int) type.getDeclaredMethod("vectorBits").invoke(null));
        } catch (ReflectiveOperationException | LinkageError e) {
            return scalar("Vector API failed to load (" + e + ")");
        }
    }

    private static VectorSupport scalar(String reason) {
        return new VectorSupport(new ScalarKernels(reason), 0);
    }

    /** The warning logged once per JVM when the module is missing. */
    static String missingModuleWarning() {
        return "The Java Vector API is not enabled, so the la2 cpu backend computes with its scalar fallback,"
                + " several times slower. Start java with --add-modules " + MODULE + " to enable it.";
    }
}
