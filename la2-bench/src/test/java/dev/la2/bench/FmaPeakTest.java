package dev.la2.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import jdk.incubator.vector.FloatVector;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/** The harness's arithmetic and structure; what rate it reports depends on the machine and its load. */
class FmaPeakTest {

    @Test
    void runsOneThreadPerProcessorOnThePreferredVector() {
        // Surefire starts the JVM with --add-modules jdk.incubator.vector.
        assertThat(FmaPeak.unavailableReason()).isEmpty();
        FmaPeak peak = FmaPeak.measure(20, 50);
        assertThat(peak.threads()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(peak.lanes()).isEqualTo(FloatVector.SPECIES_PREFERRED.length());
        assertThat(peak.accumulators()).isEqualTo(12);
        // Every thread finishes whole rounds of 1024 FMAs on each chain.
        assertThat(peak.fmas()).isPositive();
        assertThat(peak.fmas() % (1024L * peak.accumulators())).isZero();
        assertThat(peak.seconds()).isGreaterThanOrEqualTo(0.05).isLessThan(60);
        assertThat(peak.gflops()).isPositive().isFinite()
                .isCloseTo(2.0 * peak.lanes() * peak.fmas() / peak.seconds() / 1e9, Percentage.withPercentage(1e-9));
        assertThat(peak.description()).startsWith("fp32, 12 chains of " + peak.lanes() + "-lane FMAs on each of "
                + peak.threads() + " threads").endsWith("GFLOP/s");
    }

    @Test
    void rejectsAnEmptyWindow() {
        assertThatThrownBy(() -> FmaPeak.measure(0, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("timed >= 1");
    }
}
