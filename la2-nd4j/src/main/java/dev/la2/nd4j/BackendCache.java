package dev.la2.nd4j;

import dev.la2.api.BackendInfo;
import dev.la2.api.Backends;
import dev.la2.api.BackendUnavailableException;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.spi.Availability;
import java.util.Locale;
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
     * The named backend, or with {@code name == null} the one {@code -Dla2.backend} /
     * {@code LA2_BACKEND} names, else the highest-priority available backend that stores
     * {@code dtype} (a FP64 network needs a FP64 backend even where a faster FP32-only one exists).
     *
     * @throws La2ArgumentException if the backend does not store {@code dtype}
     */
    public static LightningAttention get(String name, DType dtype) {
        String wanted = name != null ? name : Backends.requestedName();
        if (wanted != null) {
            LightningAttention la = OPEN.computeIfAbsent(wanted.strip().toLowerCase(Locale.ROOT), LightningAttention::open);
            if (!la.dtypes().contains(dtype)) {
                throw new La2ArgumentException("backend", "'" + la.backendName() + "' which stores " + la.dtypes(),
                        "a backend that stores " + dtype + " for this network's data type (or none, to choose automatically)");
            }
            return la;
        }
        return OPEN.computeIfAbsent("auto:" + dtype, key -> LightningAttention.open(best(dtype)));
    }

    private static String best(DType dtype) {
        for (BackendInfo info : Backends.discover()) {
            if (info.availability() instanceof Availability.Available && info.dtypes().contains(dtype)) {
                return info.name();
            }
        }
        throw new BackendUnavailableException("la2: no available backend stores " + dtype + "\nproviders found:\n"
                + Backends.describe());
    }
}
