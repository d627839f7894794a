package dev.la2.cli;

import dev.la2.api.BackendUnavailableException;
import dev.la2.api.La2ArgumentException;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code la2} command: {@code backends}, {@code run}, {@code check}, {@code bench} and {@code demo}. */
@Command(name = "la2", mixinStandardHelpOptions = true, versionProvider = La2Cli.Version.class,
        description = "Lightning Attention-2 for the JVM: causal linear attention with per-head decay.",
        footer = {"", "In a clone of the repository the ./la2 script also takes 'test': every test of the project "
                + "(./mvnw -B -T 1C verify with a JDK 25)."},
        subcommands = {BackendsCommand.class, RunCommand.class, CheckCommand.class, BenchCommand.class,
                DemoLauncher.class, CommandLine.HelpCommand.class})
public final class La2Cli implements Runnable {

    /** User errors: bad arguments, files or sizes, an unavailable backend. */
    public static final int EXIT_USAGE = 2;
    /** A check found failures, or the command broke. */
    public static final int EXIT_FAILURE = 1;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true, Charset.defaultCharset());
        PrintWriter err = new PrintWriter(System.err, true, Charset.defaultCharset());
        int code;
        try {
            code = execute(out, err, args);
        } catch (LinkageError e) {
            // picocli hands Errors through; a missing jar is the usual cause, so say that plainly.
            err.println("la2: broken class path: " + e + " (rebuild with ./la2, or check the jars given to java -cp)");
            code = EXIT_FAILURE;
        }
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs one command line with the given streams and returns its exit code (for tests and embedding). */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine();
        cl.setOut(out);
        cl.setErr(err);
        return cl.execute(args);
    }

    static CommandLine commandLine() {
        return configure(new CommandLine(new La2Cli()));
    }

    /** la2's parsing and error reporting, for its own command line and for commands it loads (the demo). */
    static CommandLine configure(CommandLine cl) {
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler(La2Cli::handle);
        cl.setParameterExceptionHandler(La2Cli::handleParameters);
        return cl;
    }

    /**
     * A command line that does not parse (an unknown option, a value of the wrong type, a missing
     * required option): one line naming the option, as every other usage error, and where the
     * options are listed, instead of picocli's full usage text.
     */
    private static int handleParameters(CommandLine.ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        String name = cmd.getCommandSpec().qualifiedName();
        String hint = e instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()
                ? "; did you mean " + String.join(" or ", u.getSuggestions()) + "?" : "";
        err.println(name + ": " + oneLine(e.getMessage()) + hint + " ('" + name + " --help' lists the options)");
        err.flush();
        return EXIT_USAGE;
    }

    private static int handle(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        String name = cmd.getCommandSpec().qualifiedName();
        PrintWriter err = cmd.getErr();
        if (e instanceof CliException || e instanceof La2ArgumentException || e instanceof NpyFormatException
                || e instanceof BackendUnavailableException) {
            // The library's messages start "la2: " for programs that print them bare; the line already says who.
            String source = e instanceof BackendUnavailableException ? backendSource(cmd.getParseResult()) : "";
            err.println(name + ": " + source + oneLine(e.getMessage()).replaceFirst("^la2: ", ""));
            err.flush();
            return EXIT_USAGE;
        }
        err.println(name + ": failed: " + oneLine(String.valueOf(e)));
        if (Boolean.getBoolean("la2.debug")) {
            e.printStackTrace(err);
        } else {
            err.println("  (run with JAVA_OPTS=-Dla2.debug=true for the stack trace)");
        }
        err.flush();
        return EXIT_FAILURE;
    }

    /** Where the backend that could not be opened was named: --backend, the property or the environment. */
    private static String backendSource(CommandLine.ParseResult parsed) {
        if (parsed != null && parsed.hasMatchedOption("--backend")) {
            return "--backend " + parsed.matchedOptionValue("--backend", "") + ": ";
        }
        String requested = BackendSelection.requestSource();
        return requested == null ? "" : requested + ": ";
    }

    /** Collapses a multi-line message (provider lists, for instance) into one line. */
    static String oneLine(String message) {
        if (message == null) {
            return "(no message)";
        }
        // a line ending in a colon introduces the lines after it ("providers found:")
        return message.strip().replaceAll(":\\s*\\R\\s*", ": ").replaceAll("\\s*\\R\\s*", "; ");
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = La2Cli.class.getPackage().getImplementationVersion();
            return new String[] {"la2 " + (v == null ? "(development build)" : v),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
