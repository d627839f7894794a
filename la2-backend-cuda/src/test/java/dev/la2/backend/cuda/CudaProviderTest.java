package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.la2.api.BackendUnavailableException;
import dev.la2.api.Backends;
import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.spi.Availability;
import dev.la2.spi.BackendProvider;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

/** Runs everywhere: packaging, discovery and the unavailability diagnostics. */
class CudaProviderTest {

    private static boolean nvccPresent() {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(java.io.File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "nvcc"))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc"));
    }

    @Test
    void fatbinIsPackagedWhenNvccExists() throws Exception {
        assumeTrue(nvccPresent(), "nvcc is not on this machine, so the build made no fatbin");
        try (InputStream in = CudaProvider.class.getResourceAsStream(CudaProvider.KERNELS)) {
            assertThat(in).as("fatbin resource " + CudaProvider.KERNELS).isNotNull();
            byte[] image = in.readAllBytes();
            // A fatbin starts with the magic 0xBA55ED50 (little-endian).
            assertThat(image.length).isGreaterThan(1000);
            int magic = (image[0] & 0xFF) | (image[1] & 0xFF) << 8 | (image[2] & 0xFF) << 16 | (image[3] & 0xFF) << 24;
            assertThat(magic).isEqualTo(0xBA55ED50);
        }
    }

    @Test
    void fatbinStatesTheDriverItNeeds() throws Exception {
        assumeTrue(nvccPresent(), "nvcc is not on this machine, so the build made no fatbin");
        // the pom's la2.cuda.minDriver, as cuDriverGetVersion encodes it
        assertThat(CudaProvider.minDriverVersion()).isEqualTo(13000);
        assertThat(CudaProvider.cudaVersion("12.4")).isEqualTo(12040);
    }

    @Test
    void providerIsDiscoveredWithNameAndPriority() {
        BackendProvider cuda = ServiceLoader.load(BackendProvider.class).stream()
                .map(ServiceLoader.Provider::get)
                .filter(p -> p.name().equals("cuda"))
                .findFirst().orElseThrow();
        assertThat(cuda.priority()).isEqualTo(100);
        assertThat(cuda.dtypes()).containsExactlyInAnyOrder(DType.FP32, DType.BF16, DType.FP16);
    }

    @Test
    void probeNeverThrowsAndExplainsItself() {
        Availability a = new CudaProvider().probe();
        assertThat(a).isNotNull();
        if (a instanceof Availability.Unavailable u) {
            assertThat(u.reason()).isNotBlank();
            // One of the distinct causes, in words a user can act on.
            assertThat(u.reason()).containsAnyOf("kernels were not compiled", "JCuda is not on the class path", "no JCuda natives", "JCuda natives failed to load",
                    "libcuda.so.1 not found", "cuInit failed", "0 devices", "compute capability < 8.0", "driver supports CUDA");
            assertThat(u.hint()).isNotBlank();
        } else {
            assertThat(a.toString()).startsWith("available: cuda:0");
        }
        // The answer is cached, and asking again still does not throw.
        assertThat(new CudaProvider().probe()).isEqualTo(a);
    }

    @Test
    void openingCudaWithoutAGpuListsTheProviders() {
        Availability a = new CudaProvider().probe();
        assumeFalse(a.isAvailable(), "a usable GPU is present (" + a + "), so opening succeeds");
        assertThatThrownBy(() -> LightningAttention.open("cuda"))
                .isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("cuda")
                .hasMessageContaining(((Availability.Unavailable) a).reason())
                .hasMessageContaining("reference");
        assertThat(Backends.describe()).contains("cuda");
    }

    @Test
    void createRefusesWhenUnavailable() {
        Availability a = new CudaProvider().probe();
        assumeFalse(a.isAvailable(), "a usable GPU is present (" + a + ")");
        assertThatThrownBy(() -> new CudaProvider().create(dev.la2.api.BackendOptions.defaults()))
                .isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining(((Availability.Unavailable) a).reason());
    }
}
