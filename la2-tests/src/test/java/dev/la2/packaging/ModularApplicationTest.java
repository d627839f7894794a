package dev.la2.packaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A modular application sees the published jars the way the README tells it to lay them out:
 * la2-api, la2-reference and la2-backend-cpu are named modules, la2-backend-cuda is the automatic
 * module dev.la2.backend.cuda (its manifest names it), all on the module path, and JCuda, whose jars
 * declare no module name, on the class path: there JCuda finds its native library in the
 * jcuda-natives jar, while as a module it would look for it in its own jar only. An automatic module
 * reads the class path, so the CUDA backend sees JCuda. The application requires dev.la2.api alone;
 * service binding brings in every backend. It runs in its own JVM, on the built jars, once without
 * {@code --add-modules jdk.incubator.vector} (the cpu backend starts on its scalar kernels and warns,
 * as on the class path) and once with it.
 */
class ModularApplicationTest {

    private static final String MODULE_INFO = """
            module example.app {
                requires dev.la2.api;
            }
            """;

    private static final String MAIN = """
            package example.app;

            import dev.la2.api.BackendInfo;
            import dev.la2.api.Backends;

            public final class Main {
                public static void main(String[] args) {
                    for (String name : new String[] {"dev.la2.api", "dev.la2.backend.cpu", "dev.la2.backend.cuda", "jdk.incubator.vector"}) {
                        System.out.println("module " + name + ": " + ModuleLayer.boot().findModule(name)
                                .map(m -> m.getDescriptor().isAutomatic() ? "automatic" : "named").orElse("absent"));
                    }
                    for (BackendInfo b : Backends.discover()) {
                        System.out.println("backend " + b.name() + ": "
                                + (b.availability().isAvailable() ? "available" : "unavailable") + " (" + b.availability() + ")");
                    }
                }
            }
            """;

    @Test
    void modularApplicationFindsTheCpuBackendAndLoadsTheCudaProvider(@TempDir Path dir) throws Exception {
        List<Path> modules = new ArrayList<>();
        for (String cls : new String[] {"dev.la2.api.Backends", "dev.la2.reference.ReferenceProvider",
                "dev.la2.backend.cpu.CpuProvider", "dev.la2.backend.cuda.CudaProvider"}) {
            modules.add(Launch.location(cls));
        }
        // Run by `mvn verify`, the reactor hands over the packaged jars; `mvn test` hands over
        // target/classes, which cannot stand for an automatic module.
        assumeTrue(modules.stream().allMatch(p -> p.toString().endsWith(".jar")),
                "needs the packaged jars (mvn verify): " + modules);
        List<Path> classPath = new ArrayList<>(List.of(Launch.location("jcuda.driver.JCudaDriver")));
        classPath.addAll(Launch.testClassPath().stream().filter(p -> p.getFileName().toString().startsWith("jcuda-natives")).toList());

        Path app = dir.resolve("app");
        Path src = dir.resolve("src");
        Files.createDirectories(src.resolve("example/app"));
        Files.writeString(src.resolve("module-info.java"), MODULE_INFO);
        Files.writeString(src.resolve("example/app/Main.java"), MAIN);
        Launch.javac("--module-path", modules.get(0).toString(), "-d", app.toString(),
                src.resolve("module-info.java").toString(), src.resolve("example/app/Main.java").toString());
        modules.add(app);
        List<String> layout = List.of("--module-path", Launch.join(modules), "--class-path", Launch.join(classPath),
                "-m", "example.app/example.app.Main");

        String plain = Launch.java(dir.resolve("plain.txt"), layout);
        assertThat(plain).contains("module dev.la2.api: named", "module dev.la2.backend.cpu: named",
                "module dev.la2.backend.cuda: automatic", "module jdk.incubator.vector: absent",
                "backend reference: available", "--add-modules jdk.incubator.vector");
        assertThat(plain).containsPattern("backend cpu: available \\(.*scalar fallback");
        // Unavailable without a GPU or its driver, available with one: either way the provider loaded.
        assertThat(plain).containsPattern("backend cuda: (un)?available");

        List<String> flagged = new ArrayList<>(List.of("--add-modules", "jdk.incubator.vector"));
        flagged.addAll(layout);
        String vector = Launch.java(dir.resolve("vector.txt"), flagged);
        assertThat(vector).contains("module jdk.incubator.vector: named", "backend reference: available")
                .doesNotContain("scalar fallback");
        assertThat(vector).containsPattern("backend cpu: available \\(.*Vector API");
    }
}
