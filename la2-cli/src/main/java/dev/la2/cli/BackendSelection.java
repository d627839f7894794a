package dev.la2.cli;

import dev.la2.api.BackendOptions;
import dev.la2.api.Backends;
import picocli.CommandLine.Option;

/** Options every command that opens a backend shares. */
final class BackendSelection {

    @Option(names = "--backend", paramLabel = "NAME",
            description = "Backend to use (see 'la2 backends'); default: -Dla2.backend, else LA2_BACKEND, else the best available.")
    String backend;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "Worker threads for CPU backends; 0 = available processors (default).")
    int threads;

    @Option(names = "--device", paramLabel = "INDEX", defaultValue = "0",
            description = "Device index for GPU backends (default 0).")
    int device;

    /**
     * Where the backend name of a command without {@code --backend} comes from, as the user would
     * set it ({@code -Dla2.backend=cpu} or {@code LA2_BACKEND=cpu}); null when neither names one.
     */
    static String requestSource() {
        String name = Backends.requestedName();
        if (name == null) {
            return null;
        }
        return (System.getProperty(Backends.PROPERTY, "").isBlank() ? Backends.ENVIRONMENT : "-D" + Backends.PROPERTY)
                + "=" + name;
    }

    BackendOptions options() {
        if (threads < 0) {
            throw new CliException("--threads: got " + threads + "; expected >= 0 (0 = available processors)");
        }
        if (device < 0) {
            throw new CliException("--device: got " + device + "; expected >= 0");
        }
        return BackendOptions.defaults().withThreads(threads).withDevice(device);
    }
}
