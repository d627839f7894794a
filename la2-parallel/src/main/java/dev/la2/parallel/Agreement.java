package dev.la2.parallel;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import java.util.List;
import java.util.Locale;
import java.util.function.DoubleFunction;

/**
 * Before any work, every rank tells every other one what it was called with, in one small
 * all-gather, and every rank checks the same gathered facts: the call kind, the communicator's
 * rank and size, B, H, D, E, the dtype, the options (all but returnFinalState, which only the last
 * rank reads, and saveForBackward, which does not apply) must agree, and a rank whose own arguments
 * were unusable ({@link PieceCheck}) is named. Once they do, a second all-gather of H values brings
 * every rank's decay rates, which must be equal head by head. Since every rank sees the same facts,
 * every rank throws the same {@link La2ArgumentException} (the faulty rank its own), and no rank is
 * left waiting in a later collective. What comes back is where each piece lies.
 */
final class Agreement {
    enum Call { FORWARD, BACKWARD }

    /** Arguments a rank's own check can name, by index in the gathered facts. */
    private static final List<String> ARGUMENTS =
            List.of("options", "inputs", "q", "k", "v", "decay", "initialState", "dOutput", "dFinalState", "forward",
                    "scale");

    private static final int CALL = 0, RANK = 1, SIZE = 2, PROBLEM = 3, TOKENS = 4, BATCH = 5, HEADS = 6,
            KEY_DIM = 7, VALUE_DIM = 8, DTYPE = 9, LAYOUT = 10, PRECISION = 11, SCALE = 12, LEARNABLE = 13,
            CHECK_FINITE = 14, FIELDS = 15;

    private Agreement() {
    }

    /**
     * @param shape   this rank's piece, or null when {@code problem} is set
     * @param decay   this rank's decay rates, or null when {@code problem} is set
     * @param problem what this rank's own check found, or null
     */
    static Pieces reach(Communicator comm, Call call, PieceShape shape, AttentionOptions options, double[] decay,
                        La2ArgumentException problem) {
        double[] facts = new double[FIELDS];
        facts[CALL] = call.ordinal();
        facts[RANK] = comm.rank();
        facts[SIZE] = comm.size();
        facts[PROBLEM] = problem == null ? -1 : ARGUMENTS.indexOf(problem.argument());
        if (problem == null) {
            facts[TOKENS] = shape.tokens();
            facts[BATCH] = shape.batch();
            facts[HEADS] = shape.heads();
            facts[KEY_DIM] = shape.keyDim();
            facts[VALUE_DIM] = shape.valueDim();
            facts[DTYPE] = shape.dtype().ordinal();
            facts[LAYOUT] = options.layout().ordinal();
            facts[PRECISION] = options.precision().ordinal();
            facts[SCALE] = options.scale();
            facts[LEARNABLE] = options.learnableDecay() ? 1 : 0;
            facts[CHECK_FINITE] = options.checkFinite() ? 1 : 0;
        }
        double[] all = comm.allGather(facts);
        int size = comm.size();
        if (all.length != size * FIELDS) {
            throw new La2ArgumentException("communicator", all.length + " gathered values for " + size + " ranks",
                    FIELDS + " per rank: a communicator whose size() is the number of ranks taking part");
        }
        if (problem != null) {
            // A faulty rank names its own argument, even when an earlier rank is faulty too.
            throw problem;
        }
        for (int r = 0; r < size; r++) {
            if (all[r * FIELDS + PROBLEM] != -1) {
                String name = ARGUMENTS.get((int) all[r * FIELDS + PROBLEM]);
                throw new La2ArgumentException(name, "an unusable " + name + " on rank " + r,
                        "usable arguments on every rank (rank " + r + "'s exception names the problem)");
            }
        }
        for (int r = 0; r < size; r++) {
            agree(all, r, CALL, "call", v -> Call.values()[(int) v].toString().toLowerCase(Locale.ROOT),
                    "the same call on every rank");
            if (all[r * FIELDS + RANK] != r || all[r * FIELDS + SIZE] != size) {
                throw new La2ArgumentException("communicator", "rank " + (long) all[r * FIELDS + RANK] + " of "
                        + (long) all[r * FIELDS + SIZE] + " in position " + r + " of " + size + " gathered ranks",
                        "rank r of " + size + " in position r: ranks 0 to size-1, each once, all with the same size");
            }
            agree(all, r, BATCH, "q", v -> "B = " + (long) v, "every rank's piece of the same B sequences");
            agree(all, r, HEADS, "q", v -> "H = " + (long) v, "every rank's piece of the same H heads");
            agree(all, r, KEY_DIM, "q", v -> "D = " + (long) v, "the same key width on every rank");
            agree(all, r, VALUE_DIM, "v", v -> "E = " + (long) v, "the same value width on every rank");
            agree(all, r, DTYPE, "q", v -> "dtype " + DType.values()[(int) v], "the same dtype on every rank");
            agree(all, r, LAYOUT, "options", v -> "layout " + Layout.values()[(int) v], "the same options on every rank");
            agree(all, r, PRECISION, "options", v -> "precision " + Precision.values()[(int) v], "the same options on every rank");
            agree(all, r, SCALE, "options", v -> "scale " + v, "the same options on every rank");
            agree(all, r, LEARNABLE, "options", v -> "learnableDecay " + (v != 0), "the same options on every rank");
            agree(all, r, CHECK_FINITE, "options", v -> "checkFinite " + (v != 0), "the same options on every rank");
        }
        agreeOnRates(comm, decay, shape.dtype().stateType());
        long[] lengths = new long[size];
        for (int r = 0; r < size; r++) {
            lengths[r] = (long) all[r * FIELDS + TOKENS];
        }
        return Pieces.of(lengths);
    }

    /**
     * Every rank's H rates, gathered, equal rank 0's head by head, or every rank throws naming the
     * first head that differs. -0.0 and 0.0 are the same rate (lambda = 1).
     */
    private static void agreeOnRates(Communicator comm, double[] decay, DType stored) {
        int heads = decay.length;
        double[] all = comm.allGather(decay);
        for (int r = 1; r < comm.size(); r++) {
            int h = PieceCheck.firstDifferentRate(all, all, r * heads, heads);
            if (h >= 0) {
                throw new La2ArgumentException("decay", "rate " + PieceCheck.rate(all[r * heads + h], stored) + " for head "
                        + h + " on rank " + r, PieceCheck.rate(all[h], stored) + " as on rank 0: the same decay rates on every rank");
            }
        }
    }

    /** Rank r's fact equals rank 0's, or every rank throws naming {@code argument}. */
    private static void agree(double[] all, int r, int field, String argument,
                              DoubleFunction<String> show, String expected) {
        double first = all[field];
        double mine = all[r * FIELDS + field];
        if (Double.compare(first, mine) != 0) {
            throw new La2ArgumentException(argument, show.apply(mine) + " on rank " + r,
                    show.apply(first) + " as on rank 0: " + expected);
        }
    }
}
