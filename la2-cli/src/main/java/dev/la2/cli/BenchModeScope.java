package dev.la2.cli;

import dev.la2.cli.BenchCommand.Mode;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import picocli.CommandLine.ParseResult;

/**
 * The {@code la2 bench} options that only some modes use. Given with another mode, an option is
 * refused, naming the modes it applies to, rather than silently left out of a measurement whose
 * header and JSON would then not say what was timed.
 */
final class BenchModeScope {

    private record Rule(String option, Set<Mode> modes) {
    }

    private static final Set<Mode> SWEEPS = EnumSet.of(Mode.FWD, Mode.FWDBWD);

    private static final List<Rule> RULES = List.of(
            new Rule("--n", SWEEPS), new Rule("--b", SWEEPS), new Rule("--layout", SWEEPS),
            new Rule("--baseline", SWEEPS), new Rule("--gemm-size", SWEEPS), new Rule("--sgemm-gflops", SWEEPS),
            new Rule("--learn-decay", SWEEPS), new Rule("--final-state", SWEEPS),
            new Rule("--sequences", EnumSet.complementOf(EnumSet.copyOf(SWEEPS))),
            new Rule("--max-len", EnumSet.of(Mode.PACKED_FWD, Mode.PACKED_FWDBWD)),
            // A decode step takes no options: its arithmetic is the storage type's.
            new Rule("--precision", EnumSet.complementOf(EnumSet.of(Mode.SLOT_DECODE))));

    /** The modes with a backward pass, where the forward may keep its block states for it. */
    private static final Set<Mode> BACKWARD = EnumSet.of(Mode.FWDBWD, Mode.PACKED_FWDBWD);

    private BenchModeScope() {
    }

    /**
     * @param keepStates {@code --[no-]keep-states}: only the non-default {@code --no-keep-states}
     *                   is refused without a backward, since {@code --keep-states} changes nothing
     *                   in any mode (scripts pass it to every mode)
     * @throws CliException naming the first option given that {@code mode} does not use
     */
    static void check(ParseResult given, Mode mode, boolean keepStates) {
        for (Rule rule : RULES) {
            if (!rule.modes().contains(mode) && given.hasMatchedOption(rule.option())) {
                throw notFor(rule.option().equals("--baseline") ? "--[no-]baseline" : rule.option(), rule.modes(), mode);
            }
        }
        if (!keepStates && !BACKWARD.contains(mode)) {
            throw notFor("--no-keep-states", BACKWARD, mode);
        }
    }

    private static CliException notFor(String option, Set<Mode> modes, Mode mode) {
        List<String> labels = modes.stream().map(Mode::label).toList();
        String applies = labels.size() == 1 ? labels.get(0)
                : String.join(", ", labels.subList(0, labels.size() - 1)) + " and " + labels.getLast();
        return new CliException(option + ": applies to --mode " + applies + ", not " + mode.label());
    }
}
