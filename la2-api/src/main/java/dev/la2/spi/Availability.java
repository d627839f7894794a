package dev.la2.spi;

import java.util.Objects;

/** Result of {@link BackendProvider#probe()}. */
public sealed interface Availability {

    boolean isAvailable();

    /** @param detail what was found, for example "Vector API, 256-bit FloatVector, 2 threads" */
    record Available(String detail) implements Availability {
        public Available {
            Objects.requireNonNull(detail, "detail");
        }

        @Override
        public boolean isAvailable() {
            return true;
        }

        @Override
        public String toString() {
            return "available: " + detail;
        }
    }

    /**
     * @param reason why not, for example "no CUDA driver (libcuda.so.1 not found)"
     * @param hint   what a user can do about it; may be empty
     */
    record Unavailable(String reason, String hint) implements Availability {
        public Unavailable {
            Objects.requireNonNull(reason, "reason");
            hint = hint == null ? "" : hint;
        }

        @Override
        public boolean isAvailable() {
            return false;
        }

        @Override
        public String toString() {
            return hint.isEmpty() ? "unavailable: " + reason : "unavailable: " + reason + " (" + hint + ")";
        }
    }
}
