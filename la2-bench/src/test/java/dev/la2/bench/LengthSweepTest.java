package dev.la2.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.api.BackendOptions;
import java.util.ArrayList;
import java.util.List;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LengthSweepTest {

    private static BenchConfig tiny(boolean backward, boolean baseline) {
        return new BenchConfig("reference", BackendOptions.defaults(), 1, 2, 8, 4, new int[] {64, 16}, DType.FP32,
                Precision.STRICT, new BenchCall(backward, true, false, false), Layout.BNHD, 1, 0, 3, baseline, 64, Double.NaN, Double.NaN, 7);
    }

    @Test
    void timesEveryLengthAgainstTheBaselineAndTheSmallestN() {
        List<BenchRow> seen = new ArrayList<>();
        List<BenchContext> contexts = new ArrayList<>();
        long[] lastProgress = {0, 0};
        List<BenchRow> rows = LengthSweep.run(tiny(true, true), Nd4jSupport.onClassPath(), new BenchListener() {
            @Override
            public void context(BenchContext context) {
                contexts.add(context);
            }

            @Override
            public void progress(String stage, long done, long total) {
                lastProgress[0] = done;
                lastProgress[1] = total;
            }

            @Override
            public void row(BenchRow row) {
                seen.add(row);
            }
        });
        assertThat(rows).isEqualTo(seen).extracting(BenchRow::n).containsExactly(16, 64);
        assertThat(contexts).singleElement().satisfies(c -> {
            assertThat(c.baselineRuns()).isTrue();
            assertThat(c.sgemmGflops().median()).isPositive();
            assertThat(c.bandwidthGBs()).isPositive();
            assertThat(c.fmaPeakGflops()).isPositive();
        });
        // 2 lengths x ((1 warm-up + 3 timed) x (backend + baseline) + 3 paired with the forward)
        assertThat(lastProgress).containsExactly(22, 22);
        for (BenchRow r : rows) {
            assertThat(r.mode()).isEqualTo("fwdbwd");
            assertThat(r.ms().count()).isEqualTo(3);
            assertThat(r.ms().min()).isPositive().isLessThanOrEqualTo(r.ms().median());
            assertThat(r.ms().max()).isGreaterThanOrEqualTo(r.ms().median());
            assertThat(r.msPerMillionTokens()).isCloseTo(r.ms().median() / r.n() * 1e6, org.assertj.core.data.Percentage.withPercentage(1e-9));
            assertThat(r.gflops()).isPositive();
            assertThat(r.baselineMsMedian()).isPositive();
            assertThat(r.speedupVsBaseline()).isCloseTo(r.baselineMsMedian() / r.ms().median(),
                    org.assertj.core.data.Percentage.withPercentage(1e-9));
            assertThat(r.floorMs()).isPositive();
            assertThat(r.peakHeapBytes()).isPositive();
            assertThat(r.hostToDeviceMs()).isNotNegative();
            assertThat(r.pairedForwardMs()).isPositive();
            // Forward+backward includes a forward: it takes longer than the forward alone.
            assertThat(r.ratioToForward()).isGreaterThan(1);
            assertThat(r.toJson()).contains("\"backend\":\"reference\"", "\"dtype\":\"fp32\"", "\"mode\":\"fwdbwd\"",
                    "\"b\":1", "\"h\":2", "\"n\":" + r.n(), "\"d\":8", "\"e\":4", "\"ms_median\":", "\"ms_min\":",
                    "\"ms_max\":", "\"ms_per_mtok\":", "\"layout\":\"bnhd\"", "\"fwdbwd_over_fwd\":");
            assertThat(r.fractionOfFmaPeak()).isCloseTo(r.gflops() / r.fmaPeakGflops(),
                    org.assertj.core.data.Percentage.withPercentage(1e-9));
            assertThat(r.toJson()).containsPattern("\"fma_peak_gflops\":[0-9.eE+-]+,")
                    .containsPattern("\"fraction_of_fma_peak\":[0-9.eE+-]+,");
        }
        assertThat(rows.get(0).perTokenVsSmallestN()).isEqualTo(1.0);
    }

    @Test
    void withoutTheBaselineItsColumnsAreEmpty() {
        List<BenchRow> rows = LengthSweep.run(tiny(false, false), Nd4jSupport.onClassPath(), new BenchListener() {
        });
        assertThat(rows).hasSize(2).allSatisfy(r -> {
            assertThat(r.baselineMsMedian()).isNaN();
            assertThat(r.ratioToForward()).isNaN();
            assertThat(r.toJson()).contains("\"baseline_ms_median\":null", "\"mode\":\"fwd\"", "\"fwdbwd_over_fwd\":null");
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"reference", "cpu"})
    void aLearnableDecaySweepTimesABackwardThatWritesTheDecayGradient(String backend) {
        // LengthSweep poisons dDecay with NaN before the calls and throws if any head is left non-finite.
        BenchConfig c = new BenchConfig(backend, BackendOptions.defaults(), 2, 3, 8, 4, new int[] {40}, DType.BF16,
                Precision.STRICT, new BenchCall(true, true, true, false), Layout.BHND, 1, 0, 2, false, 0, Double.NaN,
                Double.NaN, 11);
        List<BenchRow> rows = LengthSweep.run(c, Nd4jSupport.onClassPath(), new BenchListener() {
        });
        assertThat(rows).singleElement().satisfies(r -> {
            assertThat(r.mode()).isEqualTo("fwdbwd");
            assertThat(r.ms().median()).isPositive();
            assertThat(r.toJson()).contains("\"mode\":\"fwdbwd\",\"learn_decay\":true,\"final_state\":false,");
        });
    }

    @Test
    void aDecayGradientLeftPoisonedIsRefused() {
        try (LightningAttention la = LightningAttention.open("reference");
             Tensor poisoned = la.tensor(new float[] {0.5f, Float.NaN}, DType.FP32, Shape.of(2));
             Tensor written = la.tensor(new float[] {0.5f, -2f}, DType.FP32, Shape.of(2))) {
            assertThatThrownBy(() -> LengthSweep.requireWritten(poisoned)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("element 1 at NaN");
            LengthSweep.requireWritten(written);
        }
    }

    @Test
    void theFinalStateIsAskedForOnlyWhenWantedAndTheLearnableDecayOnlyWithABackward() {
        List<BenchRow> rows = LengthSweep.run(config(new BenchCall(false, false, false, true), 0, 16), Nd4jSupport.onClassPath(),
                new BenchListener() {
                });
        assertThat(rows).allSatisfy(r -> assertThat(r.toJson()).contains("\"learn_decay\":false,\"final_state\":true,"));
        assertThatThrownBy(() -> new BenchCall(false, false, true, false)).isInstanceOf(La2ArgumentException.class)
                .hasMessageStartingWith("--learn-decay: got set for the forward alone");
    }

    private static BenchConfig config(BenchCall call, double warmupSeconds, int... tokens) {
        return new BenchConfig("reference", BackendOptions.defaults(), 1, 2, 8, 4, tokens, DType.FP32,
                Precision.STRICT, call, Layout.BHND, 1, warmupSeconds, 2, false, 0, Double.NaN, Double.NaN, 5);
    }

    @Test
    void theWarmUpMakesTheGivenCallsAndLastsTheGivenSeconds() {
        BenchConfig c = config(BenchCall.forward(), 0.05, 16);
        int[] calls = {0};
        long[] done = {0};
        LengthSweep.warmUp(c, () -> calls[0]++, 0, "warm", new BenchListener() {
        }, done, 10);
        assertThat(calls[0]).isEqualTo(1);
        assertThat(done[0]).isEqualTo(1);
        long start = System.nanoTime();
        LengthSweep.warmUp(c, () -> calls[0]++, c.warmupSeconds(false), "warm", new BenchListener() {
        }, done, 10);
        assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(50_000_000L);
        assertThat(calls[0]).isGreaterThan(2);
        // only the --warmup calls count towards the progress
        assertThat(done[0]).isEqualTo(2);
    }

    @Test
    void theFirstSizeWarmsUpFiveTimesAsLongAndEachRowSaysHowLong() {
        BenchConfig c = config(BenchCall.forward(), 0.05, 24, 8);
        assertThat(c.warmupSeconds(true)).isEqualTo(0.25);
        long[] contextAt = {0};
        List<Long> rowAt = new ArrayList<>();
        List<BenchRow> rows = LengthSweep.run(c, Nd4jSupport.onClassPath(), new BenchListener() {
            @Override
            public void context(BenchContext context) {
                contextAt[0] = System.nanoTime();
            }

            @Override
            public void row(BenchRow row) {
                rowAt.add(System.nanoTime());
            }
        });
        assertThat(rows).extracting(BenchRow::n).containsExactly(8, 24);
        assertThat(rows).extracting(BenchRow::warmupSeconds).containsExactly(0.25, 0.05);
        assertThat(rowAt.get(0) - contextAt[0]).isGreaterThanOrEqualTo(250_000_000L);
        assertThat(rowAt.get(1) - rowAt.get(0)).isGreaterThanOrEqualTo(50_000_000L);
        assertThat(rows.get(0).toJson()).contains("\"warmup\":1,\"warmup_s\":0.25,\"repeats\":2,");
        assertThat(rows.get(1).toJson()).contains("\"warmup\":1,\"warmup_s\":0.05,\"repeats\":2,");
    }

    @ParameterizedTest
    @ValueSource(doubles = {-0.5, Double.NaN, Double.POSITIVE_INFINITY})
    void rejectsAWarmUpThatIsNegativeOrNotFinite(double seconds) {
        assertThatThrownBy(() -> config(BenchCall.forward(), seconds, 16)).isInstanceOf(La2ArgumentException.class)
                .hasMessage("--warmup-s: got " + seconds + "; expected a finite number of seconds >= 0 (0 leaves the"
                        + " --warmup calls alone)");
    }

    @Test
    void rejectsBadSizesNamingTheOption() {
        assertThatThrownBy(() -> new BenchConfig("reference", BackendOptions.defaults(), 1, 0, 8, 4, new int[] {4},
                DType.FP32, Precision.STRICT, BenchCall.forward(), Layout.BHND, 0, 0, 1, false, 0, Double.NaN, Double.NaN, 1))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("--h: got 0");
        assertThatThrownBy(() -> new BenchConfig("reference", BackendOptions.defaults(), 1, 1, 8, 4, new int[] {4, -1},
                DType.FP32, Precision.STRICT, BenchCall.forward(), Layout.BHND, 0, 0, 1, false, 0, Double.NaN, Double.NaN, 1))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("--n: got -1");
        assertThatThrownBy(() -> config(BenchCall.forward(), 0, 16, 8, 16)).isInstanceOf(La2ArgumentException.class)
                .hasMessage("--n: got 16 twice; expected distinct lengths");
        assertThatThrownBy(() -> new BenchConfig("reference", BackendOptions.defaults(), 1, 1, 8, 4, new int[] {4},
                DType.FP64, Precision.TF32, BenchCall.forward(), Layout.BHND, 0, 0, 1, false, 0, Double.NaN, Double.NaN, 1))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("--precision: got tf32 with --dtype fp64;");
    }
}
