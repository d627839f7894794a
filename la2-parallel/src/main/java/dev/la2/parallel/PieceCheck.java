package dev.la2.parallel;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;

/**
 * What one rank can check of its own arguments before talking to the others: presence, ranks of
 * shapes, the piece's tensors agreeing with each other, and which rank may hold the sequence's
 * initial state (rank 0) or the final state's gradient (the last rank). The backend checks the rest
 * (closed tensors, tensors of another backend, dtypes it lacks) when the piece is computed.
 * A problem is returned, not thrown: the rank first tells the others (see {@link Agreement}).
 */
final class PieceCheck {
    private PieceCheck() {
    }

    static La2ArgumentException forward(AttentionInputs piece, AttentionOptions options, int rank) {
        return inputs(piece, options, rank);
    }

    static La2ArgumentException backward(AttentionInputs piece, Tensor dOutput, Tensor dFinalState,
                                         AttentionOptions options, PieceForward forward, int rank, int size) {
        La2ArgumentException problem = inputs(piece, options, rank);
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
        if (dFinalState != null && !dFinalState.shape().equals(s.stateShape())) {
            return new La2ArgumentException("dFinalState", PieceShape.describe(dFinalState), "shape " + s.stateShape());
        }
        if (rank > 0 && (forward == null || forward.incomingState() == null)) {
            return new La2ArgumentException("forward", forward == null ? "null" : "a result without an incoming state",
                    "this rank's PieceForward from SequenceParallel.forward on the same piece");
        }
        if (rank > 0 && !forward.incomingState().shape().equals(s.stateShape())) {
            return new La2ArgumentException("forward", "an incoming state of shape " + forward.incomingState().shape(),
                    "the PieceForward of this piece, whose incoming state has shape " + s.stateShape());
        }
        return null;
    }

    private static La2ArgumentException inputs(AttentionInputs piece, AttentionOptions options, int rank) {
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
        PieceShape s = PieceShape.of(piece, layout);
        if (piece.decay() == null || !piece.decay().shape().equals(Shape.of(s.heads()))) {
            return new La2ArgumentException("decay", PieceShape.describe(piece.decay()), "shape [" + s.heads() + "]");
        }
        if (piece.initialState() != null && rank != 0) {
            return new La2ArgumentException("initialState", "a tensor on rank " + rank,
                    "null: only rank 0 takes the sequence's initial state");
        }
        if (piece.initialState() != null && !piece.initialState().shape().equals(s.stateShape())) {
            return new La2ArgumentException("initialState", PieceShape.describe(piece.initialState()), "shape " + s.stateShape());
        }
        return null;
    }

    private static Tensor tensor(AttentionInputs piece, String name) {
        return switch (name) {
            case "q" -> piece.q();
            case "k" -> piece.k();
            default -> piece.v();
        };
    }
}
