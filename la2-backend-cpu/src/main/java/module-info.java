/**
 * The "cpu" backend of la2: SPEC.md's tiled algorithm on the Vector API, with a scalar fallback
 * when {@code jdk.incubator.vector} is not in the boot layer.
 */
module dev.la2.backend.cpu {
    requires dev.la2.api;
    requires jdk.incubator.vector;

    provides dev.la2.spi.BackendProvider with dev.la2.backend.cpu.CpuProvider;
}
