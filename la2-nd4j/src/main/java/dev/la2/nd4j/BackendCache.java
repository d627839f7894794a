package dev.la2.nd4j;

import dev.la2.api.BackendUnavailableException;
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
    private static final System.Logger LOG = System.getLogger("dev.la2");
    private static final ConcurrentHashMap<String, LightningAttention> OPEN = new ConcurrentHashMap<>();
    /** A layer's configured backend, the machine's override and the dtype, resolved once. */
    private static final ConcurrentHashMap<Preference, LightningAttention> PREFERRED = new ConcurrentHashMap<>();

    private record Preference(String configured, String override, DType dtype) {
    }

    private BackendCache() {
    }

    /**
     * The backend {@link Backends#choose(String, DType)} picks for {@code name} and {@code dtype}
     * (a FP64 network needs a FP64 backend even where a faster FP32-only one exists), opened once.
     *
     * @throws La2ArgumentException if the named backend does not store {@code dtype}
     */
    private static LightningAttention openOnce(String name, DType dtype) {
        return OPEN.computeIfAbsent(Backends.choose(name, dtype), LightningAttention::open);
    }

    /**
     * The backend for a layer whose configuration names {@code configured} (null: automatic), taken
     * as a preference rather than a pin, so that a saved model runs on whatever machine loads it:
     * the system property {@value Backends#PROPERTY} (or the environment variable
     * {@value Backends#ENVIRONMENT}) overrides it, and a configured backend that is missing or
     * unavailable here gives way to the best available one, with one warning per JVM (System.Logger
     * "dev.la2"). A backend named by the property must exist.
     *
     * @throws La2ArgumentException if the chosen backend does not store {@code dtype}
     */
    public static LightningAttention preferred(String configured, DType dtype) {
        Preference key = new Preference(configured, Backends.requestedName(), dtype);
        LightningAttention known = PREFERRED.get(key);
        return known != null ? known : PREFERRED.computeIfAbsent(key, BackendCache::resolve);
    }

    private static LightningAttention resolve(Preference p) {
        if (p.override() != null || p.configured() == null) {
            return openOnce(p.override(), p.dtype());
        }
        try {
            return openOnce(p.configured(), p.dtype());
        } catch (BackendUnavailableException e) {
            LightningAttention best = openOnce(null, p.dtype());
            LOG.log(System.Logger.Level.WARNING, "la2: the layer''s configured backend ''{0}'' is not available here;"
                    + " running on ''{1}'' instead (set -D{2}=NAME to choose). {3}",
                    p.configured(), best.backendName(), Backends.PROPERTY, e.getMessage().lines().findFirst().orElse(""));
            return best;
        }
    }
}
