package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchServingCommandTest {

    @TempDir
    Path dir;

    private static final String[] TINY = {"--h", "2", "--d", "8", "--e", "4", "--warmup", "1", "--warmup-s", "0",
        "--repeats", "2"};

    private Cli bench(String backend, String mode, Path json, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("bench", "--backend", backend, "--mode", mode));
        args.addAll(List.of(TINY));
        args.addAll(List.of(more));
        args.addAll(List.of("--json", json.toString()));
        return Cli.run(args.toArray(String[]::new));
    }

    @Test
    void packedForwardBackwardPrintsBothCallsTheirRatioAndAJsonRow() throws IOException {
        Path json = dir.resolve("packed.json");
        Cli r = bench("cpu", "packed-fwdbwd", json, "--sequences", "3", "--max-len", "30");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("la2 bench: backend cpu", "packed-fwdbwd", "S=3 H=2 D=8 E=4",
                "lengths uniform in 1..30", "B = S sequences of N = round(T/S)")
                .containsPattern("(?m)^packed\\s+3\\s+\\d+\\s").containsPattern("(?m)^equal-length\\s+3\\s+\\d+\\s")
                .containsPattern("ratio \\(per token, packed over equal-length\\): [0-9.]+");
        List<String> rows = Files.readAllLines(json).stream().filter(l -> l.startsWith("  {")).toList();
        assertThat(rows).singleElement().satisfies(row -> assertThat(row).contains("\"mode\":\"packed-fwdbwd\"",
                "\"s\":3", "\"max_len\":30", "\"dense_b\":3", "\"repeats\":2")
                .containsPattern("\"per_token_ratio\":[0-9.eE+-]+,"));
        assertThat(Files.readString(json)).contains("\"context\": {", "\"method\": \"la2 bench packed-fwdbwd");
    }

    @Test
    void slotDecodeComparesWithTheDenseDecode() throws IOException {
        Path json = dir.resolve("decode.json");
        Cli r = bench("reference", "SLOT-DECODE", json, "--sequences", "4");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^by slot\\s+4\\s+4\\s").containsPattern("(?m)^dense decode\\s+4\\s+4\\s")
                .contains("pool of S slots, slots permuted");
        assertThat(Files.readString(json)).contains("\"mode\":\"slot-decode\"", "\"dense_n\":1");
    }

    @Test
    void rejectsAnUnknownModeAndBadSizes() {
        Cli unknown = Cli.run("bench", "--backend", "reference", "--mode", "packed");
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err()).contains("'packed' is not a mode");
        Cli zero = Cli.run("bench", "--backend", "reference", "--mode", "packed-fwd", "--sequences", "0");
        assertThat(zero.code()).isNotZero();
        assertThat(zero.err()).contains("--sequences: got 0");
    }
}
