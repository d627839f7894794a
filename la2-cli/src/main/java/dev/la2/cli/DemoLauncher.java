package dev.la2.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code la2 demo}: loads la2-demo's command from the {@link Nd4jKit} when it runs and hands it every
 * argument, so that the launcher's class path needs neither the demo nor ND4J.
 */
@Command(name = "demo", description = {"Train a small character-level language model with la2's DL4J layer, then time it"
        + " against DL4J's softmax attention (needs the ND4J kit; 'la2 demo --help' lists its options)."})
final class DemoLauncher implements Callable<Integer> {

    /** Written by another module, found in the kit by name. */
    static final String DEMO_COMMAND = "dev.la2.demo.DemoCommand";
    /** The demo's option that turns its progress bar off. */
    static final String NO_PROGRESS = "--no-progress";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Unmatched
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        Nd4jKit kit = Nd4jKit.get();
        if (!kit.present()) {
            throw new CliException("the demo needs ND4J: " + kit.absentReason());
        }
        return kit.call(() -> {
            Object command;
            try {
                command = Class.forName(DEMO_COMMAND, true, kit.loader()).getDeclaredConstructor().newInstance();
            } catch (ClassNotFoundException e) {
                throw new CliException("the demo (" + DEMO_COMMAND + ") is not in the ND4J kit");
            }
            CommandLine demo = La2Cli.configure(new CommandLine(command));
            demo.setCommandName(spec.qualifiedName());
            demo.setOut(spec.commandLine().getOut());
            demo.setErr(spec.commandLine().getErr());
            return demo.execute(demoArguments(args, Progress.interactive()).toArray(String[]::new));
        });
    }

    /** The demo draws its bar unless told not to: where no one watches, it would fill logs with redraws. */
    static List<String> demoArguments(List<String> given, boolean interactive) {
        List<String> all = new ArrayList<>(given);
        if (!interactive && !all.contains(NO_PROGRESS)) {
            all.add(NO_PROGRESS);
        }
        return all;
    }
}
