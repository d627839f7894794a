package dev.la2.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.La2ArgumentException;
import dev.la2.api.BackendOptions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.junit.jupiter.api.Test;

/**
 * The runner against test-only backends: a correct one passes everything, each deliberate bug is
 * caught by the cases that should catch it, and a missing or unavailable backend is skipped with
 * its reason. The counts are checked against the printed lines.
 */
class ConformanceRunnerTest {
    private static final Pattern SUMMARY = Pattern.compile("(\\d+) passed, (\\d+) failed(?:, (\\d+) skipped)?");

    private record Run(ConformanceRunner.Result result, String output, List<String> lines) {
    }

    private static Run run(String backend, BackendOptions options) {
        return run(backend, options, List.of());
    }

    /** The kit's cases of {@code families} only (all where empty). */
    private static Run run(String backend, BackendOptions options, List<String> families) {
        StringWriter text = new StringWriter();
        ConformanceRunner.Result result;
        try (PrintWriter out = new PrintWriter(text)) {
            result = ConformanceRunner.run(backend, options, out, families);
        }
        List<String> lines = text.toString().lines().toList();
        assertThat(lines).isNotEmpty();
        Matcher m = SUMMARY.matcher(lines.getLast());
        assertThat(m.matches()).as("last line %s", lines.getLast()).isTrue();
        assertThat(Long.parseLong(m.group(1))).isEqualTo(result.passed());
        assertThat(Long.parseLong(m.group(2))).isEqualTo(result.failed());
        assertThat(m.group(3) == null ? 0 : Long.parseLong(m.group(3))).isEqualTo(result.skipped());
        assertThat(lines.getLast()).isEqualTo(result.summary());
        // One printed line per failure or skip (messages may span lines, each starts with its tag).
        assertThat(lines.stream().filter(l -> l.startsWith("FAILED ")).count()).isEqualTo(result.failed());
        assertThat(lines.stream().filter(l -> l.startsWith("SKIPPED ")).count()).isEqualTo(result.skipped());
        return new Run(result, text.toString(), lines);
    }

    /**
     * Every family of the kit (its test methods) but {@code left}. A bug that lives on one path of
     * the faulty backend leaves the families that never take it exactly as {@link #aCorrectBackendPassesEveryCase}
     * runs them, so a test of that bug need not run them again.
     */
    private static List<String> familiesBut(String... left) {
        List<String> all = ConformanceRunner.families();
        assertThat(all).as("the kit's families").contains(left);
        return all.stream().filter(f -> !List.of(left).contains(f)).toList();
    }

    private static BackendOptions bug(FaultyProvider.Bug bug) {
        return BackendOptions.defaults().withProperty(FaultyProvider.BUG, bug.name());
    }

