package dev.la2.bench;

/** Progress and results of a {@link LengthSweep} or a {@link ServingBench} as they come; every method has a do-nothing default. */
public interface BenchListener {
    default void context(BenchContext context) {
    }

    /** {@code done} of {@code total} timed or warm-up calls are finished. */
    default void progress(String stage, long done, long total) {
    }

    default void row(BenchRow row) {
    }

    /** The row of a {@link ServingBench}. */
    default void serving(ServingRow row) {
    }

    /** Something the reader should know, for example a size skipped for lack of memory. */
    default void note(String message) {
    }
}
