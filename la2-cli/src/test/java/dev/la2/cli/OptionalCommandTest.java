package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class OptionalCommandTest {

    /** Stands in for dev.la2.demo.DemoCommand, which lives in a module la2-cli does not depend on. */
    @CommandLine.Command(name = "fake-demo", description = "A command found by name.")
    public static final class FakeDemo implements Callable<Integer> {
        @CommandLine.Option(names = "--answer", defaultValue = "42")
        int answer;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            spec.commandLine().getOut().println("answer " + answer);
            return 0;
        }
    }

    @Test
    void aCommandOnTheClassPathBecomesASubcommand() {
        CommandLine cl = La2Cli.commandLine();
        assertThat(La2Cli.addOptional(cl, FakeDemo.class.getName())).isTrue();
        java.io.StringWriter out = new java.io.StringWriter();
        cl.setOut(new java.io.PrintWriter(out, true));
        assertThat(cl.execute("fake-demo", "--answer", "7")).isZero();
        assertThat(out.toString()).isEqualTo("answer 7" + System.lineSeparator());
    }

    @Test
    void anAbsentCommandIsLeftOutQuietly() {
        CommandLine cl = La2Cli.commandLine();
        assertThat(La2Cli.addOptional(cl, "dev.la2.nowhere.NoCommand")).isFalse();
        assertThat(cl.getSubcommands()).containsKeys("backends", "run", "check", "bench").doesNotContainKey("fake-demo");
    }
}
