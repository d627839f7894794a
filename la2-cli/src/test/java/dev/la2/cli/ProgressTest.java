package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where {@code la2 bench} draws its progress bar: only where stderr, which it is drawn on, is a terminal. */
class ProgressTest {

    @TempDir
    Path dir;

    @Test
    void stderrRedirectedToAFileGetsPlainLinesEvenFromATerminal() throws IOException {
        Path log = Files.writeString(dir.resolve("bench.log"), "");
        Path fd2 = Files.createSymbolicLink(dir.resolve("fd2-file"), log);
        assertThat(Progress.interactive(true, fd2, "xterm")).isFalse();
        Path pipe = Files.createSymbolicLink(dir.resolve("fd2-pipe"), Path.of("pipe:[4242]"));
        assertThat(Progress.interactive(true, pipe, "xterm")).isFalse();
    }

    @Test
    void aTerminalOnStderrGetsTheBar() throws IOException {
        Path pts = Files.createSymbolicLink(dir.resolve("fd2-pts"), Path.of("/dev/pts/3"));
        assertThat(Progress.interactive(true, pts, "xterm-256color")).isTrue();
        // Without /proc the console's answer stands.
        assertThat(Progress.interactive(true, dir.resolve("no-such-link"), "xterm")).isTrue();
    }

    @Test
    void noConsoleOrADumbTerminalGetsPlainLines() throws IOException {
        Path pts = Files.createSymbolicLink(dir.resolve("fd2-pts"), Path.of("/dev/pts/3"));
        assertThat(Progress.interactive(false, pts, "xterm")).isFalse();
        assertThat(Progress.interactive(true, pts, "dumb")).isFalse();
        assertThat(Progress.interactive(true, pts, null)).isFalse();
    }
}
