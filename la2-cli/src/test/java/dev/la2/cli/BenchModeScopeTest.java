package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code la2 bench} options that make no sense together are refused before anything is timed,
 * in one line naming the option, instead of being left out of a run whose header says otherwise.
 */
class BenchModeScopeTest {

    @TempDir
    Path dir;

    /** A bench command line whose sizes are all fine; {@code --h 0} would be the first thing refused after the scope. */
    private static Cli bench(String... args) {
        List<String> all = new ArrayList<>(List.of("bench", "--backend", "reference"));
        all.addAll(List.of(args));
        return Cli.run(all.toArray(String[]::new));
    }

    private static void refused(Cli r, String... expected) {
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.errLines()).as(r.err()).singleElement().asString().startsWith("la2 bench: ").contains(expected);
        assertThat(r.out()).isEmpty();
    }

    @ParameterizedTest(name = "{0} {1} with --mode {2}")
    @CsvSource({
            "--n, 64, packed-fwd, '--n: applies to --mode fwd and fwdbwd, not packed-fwd'",
            "--b, 2, slot-decode, '--b: applies to --mode fwd and fwdbwd, not slot-decode'",
            "--layout, bnhd, packed-fwdbwd, '--layout: applies to --mode fwd and fwdbwd, not packed-fwdbwd'",
            "--gemm-size, 64, slot-decode, '--gemm-size: applies to --mode fwd and fwdbwd'",
            "--sgemm-gflops, 100, packed-fwd, '--sgemm-gflops: applies to --mode fwd and fwdbwd'",
            "--sequences, 4, fwd, '--sequences: applies to --mode packed-fwd, packed-fwdbwd and slot-decode, not fwd'",
            "--max-len, 64, fwdbwd, '--max-len: applies to --mode packed-fwd and packed-fwdbwd, not fwdbwd'",
            "--max-len, 64, slot-decode, '--max-len: applies to --mode packed-fwd and packed-fwdbwd, not slot-decode'",
            "--precision, tf32, slot-decode, '--precision: applies to --mode fwd, fwdbwd, packed-fwd and packed-fwdbwd,"
                    + " not slot-decode'"})
    void anOptionTheModeDoesNotUseIsRefused(String option, String value, String mode, String message) {
        refused(bench("--mode", mode, option, value, "--h", "0"), message);
    }

    @Test
    void switchesTheModeDoesNotUseAreRefused() {
        refused(bench("--mode", "slot-decode", "--no-baseline"), "--[no-]baseline: applies to --mode fwd and fwdbwd");
        refused(bench("--mode", "fwd", "--no-keep-states"), "--no-keep-states: applies to --mode fwdbwd and packed-fwdbwd, not fwd");
        refused(bench("--mode", "slot-decode", "--no-keep-states"), "--no-keep-states: applies to --mode fwdbwd");
        // --keep-states is the default: scripts pass it to every mode, and it changes nothing.
        refused(bench("--mode", "fwd", "--keep-states", "--h", "0"), "--h: got 0");
    }

    @Test
    void aPrecisionOtherThanStrictNeedsFp32() {
        refused(bench("--dtype", "fp64", "--precision", "tf32", "--n", "8"),
                "--precision: got tf32 with --dtype fp64; expected strict");
        refused(bench("--dtype", "BF16", "--precision", "TF32X3", "--mode", "packed-fwd"),
                "--precision: got tf32x3 with --dtype bf16; expected strict");
        refused(bench("--dtype", "fp16", "--precision", "strict", "--h", "0"), "--h: got 0");
    }

    @Test
    void aLengthGivenTwiceIsRefused() {
        refused(bench("--n", "64,16,64"), "--n: got 64 twice; expected distinct lengths");
    }

    @Test
    void aJsonFileThatCannotBeCreatedIsRefusedBeforeTheSweep() throws IOException {
        Path readOnly = Files.createDirectory(dir.resolve("read-only"));
        Files.setPosixFilePermissions(readOnly, PosixFilePermissions.fromString("r-xr-xr-x"));
        Path json = readOnly.resolve("rows.json");
        if (Files.isWritable(readOnly)) {
            // Permissions do not bind root: /proc refuses new files to everyone.
            assumeTrue(Files.isDirectory(Path.of("/proc/self")), "no read-only directory to write into");
            json = Path.of("/proc/la2-bench-rows.json");
        }
        Cli r = bench("--n", "8", "--h", "1", "--d", "4", "--e", "4", "--warmup", "0", "--warmup-s", "0", "--repeats", "1",
                "--no-baseline", "--gemm-size", "0", "--bandwidth", "10", "--json", json.toString());
        refused(r, "--json " + json + ": cannot write (");
        assertThat(json).doesNotExist();
    }

    private static final String[] TINY = {"--n", "8", "--h", "1", "--d", "4", "--e", "4", "--warmup", "0", "--warmup-s", "0",
            "--repeats", "1", "--no-baseline", "--gemm-size", "0", "--bandwidth", "10"};

    private static Cli tinyBench(Path json) {
        List<String> args = new ArrayList<>(List.of(TINY));
        args.addAll(List.of("--json", json.toString()));
        return bench(args.toArray(String[]::new));
    }

    @Test
    void aJsonPathThatIsNoRegularFileIsRefusedAndLeftAlone() throws Exception {
        Path pipe = dir.resolve("pipe");
        assumeTrue(new ProcessBuilder("mkfifo", pipe.toString()).start().waitFor() == 0, "no mkfifo to make a pipe with");
        refused(tinyBench(pipe), "--json " + pipe + ": is not a regular file; expected a file to replace or none");
        assertThat(Files.exists(pipe)).isTrue();
        assertThat(Files.isRegularFile(pipe)).isFalse();
    }

    @Test
    void aJsonPathThatIsALinkIsWrittenThroughIt() throws IOException {
        Path real = Files.writeString(dir.resolve("real.json"), "an earlier result");
        Path link = Files.createSymbolicLink(dir.resolve("link.json"), real);
        Cli r = tinyBench(link);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.isSymbolicLink(link)).isTrue();
        assertThat(Files.readString(real)).contains("\"rows\"", "\"reference\"");
    }

    @Test
    void aJsonPathThatIsALinkToNothingIsRefused() throws IOException {
        Path link = Files.createSymbolicLink(dir.resolve("dangling.json"), dir.resolve("nowhere/rows.json"));
        refused(tinyBench(link), "--json " + link + ": a link to nothing (");
        assertThat(Files.isSymbolicLink(link)).isTrue();
    }
}
