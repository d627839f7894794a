package dev.la2.backend.cuda;

import dev.la2.api.BackendUnavailableException;
import dev.la2.api.DType;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackendProvider;
import java.io.IOException;
import java.io.InputStream;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;

/**
 * The "cuda" backend (priority 100): NVIDIA GPUs of compute capability 8.0 or newer through the
 * CUDA driver API (JCuda), with kernels compiled ahead of time into a fatbin resource.
 *
 * <p>{@link #probe()} tells apart the ways this can fail on a machine, because each has a
 * different fix: kernels missing from the jar, JCuda natives missing for this OS or processor,
 * no driver library, no device, a device too old, a driver too old for the kernels.
 */
public final class CudaProvider implements BackendProvider {
    public static final String NAME = "cuda";
    static final String KERNELS = "/dev/la2/backend/cuda/la2_kernels.fatbin";
    /** Written with the fatbin: {@code minDriver}, the CUDA version the driver must support (as the manifest's La2-Cuda-Min-Driver). */
    static final String KERNEL_INFO = "/dev/la2/backend/cuda/la2_kernels.properties";
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
                return new Availability.Unavailable("no JCuda natives for this OS/arch ("
                        + os + "/" + arch + "): la2-backend-cuda brings linux-x86_64's only",
                        "use -Dla2.backend=cpu, or add org.jcuda:jcuda-natives for this platform");
            }
            return Driver.probe(minDriverVersion());
        } catch (Throwable t) {
            return new Availability.Unavailable("probing CUDA failed: " + t, "use -Dla2.backend=cpu");
        }
    }

    /**
     * The CUDA version the kernels need from the driver, as cuDriverGetVersion encodes it
     * (1000 major + 10 minor); 0 when the build recorded none.
     */
    static int minDriverVersion() throws IOException {
        try (InputStream in = CudaProvider.class.getResourceAsStream(KERNEL_INFO)) {
            if (in == null) {
                return 0;
            }
            Properties p = new Properties();
            p.load(in);
            return cudaVersion(p.getProperty("minDriver", "0"));
        }
    }

    /** "13.0" as 13000, the encoding of cuDriverGetVersion. */
    static int cudaVersion(String majorDotMinor) {
        String[] parts = majorDotMinor.trim().split("\\.");
        return 1000 * Integer.parseInt(parts[0]) + (parts.length > 1 ? 10 * Integer.parseInt(parts[1]) : 0);
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
