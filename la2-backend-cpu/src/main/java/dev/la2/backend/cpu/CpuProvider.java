package dev.la2.backend.cpu;

import dev.la2.api.DType;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackendProvider;
import java.util.EnumSet;
import java.util.Set;

/**
 * The "cpu" backend. Deliberately free of Vector API references: on a JVM started without
 * {@code --add-modules jdk.incubator.vector} it must still load, probe and run (scalar).
 *
 * <p>Options: {@link BackendOptions#threads()} sizes the worker pool; properties
 * {@code cpu.blockSize} (tokens per tile, default 64), {@code cpu.segmentTokens} (force sequences
 * to be split into segments of about this many tokens; default: split only when there are fewer
 * sequences than threads) and {@code cpu.vectorBits} ("0" forces the scalar path). The system
 * property {@code la2.cpu.vectorBits} chooses the vector width for the whole JVM (0 = scalar).
 */
public final class CpuProvider implements BackendProvider {
    public static final String NAME = "cpu";
    public static final String VECTOR_BITS_PROPERTY = "la2.cpu.vectorBits";
    static final String VECTOR_MODULE = "jdk.incubator.vector";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 50;
    }

    @Override
    public Set<DType> dtypes() {
        return EnumSet.of(DType.FP32, DType.FP64);
    }

    @Override
    public Availability probe() {
        try {
            Kernels k = kernels(BackendOptions.defaults());
            int threads = BackendOptions.defaults().effectiveThreads();
            return new Availability.Available(k.describe() + ", " + threads + (threads == 1 ? " thread" : " threads"));
        } catch (Throwable t) {
            return new Availability.Unavailable("cannot initialise CPU kernels: " + t, "");
        }
    }

    @Override
    public AttentionBackend create(BackendOptions options) {
        return new CpuBackend(options, kernels(options));
    }

    /** Vector kernels when the module is readable and not switched off; scalar ones that say why otherwise. */
    static Kernels kernels(BackendOptions options) {
        String perInstance = options.properties().get("cpu.vectorBits");
        if (perInstance != null) {
            int bits;
            try {
                bits = Integer.parseInt(perInstance.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("cpu.vectorBits: got '" + perInstance + "'; expected 0 (scalar) or a vector width in bits");
            }
            if (bits == 0) {
                return new ScalarKernels("disabled by cpu.vectorBits=0");
            }
        }
        if (Integer.getInteger(VECTOR_BITS_PROPERTY, -1) == 0) {
            return new ScalarKernels("disabled by -D" + VECTOR_BITS_PROPERTY + "=0");
        }
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) {
            return new ScalarKernels(VECTOR_MODULE + " not enabled (add --add-modules " + VECTOR_MODULE + ")");
        }
        try {
            return (Kernels) Class.forName("dev.la2.backend.cpu.VectorKernels").getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            return new ScalarKernels("Vector API failed to load (" + e + ")");
        }
    }
}
