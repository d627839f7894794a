package dev.la2.parallel;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;

/**
 * What one rank can check of its own arguments before talking to the others (SPEC.md section 9:
 * misuse is refused on every rank before any work): presence, open tensors, ranks, shapes and
 * dtypes of the piece's tensors agreeing with each other and with the backend, the decay rates, the
 * scale, which rank may hold the sequence's initial state (rank 0) or the final state's gradient
 * (the last rank), and, when the options ask for it, finite values. Only that a tensor was made by
 * this very instance of the backend (not another of the same name) is left to the backend, when the
 * piece is computed. A problem is returned, not thrown: the rank first tells the others (see
 * {@link Agreement}).
 */
final class PieceCheck {
    private PieceCheck() {
    }

    static La2ArgumentException forward(LightningAttention la, AttentionInputs piece, AttentionOptions options, int rank) {
        La2ArgumentException problem = inputs(la, piece, options, rank);
        return problem != null || !options.checkFinite() ? problem : FiniteValues.inputs(piece, options.layout());
    }

    static La2ArgumentException backward(LightningAttention la, AttentionInputs piece, Tensor dOutput, Tensor dFinalState,
                                         AttentionOptions options, PieceForward forward, int rank, int size) {
        La2ArgumentException problem = inputs(la, piece, options, rank);
        if (problem != null) {
            return problem;
        }
        PieceShape s = PieceShape.of(piece, options.layout());
        if (dOutput == null || !dOutput.shape().equals(piece.v().shape()) || dOutput.dtype() != s.dtype()) {
            return new La2ArgumentException("dOutput", PieceShape.describe(dOutput),
                    "the dtype and shape of v, " + PieceShape.describe(piece.v()));
        }
        if (dFinalState != null && rank != size - 1) {
            return new La2ArgumentException("dFinalState", "a tensor on rank " + rank + " of " + size,
                    "null: only the last rank (" + (size - 1) + ") takes the gradient of the sequence's final state");
        }
        if (dFinalState != null && (!dFinalState.shape().equals(s.stateShape()) || dFinalState.dtype() != s.stateType())) {
            return new La2ArgumentException("dFinalState", PieceShape.describe(dFinalState), s.stateType() + " " + s.stateShape());
        }
        if (rank > 0 && (forward == null || forward.incomingState() == null)) {
            return new La2ArgumentException("forward", forward == null ? "null" : "a result without an incoming state",
                    "this rank's PieceForward from SequenceParallel.forward on the same piece");
        }
        Tensor incoming = rank > 0 ? forward.incomingState() : null;
        if (incoming != null && (!incoming.shape().equals(s.stateShape()) || incoming.dtype() != s.stateType()
                || incoming.isClosed())) {
            return new La2ArgumentException("forward", (incoming.isClosed() ? "a closed result" : "a result")
                    + " whose incoming state is " + PieceShape.describe(incoming),
                    "the open PieceForward of this piece, whose incoming state is " + s.stateType() + " " + s.stateShape());
        }
        problem = usable(la, incoming, "forward");
        problem = problem != null ? problem : usable(la, dOutput, "dOutput");
        problem = problem != null ? problem : usable(la, dFinalState, "dFinalState");
        if (problem != null || !options.checkFinite()) {
            return problem;
        }
        problem = FiniteValues.inputs(piece, options.layout());
        problem = problem != null ? problem : FiniteValues.sequence(dOutput, "dOutput", options.layout(), "e");
        return problem != null ? problem : FiniteValues.state(dFinalState, "dFinalState");
    }

