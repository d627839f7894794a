package dev.la2.cli;

import dev.la2.api.BackendInfo;
import dev.la2.api.Backends;
import dev.la2.api.La2ArgumentException;
import dev.la2.conformance.ConformanceRunner;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(name = "check", mixinStandardHelpOptions = true,
        description = {"Run the conformance kit (la2-tests) on a backend against the float64 reference.",
                "Exit code 0 if nothing failed (and something passed), 1 otherwise, 2 if the backend is unavailable."})
final class CheckCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    BackendSelection selection = new BackendSelection();

    @CommandLine.Option(names = "--family", split = ",", paramLabel = "NAME",
            description = "Run only these families of the kit (comma-separated, e.g. forward,misuse); default: all of them.")
    List<String> families = List.of();

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        // Named as LightningAttention.open takes names: in any letter case, around spaces.
        String name = selection.backend != null ? selection.backend : Backends.requestedName();
        String source = selection.backend != null ? "--backend " + name : BackendSelection.requestSource();
        List<BackendInfo> infos = Backends.discover();
        if (name == null) {
            name = infos.stream().filter(i -> i.availability().isAvailable()).map(BackendInfo::name).findFirst()
                    .orElseThrow(() -> new CliException("no available backend; see 'la2 backends'"));
        }
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        BackendInfo info = infos.stream().filter(i -> i.name().equals(wanted)).findFirst()
                .orElseThrow(() -> new CliException(source + ": no such backend; found "
                        + infos.stream().map(BackendInfo::name).toList()));
        if (!info.availability().isAvailable()) {
            throw new CliException(source + ": " + info.availability());
        }
        // The runner reports each failure and skip, and prints the summary line last; it refuses a
        // family the kit does not have before running anything.
        ConformanceRunner.Result result;
        try {
            result = ConformanceRunner.run(wanted, selection.options(), out, families);
        } catch (La2ArgumentException e) {
            if (!e.argument().equals("families")) {
                throw e;
            }
            throw new CliException("--family: got " + e.got() + "; expected " + e.expected());
        }
        out.flush();
        if (result.failed() == 0 && result.passed() == 0) {
            spec.commandLine().getErr().println("la2 check: nothing passed, so nothing was verified");
            return La2Cli.EXIT_FAILURE;
        }
        return result.failed() == 0 ? 0 : La2Cli.EXIT_FAILURE;
    }
}
