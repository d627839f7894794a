package dev.la2.backend.cuda;

import dev.la2.api.BackendUnavailableException;
import dev.la2.api.DType;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackendProvider;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * The "cuda" backend (priority 100): NVIDIA GPUs of compute capability 8.0 or newer through the
 * CUDA driver API (JCuda), with kernels compiled ahead of time into a fatbin resource.
 *
 * <p>{@link #probe()} tells apart the ways this can fail on a machine, because each has a
 * different fix: kernels missing from the jar, JCuda natives missing for this OS or processor,
 * no driver library, no device, a device too old.
 */
public final class CudaProvider implements BackendProvider {
    public static final String NAME = "cuda";
    static final String KERNELS = "/dev/la2/backend/cuda/la2_kernels.fatbin";
    static final int MIN_MAJOR = 8;

    /** Probing loads native code and initialises the driver once per process; the answer cannot change. */
    private static volatile Availability cached;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public Set<DType> dtypes() {
        return EnumSet.of(DType.FP32, DType.BF16, DType.FP16);
    }

    @Override
    public Availability probe() {
        Availability a = cached;
        if (a == null) {
            synchronized (CudaProvider.class) {
                a = cached;
                if (a == null) {
                    a = probeOnce();
                    cached = a;
                }
            }
        }
        return a;
    }

    private static Availability probeOnce() {
        try {
            if (CudaProvider.class.getResource(KERNELS) == null) {
                return new Availability.Unavailable("kernels were not compiled (nvcc not found at build time)",
                        "rebuild la2-backend-cuda on a machine with the CUDA toolkit's nvcc on PATH, or use -Dla2.backend=cpu");
            }
            String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
            String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
            if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
                return new Availability.Unavailable("JCuda natives failed to load for this OS/arch ("
                        + os + "/" + arch + "): only linux-x86_64 natives are bundled",
                        "use -Dla2.backend=cpu, or add org.jcuda:jcuda-natives for this platform");
            }
            return Driver.probe();
        } catch (Throwable t) {
            return new Availability.Unavailable("probing CUDA failed: " + t, "use -Dla2.backend=cpu");
        }
    }

    @Override
    public AttentionBackend create(BackendOptions options) {
        Availability a = probe();
        if (a instanceof Availability.Unavailable u) {
            throw new BackendUnavailableException("la2: backend 'cuda' unavailable: " + u.reason()
                    + (u.hint().isEmpty() ? "" : "\n  Hint: " + u.hint()));
        }
        return new CudaBackend(options);
    }
}
