package dev.la2.api;

import dev.la2.spi.Availability;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * What discovery found about one provider.
 *
 * @param name          the name users select it by
 * @param priority      higher wins automatic selection
 * @param dtypes        storage types it accepts (kept in {@link DType}'s order)
 * @param availability  whether it can run here, and why
 * @param providerClass the implementing class, for diagnostics
 */
public record BackendInfo(String name, int priority, Set<DType> dtypes, Availability availability,
                          String providerClass) {

    public BackendInfo {
        Objects.requireNonNull(dtypes, "dtypes");
        dtypes = Collections.unmodifiableSet(dtypes.isEmpty() ? EnumSet.noneOf(DType.class) : EnumSet.copyOf(dtypes));
    }

    @Override
    public String toString() {
        return name + " (priority " + priority + ", " + dtypes + "): " + availability;
    }
}
