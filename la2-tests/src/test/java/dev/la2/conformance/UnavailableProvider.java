package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackendProvider;
import java.util.EnumSet;
import java.util.Set;

/** A test-only backend ("unavailable-here") whose probe always declines, as a GPU backend does without a GPU. */
public final class UnavailableProvider implements BackendProvider {
    static final String NAME = "unavailable-here";
    static final String REASON = "test double: no such device on this machine";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return -2000;
    }

    @Override
    public Set<DType> dtypes() {
        return EnumSet.of(DType.FP32);
    }

    @Override
    public Availability probe() {
        return new Availability.Unavailable(REASON, "nothing to do: it is never available");
    }

    @Override
    public AttentionBackend create(BackendOptions options) {
        throw new IllegalStateException("create() called although probe() said unavailable");
    }
}
