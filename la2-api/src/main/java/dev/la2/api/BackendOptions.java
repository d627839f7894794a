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
            throw new La2ArgumentException("threads", String.valueOf(threads), ">= 0 (0 = available processors)");
        }
        if (device < 0) {
            throw new La2ArgumentException("device", String.valueOf(device), ">= 0");
        }
        if (properties == null) {
            throw new La2ArgumentException("properties", "null", "a map of backend settings (Map.of() for none)");
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

    /**
     * The property {@code key} as an integer from {@code min} to {@code max}, or {@code fallback}
     * where it is not set; backends read their settings through this and {@link #booleanProperty}, so
     * that a bad setting is the caller's error naming the key, not a backend that failed to start.
     *
     * @throws La2ArgumentException naming "properties" where the value is not such an integer
     */
    public int intProperty(String key, int fallback, int min, int max) {
        String raw = properties.get(key);
        if (raw == null) {
            return fallback;
        }
        String expected = "an integer from " + min + " to " + max;
        int value;
        try {
            value = Integer.parseInt(raw.strip());
        } catch (NumberFormatException e) {
            throw new La2ArgumentException("properties", key + "='" + raw + "'", expected);
        }
        if (value < min || value > max) {
            throw new La2ArgumentException("properties", key + "=" + value, expected);
        }
        return value;
    }

    /**
     * The property {@code key} as {@code true} or {@code false} (in any case), or {@code fallback}
     * where it is not set.
     *
     * @throws La2ArgumentException naming "properties" where the value is neither
     */
    public boolean booleanProperty(String key, boolean fallback) {
        String raw = properties.get(key);
        if (raw == null) {
            return fallback;
        }
        return switch (raw.strip().toLowerCase(java.util.Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new La2ArgumentException("properties", key + "='" + raw + "'", "true or false");
        };
    }

    public int effectiveThreads() {
        return threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    }
}
