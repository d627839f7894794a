package dev.la2.nd4j;

import dev.la2.api.Backends;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One open backend per (name, dtype) for the whole JVM, shared by every layer instance and thread.
 *
 * <p>DL4J clones layers freely (ParallelWrapper workers rebuild the network from JSON on every
 * fit), so a backend per layer instance would open a thread pool or a GPU context per clone. la2
 * backends are safe for concurrent use, and they live until the JVM exits.
 */
public final class BackendCache {
    private static final ConcurrentHashMap<String, LightningAttention> OPEN = new ConcurrentHashMap<>();

    private BackendCache() {
    }

    /**
     * The backend {@link Backends#choose(String, DType)} picks for {@code name} and {@code dtype}
     * (a FP64 network needs a FP64 backend even where a faster FP32-only one exists), opened once.
     *
     * @throws La2ArgumentException if the named backend does not store {@code dtype}
     */
    public static LightningAttention get(String name, DType dtype) {
        return OPEN.computeIfAbsent(Backends.choose(name, dtype), LightningAttention::open);
    }
}