    @Test
    void aCorrectBackendPassesEveryCase() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.NONE));
        assertThat(r.result().failed()).as(r.output()).isZero();
        assertThat(r.result().skipped()).as(r.output()).isZero();
        assertThat(r.result().passed()).isGreaterThan(50);
        assertThat(r.result().conforms()).isTrue();
        assertThat(r.lines()).hasSize(1);
    }

    @Test
    void ignoringTheInitialStateIsCaught() {
        // The bug is in the plain forward: the recomputing backward and the kept forward never reach it.
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.IGNORE_INITIAL_STATE), familiesBut("backward", "savedForward"));
        assertThat(r.result().failed()).isPositive();
        assertThat(r.result().passed()).isPositive(); // cases without an initial state still pass
        assertThat(r.result().conforms()).isFalse();
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED forward() > FP32/STRICT > ").contains(" S0"))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED chaining() > "))
                .allSatisfy(l -> assertThat(l).contains("seed ").contains("-Dla2.seed="));
        // Without an initial state the bug is invisible, and the kit must not claim otherwise.
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED forward() "))
                .noneSatisfy(l -> assertThat(l).contains("noS0 "));
    }

    @Test
    void anUnwrittenOutputElementIsCaughtByThePoison() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.SKIP_LAST_OUTPUT_ELEMENT), List.of("forward"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED forward() "))
                .isNotEmpty()
                .allSatisfy(l -> assertThat(l).contains("1 of ").contains("not finite"));
    }

    @Test
    void anErrorJustAboveTheFp32ToleranceIsCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.OUTPUT_TOO_LARGE_BY_3E_5), List.of("forward", "backward"));
        // Every forward case fails, by the amount of the bug (the bound grows as sqrt(N) beyond 4096
        // tokens), but for those of scale 0, whose outputs are zeros that no relative error changes.
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED forward() "))
                .hasSize((int) Cases.forward(new SplittableRandom()).stream().filter(c -> c.scale() != 0).count())
                .allSatisfy(l -> assertThat(l).containsPattern("relative error (2\\.9|3\\.0)\\d*e-05 exceeds 1\\.\\de-05"));
        assertThat(r.lines()).noneSatisfy(l -> assertThat(l).startsWith("FAILED backward() "));
        assertThat(r.result().passed()).isPositive();
    }

    @Test
    void aWrongDecayGradientIsCaughtOnlyWhereItIsRequested() {
        // The bug is in the backward: families that make no backward call (packed ones included) never reach it.
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.FLIP_DECAY_GRADIENT), familiesBut("forward", "decode",
                "packed", "pooled", "slotDecode", "packedMisuse"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .isNotEmpty()
                .allSatisfy(l -> assertThat(l).contains("dDecay"))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED backward() "));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED backward() "))
                .allSatisfy(l -> assertThat(l).contains("learnable"));
    }

    @Test
    void aBatchStrideBugOfWideTokenMajorHeadsIsCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.BATCH_STRIDE_OF_WIDE_TOKEN_MAJOR_HEADS), List.of("forward"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED forward() > FP32/STRICT > B=2 H=3 N=130 D=64 E=64 BNHD"))
                .allSatisfy(l -> assertThat(l).contains(" BNHD ").doesNotContain("B=1 "));
    }

    @Test
    void anInitialStateReadFromTheFirstBatchElementIsCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.INITIAL_STATE_OF_FIRST_BATCH), List.of("forward"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED forward() > FP32/STRICT > B=2 H=3 N=64 D=17 E=9 BNHD"))
                .allSatisfy(l -> assertThat(l).contains(" S0").doesNotContain("B=1 "));
    }

    @Test
    void aBackwardIgnoringTheScaleIsCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.BACKWARD_IGNORES_SCALE), List.of("backward"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED backward() > FP32/STRICT > B=2 H=3 N=65 D=17 E=9 BHND scale=0.5000"))
                .noneSatisfy(l -> assertThat(l).startsWith("FAILED backward() > FP32/STRICT > B=1 H=3 N=1 D=3 E=5 BNHD scale=1.000"));
    }

    @Test
    void keptStatesThatServeOnlyOneBackwardAreCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.KEPT_STATES_READ_ONCE), List.of("savedForward"));
        assertThat(r.result().failed()).as(r.output()).isPositive();
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .allSatisfy(l -> assertThat(l).contains("(a second backward from the same kept states): dq"));
    }

    @Test
    void writingPastTheEndOfAnOutputIsCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.WRITES_PAST_OUTPUT_END), List.of("outputsInCallerMemory"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED ")).singleElement(InstanceOfAssertFactories.STRING)
                .contains("the call wrote byte 1 past the end of its output");
    }

    @Test
    void writingPastTheEndOfAPackedOutputIsCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.WRITES_PAST_PACKED_OUTPUT_END),
                List.of("outputsInCallerMemory", "packed"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED ")).singleElement(InstanceOfAssertFactories.STRING)
                .contains("packed outputs and a pool in caller memory")
                .contains("the call wrote byte 1 past the end of its packed output");
    }

    @Test
    void aBugOnlyWhereThreadsOutnumberSequencesIsCaughtWhateverTheHost() {
        // The other families' cases have more sequences than small hosts have cores: only the
        // instance the kit opens with many threads is sure to take the faulty path.
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.WRONG_WHEN_THREADS_OUTNUMBER_SEQUENCES),
                List.of("manyThreads"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED manyThreads() > forward > FP32/STRICT > B=1 H=1 "))
                .anySatisfy(l -> assertThat(l).startsWith("FAILED manyThreads() > packed > FP32/STRICT > "));
    }

    @Test
    void aDecayGradientMissingFromStatesKeptWithoutItIsCaught() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.NO_DECAY_GRADIENT_FROM_STATES_KEPT_WITHOUT_IT),
                List.of("savedForward", "backward"));
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED "))
                .isNotEmpty()
                .allSatisfy(l -> assertThat(l).startsWith("FAILED savedForward() > ").contains(" learnable")
                        .contains("(a decay gradient from states kept without a learnable decay): dDecay"));
    }

    @Test
    void callsSharingOneWorkspaceAreCaughtWhenTheyOverlap() {
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.SHARED_WORKSPACE), List.of("concurrentCalls", "forward",
                "decode", "packed", "packedBackward"));
        // One call at a time the workspace is harmless (the packed backward stages dq through it
        // too): only overlapping calls show the corruption.
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED ")).singleElement(InstanceOfAssertFactories.STRING)
                .startsWith("FAILED concurrentCalls() > FP32/STRICT > 4 threads x 3 calls on one instance: concurrent calls ")
                .containsPattern(" thread \\d, call \\d: ").contains("-Dla2.seed=");
        assertThat(r.result().passed()).isGreaterThan(30);
    }

    @Test
    void storageTypesOtherThanTheProviderReportsAreCaught() {
        // The bug is in what the instance reports: the check of it, and cases whose numbers pass as
        // the storage is more precise than promised (the other families are aCorrectBackendPassesEveryCase's).
        Run r = run(FaultyProvider.NAME, bug(FaultyProvider.Bug.STORES_FP64_NOT_FP32), List.of("backendOpens", "forward"));
        assertThat(r.result().failed()).as(r.output()).isEqualTo(1);
        assertThat(r.lines()).filteredOn(l -> l.startsWith("FAILED ")).singleElement(InstanceOfAssertFactories.STRING)
                .startsWith("FAILED backendOpens(): backend 'faulty' stores [FP64]").contains("provider reports [FP32]");
        assertThat(r.result().passed()).isPositive();
        assertThat(r.result().conforms()).isFalse();
    }

    @Test
    void anUnavailableBackendIsSkippedWithItsReason() {
        Run r = run(UnavailableProvider.NAME, BackendOptions.defaults());
        assertThat(r.result()).isEqualTo(new ConformanceRunner.Result(0, 0, 1));
        assertThat(r.result().conforms()).isFalse();
        assertThat(r.output()).contains("SKIPPED ").contains(UnavailableProvider.REASON);
        assertThat(r.lines().getLast()).isEqualTo("0 passed, 0 failed, 1 skipped");
    }

    @Test
    void aMissingBackendIsSkippedListingWhatWasFound() {
        Run r = run("no-such-backend", BackendOptions.defaults());
        assertThat(r.result()).isEqualTo(new ConformanceRunner.Result(0, 0, 1));
        assertThat(r.output()).contains("no provider of that name").contains("reference");
    }

    @Test
    void argumentsAreChecked() {
        PrintWriter out = new PrintWriter(new StringWriter());
        assertThatThrownBy(() -> ConformanceRunner.run(" ", BackendOptions.defaults(), out))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("backendName:");
        assertThatThrownBy(() -> ConformanceRunner.run("reference", null, out))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("options:");
        assertThatThrownBy(() -> ConformanceRunner.run("reference", BackendOptions.defaults(), null))
                .isInstanceOf(La2ArgumentException.class).hasMessageStartingWith("out:");
    }
}
