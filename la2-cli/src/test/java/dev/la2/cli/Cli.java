package dev.la2.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs the la2 command in-process and captures what it prints. */
record Cli(int code, String out, String err) {

    static Cli run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code;
        try (PrintWriter o = new PrintWriter(out); PrintWriter e = new PrintWriter(err)) {
            code = La2Cli.execute(o, e, args);
        }
        return new Cli(code, out.toString(), err.toString());
    }

    /** Lines of stderr, without a trailing empty one. */
    String[] errLines() {
        return err.isEmpty() ? new String[0] : err.split("\\R");
    }
}
