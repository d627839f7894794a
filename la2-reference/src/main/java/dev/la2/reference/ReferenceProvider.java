package dev.la2.reference;

import dev.la2.api.DType;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackendProvider;
import java.util.EnumSet;
import java.util.Set;

/** The float64 oracle as a backend: always available, lowest priority, never fast. */
public final class ReferenceProvider implements BackendProvider {
    public static final String NAME = "reference";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return -1000;
    }

    @Override
    public Set<DType> dtypes() {
        return EnumSet.allOf(DType.class);
    }

    @Override
    public Availability probe() {
        return new Availability.Available("float64 oracle, single-threaded (for checks, not speed)");
    }

    @Override
    public AttentionBackend create(BackendOptions options) {
        return new ReferenceBackend();
    }
}
