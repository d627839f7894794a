package dev.la2.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class ServingBenchTest {

    private static ServingConfig tiny(String backend, ServingMode mode, int sequences, int maxLength) {
        return tiny(backend, mode, sequences, maxLength, 0);
    }

    private static ServingConfig tiny(String backend, ServingMode mode, int sequences, int maxLength,
                                      double warmupSeconds) {
        BenchConfig base = new BenchConfig(backend, BackendOptions.defaults(), 1, 2, 8, 4, new int[] {1}, DType.FP32,
                Precision.STRICT, new BenchCall(false, true, false, false), Layout.BHND, 1, warmupSeconds, 3, false, 0,
                Double.NaN, Double.NaN, 7);
        return new ServingConfig(base, mode, sequences, maxLength);
    }

    private record Seen(List<BenchContext> contexts, List<ServingRow> rows, long[] progress) implements BenchListener {
        Seen() {
            this(new ArrayList<>(), new ArrayList<>(), new long[2]);
        }

        @Override
        public void context(BenchContext context) {
            contexts.add(context);
        }

        @Override
        public void progress(String stage, long done, long total) {
            progress[0] = done;
            progress[1] = total;
        }

        @Override
        public void serving(ServingRow row) {
            rows.add(row);
        }
    }

    @ParameterizedTest
    @CsvSource({"reference, PACKED_FWD", "reference, PACKED_FWDBWD", "cpu, PACKED_FWD", "cpu, PACKED_FWDBWD"})
    void packedModesCompareWithAnEqualLengthBatchOfTheSameTokens(String backend, ServingMode mode) {
        ServingConfig c = tiny(backend, mode, 5, 40);
        Seen seen = new Seen();
        ServingRow r = ServingBench.run(c, seen);
        int t = Arrays.stream(c.lengths()).sum();
        assertThat(seen.rows()).containsExactly(r);
        assertThat(seen.contexts()).singleElement().satisfies(x -> assertThat(x.bandwidthGBs()).isPositive());
        // 1 warm-up for each side, then 4 blocks of ceil(3 / 2) timed calls
        assertThat(seen.progress()).containsExactly(10, 10);
        assertThat(r.mode()).isEqualTo(mode);
        assertThat(r.sequences()).isEqualTo(5);
        assertThat(r.tokens()).isEqualTo(t);
        assertThat(r.maxLength()).isEqualTo(40);
        assertThat(r.denseBatch()).isEqualTo(5);
        assertThat(r.denseTokens()).isEqualTo(Math.round(t / 5.0));
        assertThat(r.ms().count()).isEqualTo(4);
        assertThat(r.denseMs().count()).isEqualTo(4);
        assertThat(r.ms().min()).isPositive().isLessThanOrEqualTo(r.ms().median());
        assertThat(r.denseMs().max()).isGreaterThanOrEqualTo(r.denseMs().median());
        assertThat(r.msPerMillionTokens()).isCloseTo(r.ms().median() / t * 1e6, Percentage.withPercentage(1e-9));
        assertThat(r.denseMsPerMillionTokens()).isCloseTo(r.denseMs().median() / (5.0 * r.denseTokens()) * 1e6,
                Percentage.withPercentage(1e-9));
        assertThat(r.perTokenRatio()).isCloseTo(r.msPerMillionTokens() / r.denseMsPerMillionTokens(),
                Percentage.withPercentage(1e-9));
        assertThat(r.floorMs()).isPositive();
        assertThat(r.toJson()).contains("\"backend\":\"" + backend + "\"", "\"mode\":\"" + mode.label() + "\"",
                "\"s\":5", "\"t\":" + t, "\"max_len\":40", "\"dense_b\":5", "\"repeats\":4")
                .containsPattern("\"per_token_ratio\":[0-9.eE+-]+,").containsPattern("\"dense_ms_median\":[0-9.eE+-]+,");
    }

    @ParameterizedTest
    @CsvSource({"reference", "cpu"})
    void slotDecodeComparesWithTheDenseDecodeAndTheCopyFloor(String backend) {
        ServingRow r = ServingBench.run(tiny(backend, ServingMode.SLOT_DECODE, 6, 1), new Seen());
        assertThat(r.tokens()).isEqualTo(6);
        assertThat(r.denseBatch()).isEqualTo(6);
        assertThat(r.denseTokens()).isEqualTo(1);
        assertThat(r.ms().median()).isPositive();
        assertThat(r.denseMs().median()).isPositive();
        assertThat(r.perTokenRatio()).isCloseTo(r.ms().median() / r.denseMs().median(), Percentage.withPercentage(1e-9));
        assertThat(r.floorMs()).isPositive();
        assertThat(r.toJson()).contains("\"mode\":\"slot-decode\"", "\"s\":6", "\"dense_n\":1");
    }

    @Test
    void theServingCallWarmsUpFiveTimesAsLongAsTheDenseOneAndTheRowSaysHowLong() {
        long start = System.nanoTime();
        ServingRow r = ServingBench.run(tiny("reference", ServingMode.SLOT_DECODE, 2, 1, 0.02), new Seen());
        assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(120_000_000L);
        assertThat(r.warmupSeconds()).isEqualTo(0.1);
        assertThat(r.denseWarmupSeconds()).isEqualTo(0.02);
        assertThat(r.toJson()).contains("\"warmup\":1,\"warmup_s\":0.1,\"dense_warmup_s\":0.02,");
    }

    @Test
    void lengthsAndSlotsComeFromAFixedSeed() {
        ServingConfig c = tiny("reference", ServingMode.PACKED_FWD, 200, 17);
        assertThat(c.lengths()).hasSize(200).contains(1, 17).isEqualTo(c.lengths());
        assertThat(Arrays.stream(c.lengths()).allMatch(n -> n >= 1 && n <= 17)).isTrue();
        int[] slots = c.slots();
        assertThat(slots).isEqualTo(c.slots()).isNotEqualTo(sorted(slots));
        assertThat(sorted(slots)).isEqualTo(java.util.stream.IntStream.range(0, 200).toArray());
    }

    @Test
    void rejectsBadSizesNamingTheOption() {
        assertThatThrownBy(() -> tiny("reference", ServingMode.PACKED_FWD, 0, 4))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("--sequences: got 0");
        assertThatThrownBy(() -> tiny("reference", ServingMode.PACKED_FWD, 4, 0))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("--max-len: got 0");
        assertThatThrownBy(() -> tiny("reference", ServingMode.PACKED_FWD, 1 << 16, 1 << 16))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("--max-len: got 65536");
    }

    private static int[] sorted(int[] a) {
        int[] s = a.clone();
        Arrays.sort(s);
        return s;
    }
}
