package dev.la2.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.la2.api.Backends;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class DemoCommandTest {

    @Test
    void aTinyRunLearnsSamplesAndWritesTheChart(@TempDir Path dir) throws Exception {
        Path chart = dir.resolve("sub/chart.png");
        DemoCommand demo = new DemoCommand();
        StringWriter text = new StringWriter();
        int exit = new CommandLine(demo).setOut(new PrintWriter(text)).execute(
                "--steps=20", "--minutes=2", "--seq-len=32", "--batch=8", "--d-model=16", "--heads=2", "--layers=1",
                "--lr=0.01", "--sample-length=40", "--bench-lengths=64,128", "--bench-d-model=16", "--bench-seconds=20",
                "--no-progress", "--chart=" + chart);
        System.out.println(text);
        assertThat(exit).isZero();
        DemoCommand.Report r = demo.lastReport();
        assertThat(r.checkpoints().get(0).step()).isZero();
        assertThat(r.checkpoints().get(r.checkpoints().size() - 1).step()).isEqualTo(20);
        double before = r.checkpoints().get(0).heldOutLoss();
        double after = r.checkpoints().get(r.checkpoints().size() - 1).heldOutLoss();
        assertThat(after).as("held-out loss after 20 steps vs before").isLessThan(before - 0.2);
        assertThat(r.unigramEntropy()).isBetween(2.0, 4.0);
        assertThat(r.sample()).startsWith("The whale ").hasSize("The whale ".length() + 40);
        assertThat(r.timings()).hasSize(2);
        assertThat(r.timings()).allSatisfy(row -> assertThat(row.lightningMicros()).isPositive());
        assertThat(Files.size(chart)).isGreaterThan(1000);
        byte[] head = Files.readAllBytes(chart);
        assertThat(new String(head, 1, 3, java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo("PNG");
        assertThat(text.toString()).contains("unigram entropy").contains("per-token time").contains(chart.toString());
    }

    /** The demo runs where its model's layers do: their configured backend, taken as a preference. */
    @Test
    void theBackendIsTheLayersPreferenceAsResolvedHere() {
        assumeTrue(Backends.requestedName() == null, "-D" + Backends.PROPERTY + " overrides every preference");
        boolean cuda = Backends.discover().stream()
                .anyMatch(b -> b.name().equals("cuda") && b.availability().isAvailable());
        ComputationGraph net = CharLanguageModel.build(new CharLanguageModel.Size(12, 8, 2, 1), 0.01, "cuda", 1);
        assertThat(CharLanguageModel.backendName(net)).isEqualTo(cuda ? "cuda" : "cpu");
    }

    @Test
    void badOptionsAreNamed() {
        StringWriter err = new StringWriter();
        int exit = new CommandLine(new DemoCommand()).setErr(new PrintWriter(err)).execute("--d-model=10", "--heads=4",
                "--no-progress");
        assertThat(exit).isEqualTo(2);
        assertThat(err.toString()).contains("--d-model: got 10; expected a multiple of --heads=4");
        StringWriter err2 = new StringWriter();
        assertThat(new CommandLine(new DemoCommand()).setErr(new PrintWriter(err2)).execute("--prompt=\u00e9t\u00e9",
                "--no-progress")).isEqualTo(2);
        assertThat(err2.toString()).contains("--prompt");
    }

    /** A chart that could not be written is refused before the model trains, not after. */
    @Test
    void anUnwritableChartIsRefusedBeforeAnyWork(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("plain.txt"), "x");
        for (Path chart : new Path[] {file.resolve("chart.png"), dir}) {
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            int exit = new CommandLine(new DemoCommand()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                    .execute("--no-progress", "--chart=" + chart);
            assertThat(exit).as("exit with --chart=%s", chart).isEqualTo(2);
            assertThat(err.toString()).contains("--chart " + chart + ": cannot write the chart there");
            assertThat(out.toString()).as("nothing ran").isEmpty();
        }
        assertThat(Files.readString(file)).isEqualTo("x");
        try (var left = Files.list(dir)) {
            assertThat(left).as("no probe file left behind").containsExactly(file);
        }
    }
}
