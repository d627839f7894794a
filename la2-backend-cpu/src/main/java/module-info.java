/**
 * The "cpu" backend of la2: SPEC.md's tiled algorithm on the Vector API, with a scalar fallback
 * when {@code jdk.incubator.vector} is not in the boot layer. The requirement is static so that the
 * module path behaves as the class path: the incubator module is resolved only when the JVM is
 * started with {@code --add-modules jdk.incubator.vector}, and a runtime image without it still
 * starts and computes with the scalar kernels.
 */
module dev.la2.backend.cpu {
    requires dev.la2.api;
    requires static jdk.incubator.vector;

    provides dev.la2.spi.BackendProvider with dev.la2.backend.cpu.CpuProvider;
}
