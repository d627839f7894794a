package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code la2 bench}'s options that choose the timed call: --learn-decay and --final-state. */
class BenchCallOptionsTest {

    @TempDir
    Path dir;

    private static final String[] TINY = {"--b", "1", "--h", "2", "--d", "8", "--e", "4", "--n", "24", "--warmup", "1",
        "--warmup-s", "0", "--repeats", "2", "--no-baseline", "--gemm-size", "0"};

    private Cli bench(Path json, String... more) {
        List<String> args = new ArrayList<>(List.of("bench", "--backend", "cpu"));
        args.addAll(List.of(TINY));
        args.addAll(List.of(more));
        args.addAll(List.of("--json", json.toString()));
        return Cli.run(args.toArray(String[]::new));
    }

    private static String row(Path json) throws IOException {
        List<String> rows = Files.readAllLines(json).stream().filter(l -> l.startsWith("  {")).toList();
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    @Test
    void learnDecayTimesTheBackwardWithTheDecayGradientAndSaysSo() throws IOException {
        Path json = dir.resolve("learn.json");
        Cli r = bench(json, "--mode", "fwdbwd", "--dtype", "bf16", "--learn-decay");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("fwdbwd (states kept by the forward where the backend keeps them, learnable decay,"
                + " without the final state)");
        assertThat(row(json)).contains("\"mode\":\"fwdbwd\",\"learn_decay\":true,\"final_state\":false,");
        assertThat(Files.readString(json)).contains("the call: fwdbwd (", "learnable decay");
    }

    @Test
    void byDefaultTheDecayIsFixedAndNoFinalStateIsWritten() throws IOException {
        Path plain = dir.resolve("plain.json");
        Cli r = bench(plain, "--mode", "fwd");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("fwd (fixed decay, without the final state)");
        assertThat(row(plain)).contains("\"mode\":\"fwd\",\"learn_decay\":false,\"final_state\":false,");
        Path withState = dir.resolve("state.json");
        Cli s = bench(withState, "--mode", "fwd", "--final-state");
        assertThat(s.code()).as(s.err()).isZero();
        assertThat(row(withState)).contains("\"learn_decay\":false,\"final_state\":true,");
    }

    @Test
    void learnDecayNeedsTheBackwardAndNeitherOptionAppliesToTheServingModes() {
        Cli forward = Cli.run("bench", "--backend", "reference", "--mode", "fwd", "--learn-decay", "--n", "8");
        assertThat(forward.code()).isEqualTo(2);
        assertThat(forward.errLines()).singleElement().asString().contains("--learn-decay: got set for the forward alone",
                "--mode fwdbwd");
        Cli packed = Cli.run("bench", "--backend", "reference", "--mode", "packed-fwdbwd", "--final-state");
        assertThat(packed.code()).isEqualTo(2);
        assertThat(packed.errLines()).singleElement().asString().contains("--final-state: applies to --mode fwd and fwdbwd");
    }
}
