package dev.la2.backend.cpu;

import dev.la2.api.DType;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackendProvider;
import java.util.Set;

/**
 * The "cpu" backend. Deliberately free of Vector API references: on a JVM started without
 * {@code --add-modules jdk.incubator.vector} it must still load, probe and run (scalar);
 * {@link VectorSupport} finds out which, and the availability detail says it.
 *
 * <p>Options: {@link BackendOptions#threads()} sizes the worker pool; properties
 * {@code cpu.blockSize} (tokens per block C, default 64, 1 to 512; the state is rounded once a
 * block, so below 16 the fp32 bounds of SPEC.md hold only as for a chain of N / C calls: small
 * blocks are for tests of block edges), {@code cpu.segmentTokens} (force sequences
 * to be split into segments of about this many tokens; default: split only when there are fewer
 * sequences than threads) and {@code cpu.vectorBits} ("0" forces the scalar path). The system
 * property {@code la2.cpu.vectorBits} chooses the vector width for the whole JVM (0 = scalar).
 * A call with a tensor wrapping memory of {@code Arena.ofConfined()} runs on the calling thread
 * alone ({@link ThreadConfinement}).
 */
public final class CpuProvider implements BackendProvider {
    public static final String NAME = "cpu";
    public static final String VECTOR_BITS_PROPERTY = "la2.cpu.vectorBits";
    /** The widest vector the Vector API defines (a width beyond it is a typo, refused by name). */
    private static final int MAX_VECTOR_BITS = 2048;

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
        return CpuBackend.DTYPES;
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

    /** The JVM's kernels ({@link VectorSupport}), or scalar ones where the options switch vectors off. */
    static Kernels kernels(BackendOptions options) {
        if (options.intProperty("cpu.vectorBits", -1, 0, MAX_VECTOR_BITS) == 0) {
            return new ScalarKernels("disabled by cpu.vectorBits=0");
        }
        return VectorSupport.get().kernels();
    }
}
