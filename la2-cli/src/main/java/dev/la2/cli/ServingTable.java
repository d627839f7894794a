package dev.la2.cli;

import static dev.la2.cli.BenchCommand.Printer.fixed;
import static dev.la2.cli.BenchCommand.Printer.lower;
import static dev.la2.cli.BenchCommand.Printer.ms;
import static dev.la2.cli.BenchCommand.Printer.seconds;

import dev.la2.bench.BenchConfig;
import dev.la2.bench.BenchContext;
import dev.la2.bench.ServingConfig;
import dev.la2.bench.ServingMode;
import dev.la2.bench.ServingRow;
import java.io.PrintWriter;
import java.util.Locale;

/** {@code la2 bench}'s serving modes on the terminal: what is compared, then the one row. */
final class ServingTable extends BenchCommand.Printer {
    private static final String FORMAT = "%-14s %6s %9s %10s %21s %9s %10s%n";
    private final ServingConfig config;

    ServingTable(PrintWriter out, PrintWriter err, Progress progress, ServingConfig config) {
        super(out, err, progress, config.base());
        this.config = config;
    }

    BenchContext context() {
        return context;
    }

    @Override
    public void context(BenchContext c) {
        context = c;
        BenchConfig b = config.base();
        ServingMode mode = config.mode();
        out.printf(Locale.ROOT, "la2 bench: backend %s, %s %s, %s, S=%d H=%d D=%d E=%d, warm-up %d calls and %s,"
                        + " repeats %d%n",
                c.backend(), lower(b.dtype()), lower(b.precision()), mode.label()
                        + (mode.backward() ? " (" + b.call().statesNote() + ")" : ""),
                config.sequences(), b.heads(), b.keyDim(), b.valueDim(), b.warmup(), warmUpSeconds(), b.repeats());
        if (mode.packed()) {
            out.println("  packed: S sequences of lengths uniform in 1.." + config.maxLength() + " (seed "
                    + ServingConfig.LAYOUT_SEED + "), T tokens in all, token-major [T, H, *], zero initial states");
            out.println("  dense: an equal-length batch of B = S sequences of N = round(T/S) tokens, layout bnhd");
            out.println("  floor: the packed call's |Q|+|K|+|V|+|O|" + (mode.backward() ? " + |Q|+|K|+|V|+|dO|+|dQ|+|dK|+|dV|" : "")
                    + " at the copy bandwidth; " + c.bandwidth());
        } else {
            out.println("  by slot: one token for each of S sequences against a pool of S slots, slots permuted (seed "
                    + ServingConfig.LAYOUT_SEED + ")");
            out.println("  dense: the dense decode of the same S sequences, states [S, H, D, E]");
            out.println("  floor: the states read and written plus q, k, v, o at the copy bandwidth; " + c.bandwidth());
        }
        out.println("  times: median (min-max) of each call, timed in blocks ordered serving, dense, dense, serving"
                + " on the backend's clock (GPUs: calls queued back to back)");
        out.println("  ms/Mtok: ms per million tokens (all H heads of a token count once); ratio: serving ms/Mtok"
                + " over dense ms/Mtok");
        out.println();
        out.printf(Locale.ROOT, FORMAT, "call", "B|S", "tokens", "median ms", "min-max ms", "ms/Mtok", "floor ms");
        out.flush();
    }

    /** The serving call warms up first, as a sweep's first size: 5 s (dense: 1 s). */
    @Override
    String warmUpSeconds() {
        BenchConfig b = config.base();
        return seconds(b.warmupSeconds(true)) + " (dense: " + seconds(b.warmupSeconds(false)) + ")";
    }

    @Override
    public void serving(ServingRow r) {
        clearProgress();
        out.printf(Locale.ROOT, FORMAT, config.mode().packed() ? "packed" : "by slot", r.sequences(), r.tokens(),
                ms(r.ms().median()), ms(r.ms().min()) + "-" + ms(r.ms().max()), fixed(r.msPerMillionTokens(), 2),
                ms(r.floorMs()));
        out.printf(Locale.ROOT, FORMAT, config.mode().packed() ? "equal-length" : "dense decode", r.denseBatch(),
                (long) r.denseBatch() * r.denseTokens(), ms(r.denseMs().median()),
                ms(r.denseMs().min()) + "-" + ms(r.denseMs().max()), fixed(r.denseMsPerMillionTokens(), 2), "");
        out.printf(Locale.ROOT, "ratio (per token, %s over %s): %s%n", config.mode().packed() ? "packed" : "by slot",
                config.mode().packed() ? "equal-length" : "dense decode", fixed(r.perTokenRatio(), 3));
        out.flush();
    }
}
