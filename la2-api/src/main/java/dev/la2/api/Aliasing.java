package dev.la2.api;

import dev.la2.spi.HostTensor;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Whether a tensor a call writes shares memory with another of its arguments (SPEC.md section 5).
 * The same tensor is found by identity; host tensors are also compared by memory, since
 * {@link LightningAttention#wrap} makes a new tensor for every view of the caller's memory, so two
 * distinct tensors may overlap.
 */
final class Aliasing {
    private Aliasing() {
    }

    /** The inputs of a call by name, for {@link #sharedWith}; one input may be passed as several. */
    static Map<Tensor, String> names(Tensor q, Tensor k, Tensor v, Tensor decay) {
        Map<Tensor, String> seen = new IdentityHashMap<>();
        seen.put(q, "q");
        seen.putIfAbsent(k, "k");
        seen.putIfAbsent(v, "v");
        seen.putIfAbsent(decay, "decay");
        return seen;
    }

    /** The inputs of a call that reads no q (a commit), by name. */
    static Map<Tensor, String> names(Tensor k, Tensor v, Tensor decay) {
        Map<Tensor, String> seen = new IdentityHashMap<>();
        seen.put(k, "k");
        seen.putIfAbsent(v, "v");
        seen.putIfAbsent(decay, "decay");
        return seen;
    }

    /**
     * What {@code t} shares with a tensor of {@code seen} ("the same tensor as q", "memory overlapping
     * q"), for the message that refuses it; null when it shares nothing.
     */
    static String sharedWith(Tensor t, Map<Tensor, String> seen) {
        String same = seen.get(t);
        if (same != null) {
            return "the same tensor as " + same;
        }
        if (t instanceof HostTensor host && !host.isClosed()) {
            for (Map.Entry<Tensor, String> other : seen.entrySet()) {
                if (other.getKey() instanceof HostTensor h && !h.isClosed()
                        && host.segment().asOverlappingSlice(h.segment()).isPresent()) {
                    return "memory overlapping " + other.getValue();
                }
            }
        }
        return null;
    }
}
