package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.Backends;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CommandsTest {

    @TempDir
    Path dir;

    @Test
    void backendsListsTheReferenceProviderAndTheVectorApi() {
        Cli r = Cli.run("backends");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("BACKEND", "PRIORITY", "DTYPES", "STATUS")
                .containsPattern("reference\\s+-1000\\s+fp32,fp64,bf16,fp16\\s+available")
                .contains("Vector API:").contains("ND4J baseline:");
        // Surefire starts the JVM with --add-modules jdk.incubator.vector; the line is the cpu backend's probe.
        assertThat(r.out()).containsPattern("Vector API: +Vector API, \\d+-bit FloatVector")
                .containsPattern("cpu\\s+50\\s+fp32,fp64,bf16,fp16\\s+available");
    }

    @Test
    void benchOnTheReferenceBackendWritesJsonRows() throws IOException {
        Path json = dir.resolve("rows.json");
        Cli r = Cli.run("bench", "--backend", "reference", "--b", "1", "--h", "2", "--d", "8", "--e", "4",
                "--n", "16,48", "--dtype", "fp32", "--mode", "fwdbwd", "--warmup", "1", "--warmup-s", "0", "--repeats", "3",
                "--gemm-size", "64", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("la2 bench: backend reference", "tokens = B*N", "GFLOP/s", "ND4J", "sgemm");
        assertThat(r.out()).containsPattern("(?m)^\\s+16\\s").containsPattern("(?m)^\\s+48\\s");
        String document = Files.readString(json);
        assertThat(document).startsWith("{").contains("\"context\": {", "\"rows\": [", "\"sgemm_gflops\":");
        List<String> rows = Files.readAllLines(json).stream().filter(l -> l.startsWith("  {")).toList();
        assertThat(rows).hasSize(2);
        for (String row : rows) {
            assertThat(row).endsWith(rows.indexOf(row) == 0 ? "}," : "}").contains("\"backend\":\"reference\"",
                    "\"dtype\":\"fp32\"", "\"mode\":\"fwdbwd\"", "\"b\":1", "\"h\":2", "\"d\":8", "\"e\":4");
            for (String key : new String[] {"n", "ms_median", "ms_min", "ms_max", "ms_per_mtok", "gflops",
                    "peak_heap_bytes", "baseline_ms_median", "speedup_vs_baseline", "sgemm_gflops", "fma_peak_gflops",
                    "fraction_of_fma_peak"}) {
                assertThat(row).containsPattern("\"" + key + "\":[0-9.eE+-]+[,}]");
            }
        }
        if (NumPy.available()) {
            assertThat(NumPy.exec(dir, String.join("\n",
                    "import json",
                    "doc = json.load(open('rows.json'))",
                    "assert [r['n'] for r in doc['rows']] == [16, 48], doc['rows']",
                    "assert all(r['ms_min'] <= r['ms_median'] <= r['ms_max'] for r in doc['rows'])",
                    "assert doc['context']['backend'] == 'reference'"))).isZero();
        }
    }

    @Test
    void benchWithoutNd4jOnTheClassPathSaysNotAvailable() throws Exception {
        // The launcher's class path with no ND4J kit beside it: no ND4J (nor JavaCPP/OpenBLAS).
        Cli r = SplitClassPath.ofTests().run(dir.resolve("lib-nd4j"), "bench", "--backend", "reference", "--n", "8",
                "--h", "1", "--d", "4", "--e", "4", "--warmup", "0", "--warmup-s", "0", "--repeats", "1");
        String output = r.out();
        assertThat(r.code()).as(output).isZero();
        assertThat(output).contains("baseline (xND4J = its median / ours): n/a (nd4j not on class path",
                "sgemm ceiling (%sgemm = our GFLOP/s / its): n/a (nd4j not on class path");
        assertThat(output).containsPattern("(?m)^\\s+8\\s+\\S+.*n/a\\s+n/a\\s+n/a\\s+[0-9.]+\\s+1\\.00\\s+n/a$");
    }

    @Test
    void aSweepThatMeasuredNothingFails() {
        // 2^48 token-heads: no host can allocate the inputs, so the one N is skipped.
        Path json = dir.resolve("none.json");
        Cli r = Cli.run("bench", "--backend", "reference", "--b", "65536", "--h", "65536", "--n", "65536", "--d", "4",
                "--e", "4", "--warmup", "0", "--warmup-s", "0", "--repeats", "1", "--no-baseline", "--gemm-size", "0",
                "--bandwidth", "10", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isEqualTo(La2Cli.EXIT_FAILURE);
        assertThat(r.errLines()).anySatisfy(l -> assertThat(l).startsWith("la2 bench: N=65536 skipped: out of memory"))
                .contains("la2 bench: no N was measured; " + json + " not written");
        assertThat(json).doesNotExist();
    }

    @Test
    void checkRunsTheConformanceKitOnTheReferenceBackend() {
        // Two families: the command's path is the same for all of them (ReferenceConformanceTest runs the whole kit).
        Cli r = Cli.run("check", "--backend", "reference", "--family", "forward,misuse");
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        String[] lines = r.out().strip().split("\\R");
        assertThat(lines[lines.length - 1]).matches("[1-9]\\d* passed, 0 failed");
        Cli one = Cli.run("check", "--backend", "reference", "--family", "backendOpens");
        assertThat(one.code()).as(one.out() + one.err()).isZero();
        assertThat(one.out().strip()).endsWith("1 passed, 0 failed");
    }

    @Test
    void checkRefusesAFamilyTheKitDoesNotHave() {
        Cli r = Cli.run("check", "--backend", "reference", "--family", "forward,fwd");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().contains("--family: got \"fwd\"; expected one of [", "forward");
    }

    @Test
    void benchRejectsABadSizeWithOneLine() {
        Cli r = Cli.run("bench", "--backend", "reference", "--h", "0", "--n", "16");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().contains("--h: got 0");
    }

    @Test
    void checkRefusesAnUnknownOrUnavailableBackend() {
        Cli r = Cli.run("check", "--backend", "no-such-backend");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().contains("no such backend", "reference");
    }

    @Test
    void checkTakesBackendNamesInAnyLetterCaseAsRunAndBenchDo() {
        // --threads -1 is refused once the backend is resolved, before the kit runs.
        Cli r = Cli.run("check", "--backend", " Reference ", "--threads", "-1");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().isEqualTo("la2 check: --threads: got -1; expected >= 0"
                + " (0 = available processors)");
    }

    /** Runs a command with -Dla2.backend set to {@code name}. */
    private static Cli withBackendProperty(String name, String... args) {
        String before = System.getProperty(Backends.PROPERTY);
        System.setProperty(Backends.PROPERTY, name);
        try {
            return Cli.run(args);
        } finally {
            if (before == null) {
                System.clearProperty(Backends.PROPERTY);
            } else {
                System.setProperty(Backends.PROPERTY, before);
            }
        }
    }

    @Test
    void checkNamesThePropertyWhenTheBackendCameFromIt() {
        Cli r = withBackendProperty("no-such-backend", "check");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString()
                .startsWith("la2 check: -Dla2.backend=no-such-backend: no such backend; found [");
    }

    @Test
    void backendsSaysWhenTheRequestedDefaultCannotBeOpened() {
        Cli missing = withBackendProperty("no-such-backend", "backends");
        assertThat(missing.code()).isZero();
        assertThat(missing.out()).contains("Default backend: (none: -Dla2.backend=no-such-backend names no available"
                + " backend)");
        Cli upper = withBackendProperty("REFERENCE", "backends");
        assertThat(upper.out()).contains("Default backend: reference (requested by -Dla2.backend=REFERENCE)");
    }

    @Test
    void theLibrarysMessagesAreNotPrefixedTwice() {
        Cli r = Cli.run("bench", "--backend", "no-such-backend", "--n", "8");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString()
                .startsWith("la2 bench: --backend no-such-backend: no backend named 'no-such-backend'");
    }

    @Test
    void aBackendThatCannotBeOpenedIsNamedByWhereItWasAskedFor() {
        Cli r = withBackendProperty("no-such-backend", "bench", "--n", "8");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString()
                .startsWith("la2 bench: -Dla2.backend=no-such-backend: no backend named 'no-such-backend'");
    }

    @Test
    void aCommandLineThatDoesNotParseIsOneLineNamingTheOption() {
        for (String[] args : new String[][] {
                {"run", "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--decay", "s.npy", "--out", "o", "--scale", "abc"},
                {"run", "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--decay", "s.npy", "--out", "o", "--layout", "nchw"},
                {"bench", "--dtype", "int8"},
                {"bench", "--n", "8,,16"},
                {"bench", "--frobnicate"}}) {
            Cli r = Cli.run(args);
            String option = args[args.length - (args[args.length - 1].startsWith("--") ? 1 : 2)];
            assertThat(r.code()).as(String.join(" ", args)).isEqualTo(2);
            assertThat(r.errLines()).as(r.err()).singleElement().asString()
                    .startsWith("la2 " + args[0] + ": ").contains(option, "--help' lists the options");
            assertThat(r.out()).isEmpty();
        }
    }

    @Test
    void benchRefusesAJsonPathItCannotWriteBeforeTheSweep() throws IOException {
        Files.writeString(dir.resolve("plain"), "a file");
        Cli r = Cli.run("bench", "--backend", "reference", "--n", "8", "--h", "1", "--d", "4", "--e", "4", "--warmup", "0",
                "--warmup-s", "0", "--repeats", "1", "--json", dir.resolve("plain").resolve("rows.json").toString());
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().startsWith("la2 bench: --json ").contains("cannot create the directory");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void benchRefusesANaNRate() {
        for (String option : new String[] {"--bandwidth", "--sgemm-gflops"}) {
            Cli r = Cli.run("bench", "--backend", "reference", "--n", "8", option, "NaN");
            assertThat(r.code()).as(r.err()).isEqualTo(2);
            assertThat(r.errLines()).singleElement().asString().contains(option + ": got NaN; expected a rate > 0");
        }
    }

    @Test
    void unknownCommandsAreUsageErrors() {
        assertThat(Cli.run("frobnicate").code()).isEqualTo(2);
        assertThat(Cli.run().code()).isZero();
    }
}