    private static La2ArgumentException inputs(LightningAttention la, AttentionInputs piece, AttentionOptions options,
                                               int rank) {
        if (options == null) {
            return new La2ArgumentException("options", "null", "attention options");
        }
        if (piece == null) {
            return new La2ArgumentException("inputs", "null", "this rank's piece of q, k, v and the decay");
        }
        Layout layout = options.layout();
        for (String name : new String[] {"q", "k", "v"}) {
            Tensor t = tensor(piece, name);
            if (t == null || t.shape().rank() != 4) {
                return new La2ArgumentException(name, PieceShape.describe(t), "a tensor of shape " + layout.axes(name.equals("v") ? 'E' : 'D'));
            }
        }
        Shape q = piece.q().shape();
        if (!piece.k().shape().equals(q) || piece.k().dtype() != piece.q().dtype()) {
            return new La2ArgumentException("k", PieceShape.describe(piece.k()), "the dtype and shape of q, " + PieceShape.describe(piece.q()));
        }
        Shape v = piece.v().shape();
        if (layout.batch(v) != layout.batch(q) || layout.heads(v) != layout.heads(q) || layout.tokens(v) != layout.tokens(q)
                || piece.v().dtype() != piece.q().dtype()) {
            return new La2ArgumentException("v", PieceShape.describe(piece.v()),
                    "the dtype of q and its B, H and N (" + layout.axes('E') + "), q being " + PieceShape.describe(piece.q()));
        }
        if (!la.dtypes().contains(piece.q().dtype())) {
            return new La2ArgumentException("q", "dtype " + piece.q().dtype(),
                    "one of " + la.dtypes() + ", the dtypes of backend '" + la.backendName() + "'");
        }
        PieceShape s = PieceShape.of(piece, layout);
        if (piece.decay() == null || !piece.decay().shape().equals(Shape.of(s.heads())) || piece.decay().dtype() != s.stateType()) {
            return new La2ArgumentException("decay", PieceShape.describe(piece.decay()), s.stateType() + " [" + s.heads() + "]");
        }
        if (piece.initialState() != null && rank != 0) {
            return new La2ArgumentException("initialState", "a tensor on rank " + rank,
                    "null: only rank 0 takes the sequence's initial state");
        }
        if (piece.initialState() != null && (!piece.initialState().shape().equals(s.stateShape())
                || piece.initialState().dtype() != s.stateType())) {
            return new La2ArgumentException("initialState", PieceShape.describe(piece.initialState()),
                    s.stateType() + " " + s.stateShape());
        }
        for (String name : new String[] {"q", "k", "v", "decay", "initialState"}) {
            La2ArgumentException problem = usable(la, tensor(piece, name), name);
            if (problem != null) {
                return problem;
            }
        }
        try {
            AttentionOptions.checkScale(options.scale(), s.dtype());
            return null;
        } catch (La2ArgumentException e) {
            return e;
        }
    }

    /**
     * Finite rates >= 0 (SPEC.md section 1), as every backend call checks them; on the rates the
     * rank has read for the agreement, so the decay is read once.
     */
    static La2ArgumentException rates(double[] rates, DType dtype) {
        for (int h = 0; h < rates.length; h++) {
            if (!(rates[h] >= 0) || Double.isInfinite(rates[h])) {
                return new La2ArgumentException("decay", "rate " + rate(rates[h], dtype) + " for head " + h,
                        "finite rates >= 0 (lambda = exp(-rate); 0 means no decay)");
            }
        }
        return null;
    }

    /**
     * The first head from {@code from} on whose rate in {@code a} differs from {@code b}'s, the
     * {@code heads} rates of {@code b} starting at {@code bFrom}; -1 when none does. -0.0 and 0.0 are
     * the same rate (lambda = 1).
     */
    static int firstDifferentRate(double[] a, double[] b, int bFrom, int heads) {
        for (int h = 0; h < heads; h++) {
            if (Double.compare(a[h] + 0.0, b[bFrom + h] + 0.0) != 0) {
                return h;
            }
        }
        return -1;
    }

    /** A rate as stored in a decay tensor of {@code dtype}: a float rate printed as a float. */
    static String rate(double rate, DType dtype) {
        return dtype == DType.FP64 ? String.valueOf(rate) : String.valueOf((float) rate);
    }

    /** Open, and of this rank's backend by name (which instance, only the backend can tell). */
    private static La2ArgumentException usable(LightningAttention la, Tensor t, String name) {
        if (t == null) {
            return null;
        }
        if (t.isClosed()) {
            return new La2ArgumentException(name, "a closed tensor (" + PieceShape.describe(t) + ")", "an open tensor");
        }
        return t.backend().equals(la.backendName()) ? null : new La2ArgumentException(name,
                "a tensor of backend '" + t.backend() + "'", "a tensor of this rank's backend '" + la.backendName() + "'");
    }

    private static Tensor tensor(AttentionInputs piece, String name) {
        return switch (name) {
            case "q" -> piece.q();
            case "k" -> piece.k();
            case "v" -> piece.v();
            case "decay" -> piece.decay();
            default -> piece.initialState();
        };
    }
}
