package dev.la2.spi;

import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import java.util.Set;

/**
 * Entry point of a backend, found with {@link java.util.ServiceLoader}: list the implementation
 * in {@code META-INF/services/dev.la2.spi.BackendProvider} and in a {@code provides} clause.
 *
 * <p>Constructors do nothing; {@link #probe()} is cheap and never throws; {@link #create} is
 * called only after a probe said {@link Availability.Available}. Higher priority wins automatic
 * selection (la2's own: cuda 100, cpu 50, reference -1000).
 */
public interface BackendProvider {

    /** Short lower-case name users select the backend by, for example "cpu". */
    String name();

    int priority();

    /** Storage types this backend accepts for sequence tensors. */
    Set<DType> dtypes();

    /** Whether the backend can run here, with a human-readable reason. Must not throw. */
    Availability probe();

    AttentionBackend create(BackendOptions options);
}
