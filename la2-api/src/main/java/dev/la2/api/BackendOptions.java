package dev.la2.api;

import java.util.Map;

/**
 * Options for creating a backend instance.
 *
 * @param threads    worker threads for CPU backends; 0 means the available processors
 * @param device     device index for GPU backends
 * @param properties backend-specific settings, for example {@code "cpu.blockSize" -> "64"}
 */
public record BackendOptions(int threads, int device, Map<String, String> properties) {

    public BackendOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads: got " + threads + "; expected >= 0 (0 = available processors)");
        }
        if (device < 0) {
            throw new IllegalArgumentException("device: got " + device + "; expected >= 0");
        }
        properties = Map.copyOf(properties);
    }

    public static BackendOptions defaults() {
        return new BackendOptions(0, 0, Map.of());
    }

    public BackendOptions withThreads(int n) {
        return new BackendOptions(n, device, properties);
    }

    public BackendOptions withDevice(int index) {
        return new BackendOptions(threads, index, properties);
    }

    public BackendOptions withProperty(String key, String value) {
        var copy = new java.util.HashMap<>(properties);
        copy.put(key, value);
        return new BackendOptions(threads, device, copy);
    }

    public int effectiveThreads() {
        return threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    }
}
