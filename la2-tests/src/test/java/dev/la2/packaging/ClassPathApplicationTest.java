package dev.la2.packaging;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An application on the class path with la2-backend-cuda but without JCuda, as a hand-assembled
 * class path can end up: the cuda provider still loads, says that JCuda's own jar is missing (not
 * its natives), and the cpu backend serves. It runs in its own JVM.
 */
class ClassPathApplicationTest {

    private static final String MAIN = """
            package example.app;

            import dev.la2.api.BackendInfo;
            import dev.la2.api.Backends;

            public final class Main {
                public static void main(String[] args) {
                    for (BackendInfo b : Backends.discover()) {
                        System.out.println("backend " + b.name() + ": " + b.availability());
                    }
                }
            }
            """;

    @Test
    void theCudaBackendWithoutJCudaNamesTheMissingJar(@TempDir Path dir) throws Exception {
        Path api = Launch.location("dev.la2.api.Backends");
        Path app = dir.resolve("app");
        Path src = dir.resolve("src/example/app/Main.java");
        Files.createDirectories(src.getParent());
        Files.writeString(src, MAIN);
        Launch.javac("--class-path", api.toString(), "-d", app.toString(), src.toString());

        List<Path> classPath = List.of(app, api, Launch.location("dev.la2.backend.cpu.CpuProvider"),
                Launch.location("dev.la2.backend.cuda.CudaProvider"));
        String out = Launch.java(dir.resolve("out.txt"), List.of("--add-modules", "jdk.incubator.vector",
                "--class-path", Launch.join(classPath), "example.app.Main"));

        assertThat(out).contains("backend cuda: unavailable: JCuda is not on the class path (jcuda/driver/",
                "add org.jcuda:jcuda and org.jcuda:jcuda-natives");
        assertThat(out).containsPattern("backend cpu: available: Vector API");
    }
}
