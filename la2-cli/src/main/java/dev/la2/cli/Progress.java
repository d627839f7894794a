package dev.la2.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Progress of a long command on stderr: a redrawn bar (me.tongfei:progressbar) on a terminal,
 * otherwise one plain line per stage, so logs stay readable and class paths without the
 * progressbar jar still work.
 */
interface Progress extends AutoCloseable {

    void update(String stage, long done, long total);

    /** Takes the progress display off the screen before other output is printed; it returns on the next update. */
    default void clearLine() {
    }

    @Override
    void close();

    static Progress create(PrintWriter err, String task, boolean terminal) {
        if (terminal) {
            try {
                Class.forName("me.tongfei.progressbar.ProgressBar", false, Progress.class.getClassLoader());
                // Loaded by name: this interface must not link against the library when it is absent.
                return (Progress) Class.forName("dev.la2.cli.TerminalProgress")
                        .getDeclaredConstructor(String.class).newInstance(task);
            } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
                // fall through to plain lines
            }
        }
        return new Lines(err, task);
    }

    /**
     * Whether a person is watching: the JVM's console is a terminal (JDK 22+ Console.isTerminal,
     * which looks at stdin and stdout), stderr, where the bar is drawn, is one too, and TERM can
     * draw. Piped or logged runs ({@code 2>log} included) get plain lines.
     */
    static boolean interactive() {
        java.io.Console console = System.console();
        return interactive(console != null && console.isTerminal(), Path.of("/proc/self/fd/2"), System.getenv("TERM"));
    }

    /**
     * {@link #interactive()} from its parts: {@code stderrLink} names the file stderr is open on
     * (Linux's /proc/self/fd/2); where it cannot be read (no /proc), the console's answer stands.
     */
    static boolean interactive(boolean consoleIsTerminal, Path stderrLink, String term) {
        if (!consoleIsTerminal || term == null || term.isBlank() || "dumb".equals(term)) {
            return false;
        }
        try {
            String target = Files.readSymbolicLink(stderrLink).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return true;
        }
    }

    /** One line whenever the stage changes. */
    final class Lines implements Progress {
        private final PrintWriter err;
        private final String task;
        private String lastStage;

        Lines(PrintWriter err, String task) {
            this.err = err;
            this.task = task;
        }

        @Override
        public void update(String stage, long done, long total) {
            if (!stage.equals(lastStage)) {
                lastStage = stage;
                err.println(task + ": " + stage + " (" + done + "/" + total + ")");
                err.flush();
            }
        }

        @Override
        public void close() {
        }
    }
}
