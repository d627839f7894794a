package dev.la2.cli;

import java.io.PrintStream;
import java.time.Duration;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A redrawn progress bar on stderr; only created by {@link Progress#create} when the library is
 * present and stderr is a terminal. Results go to stdout on the same screen, so before each one
 * the bar is closed and its line erased, and a new bar picks up where it left off.
 */
final class TerminalProgress implements Progress {
    private final String task;
    private final PrintStream err = System.err;
    private ProgressBar bar;

    TerminalProgress(String task) {
        this.task = task;
    }

    @Override
    public void update(String stage, long done, long total) {
        if (bar == null) {
            bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).startsFrom(done - 1, Duration.ZERO)
                    .setStyle(ProgressBarStyle.ASCII).setConsumer(new ConsoleProgressBarConsumer(err))
                    .setUpdateIntervalMillis(200).continuousUpdate().build();
        }
        bar.maxHint(total);
        bar.stepTo(done);
        bar.setExtraMessage(stage);
    }

    @Override
    public void clearLine() {
        if (bar != null) {
            bar.close();
            bar = null;
            // close() leaves the final bar and a newline: go up one line and erase it (ANSI).
            err.print("\033[1A\033[2K\r");
            err.flush();
        }
    }

    @Override
    public void close() {
        clearLine();
    }
}
