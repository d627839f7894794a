package dev.la2.cli;

import dev.la2.api.BackendInfo;
import dev.la2.api.BackendUnavailableException;
import dev.la2.api.Backends;
import dev.la2.spi.Availability;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(name = "backends", mixinStandardHelpOptions = true,
        description = "List every backend provider found, whether it can run here and why, and the Vector API status.")
final class BackendsCommand implements Callable<Integer> {
    /** The backend that owns the Vector API probe (la2-backend-cpu, a run-time dependency). */
    private static final String CPU = "cpu";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        List<BackendInfo> infos = Backends.discover();
        if (infos.isEmpty()) {
            out.println("No backend providers found: put a backend jar such as la2-backend-cpu on the class path or the module path.");
        } else {
            TextTable table = new TextTable("BACKEND", "PRIORITY", "DTYPES", "STATUS", "DETAIL").alignRight(1);
            for (BackendInfo info : infos) {
                table.add(info.name(), String.valueOf(info.priority()), dtypes(info),
                        info.availability().isAvailable() ? "available" : "unavailable",
                        La2Cli.oneLine(detail(info.availability())));
            }
            table.print(out, "");
        }
        out.println();
        out.println("Default backend: " + defaultBackend());
        out.println("Vector API:      " + vectorApi(infos));
        out.println("ND4J baseline:   " + Nd4jKit.get().bench().unavailableReason().map(r -> "n/a (" + r + ")")
                .orElse("found (la2 bench compares with it)"));
        out.println("Java:            " + Runtime.version() + ", " + Runtime.getRuntime().availableProcessors()
                + " processors, " + System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        return 0;
    }

    /** What LightningAttention.open() would open, and why; or why it would fail. */
    private static String defaultBackend() {
        String requested = BackendSelection.requestSource();
        try {
            String chosen = Backends.choose(null, null);
            return chosen + (requested != null ? " (requested by " + requested + ")" : " (highest-priority available)");
        } catch (BackendUnavailableException e) {
            return "(none: " + (requested != null ? requested + " names no available backend"
                    : "no backend is available") + ")";
        }
    }

    private static String detail(Availability availability) {
        return switch (availability) {
            case Availability.Available a -> a.detail();
            case Availability.Unavailable u -> u.reason() + (u.hint().isEmpty() ? "" : " (hint: " + u.hint() + ")");
        };
    }

    /** What the cpu backend's probe found: the Vector API and its width, or why it computes scalar. */
    private static String vectorApi(List<BackendInfo> infos) {
        return infos.stream().filter(i -> i.name().equals(CPU)).findFirst()
                .map(i -> (i.availability().isAvailable() ? "" : "cpu backend unavailable: ")
                        + La2Cli.oneLine(detail(i.availability())))
                .orElse("not probed: the cpu backend (la2-backend-cpu) is not on the class path");
    }

    private static String dtypes(BackendInfo info) {
        if (info.dtypes().isEmpty()) {
            return "-";
        }
        return info.dtypes().stream().sorted().map(d -> d.name().toLowerCase(Locale.ROOT))
                .collect(Collectors.joining(","));
    }
}
