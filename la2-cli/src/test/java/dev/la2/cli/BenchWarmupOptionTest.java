package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code la2 bench --warmup-s}: the shortest warm-up per size, five times as long for the first. */
class BenchWarmupOptionTest {

    @TempDir
    Path dir;

    private static List<String> rows(Path json) throws IOException {
        return Files.readAllLines(json).stream().filter(l -> l.startsWith("  {")).toList();
    }

    @Test
    void aSweepWarmsUpForTheGivenSecondsAndSaysSoInTheHeaderTheMethodAndEachRow() throws IOException {
        Path json = dir.resolve("sweep.json");
        Cli r = Cli.run("bench", "--backend", "cpu", "--b", "1", "--h", "2", "--d", "8", "--e", "4", "--n", "24,8",
                "--warmup", "1", "--warmup-s", "0.04", "--repeats", "2", "--no-baseline", "--gemm-size", "0",
                "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("warm-up 1 calls and 0.04 s (0.2 s the first N), repeats 2");
        assertThat(Files.readString(json)).contains("after at least 1 warm-up calls and 0.04 s (0.2 s the first N) of them");
        assertThat(rows(json)).hasSize(2).satisfiesExactly(
                first -> assertThat(first).contains("\"n\":8,", "\"warmup\":1,\"warmup_s\":0.2,"),
                second -> assertThat(second).contains("\"n\":24,", "\"warmup\":1,\"warmup_s\":0.04,"));
    }

    @Test
    void theServingCallWarmsUpFiveTimesAsLongAsTheDenseOne() throws IOException {
        Path json = dir.resolve("decode.json");
        Cli r = Cli.run("bench", "--backend", "reference", "--mode", "slot-decode", "--sequences", "2", "--h", "2",
                "--d", "8", "--e", "4", "--warmup", "1", "--warmup-s", "0.04", "--repeats", "2", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("warm-up 1 calls and 0.2 s (dense: 0.04 s), repeats 2");
        assertThat(Files.readString(json)).contains("after at least 1 warm-up calls and 0.2 s (dense: 0.04 s) of them");
        assertThat(rows(json)).singleElement().asString()
                .contains("\"warmup\":1,\"warmup_s\":0.2,\"dense_warmup_s\":0.04,");
    }

    @ParameterizedTest
    @ValueSource(strings = {"-1", "NaN", "Infinity"})
    void aNegativeOrNonFiniteWarmUpIsRefusedWithOneLine(String seconds) {
        Cli r = Cli.run("bench", "--backend", "reference", "--n", "8", "--warmup-s", seconds);
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().contains("--warmup-s: got " + Double.parseDouble(seconds)
                + "; expected a finite number of seconds >= 0");
    }

    @Test
    void aWarmUpThatIsNoNumberIsAUsageErrorAndTheDefaultIsOneSecond() {
        Cli r = Cli.run("bench", "--backend", "reference", "--n", "8", "--warmup-s", "soon");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--warmup-s", "soon");
        Cli help = Cli.run("bench", "--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("--warmup-s=SECONDS", "--warmup calls (default 1; 5 times that");
    }
}
