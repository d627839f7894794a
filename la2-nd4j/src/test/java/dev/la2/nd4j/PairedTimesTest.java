package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The summaries TrainingStepTiming prints. */
class PairedTimesTest {

    @Test
    void quantilesInterpolateBetweenOrderStatistics() {
        double[] x = {4, 1, 3, 2};
        assertThat(PairedTimes.median(x)).isEqualTo(2.5);
        assertThat(PairedTimes.quantile(x, 0.25)).isCloseTo(1.75, within(1e-12));
        assertThat(PairedTimes.quantile(x, 0.75)).isCloseTo(3.25, within(1e-12));
        assertThat(PairedTimes.quantile(x, 0)).isEqualTo(1);
        assertThat(PairedTimes.quantile(x, 1)).isEqualTo(4);
        assertThat(PairedTimes.medianAndQuartiles(x, 2)).isEqualTo("2.50 [1.75, 3.25]");
        assertThat(x).containsExactly(4, 1, 3, 2);
    }

    @Test
    void theRatioOfMediansShrugsOffOutliersAndItsIntervalHoldsIt() {
        double[] a = new double[21];
        double[] b = new double[21];
        for (int i = 0; i < a.length; i++) {
            a[i] = 10 + (i % 3);
            b[i] = 0.5 * a[i];
        }
        // Two pairs hit by load: both modes slow, as interleaving makes them.
        a[4] = 200;
        b[4] = 150;
        a[11] = 90;
        b[11] = 120;
        PairedTimes t = new PairedTimes(a, b);
        assertThat(t.ratio()).isCloseTo(0.5, within(1e-12));
        double[] interval = t.ratioInterval(0.95);
        assertThat(interval[0]).isLessThanOrEqualTo(0.5);
        assertThat(interval[1]).isGreaterThanOrEqualTo(0.5).isLessThan(0.75);
        assertThat(t.ratioInterval(0.95)).containsExactly(interval);
    }

    @Test
    void pairsMustMatch() {
        assertThatThrownBy(() -> new PairedTimes(new double[2], new double[3]))
                .hasMessageContaining("got 2 and 3 times");
    }
}
