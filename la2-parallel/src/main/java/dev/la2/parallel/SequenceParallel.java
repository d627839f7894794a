package dev.la2.parallel;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * One sequence split over the ranks of a {@link Communicator} (SPEC.md section 9, LASP-2 style):
 * rank r holds a contiguous piece of every (b, h) sequence's tokens, [B, H, n_r, D] (or [B, n_r, H, D]),
 * pieces in rank order, of any lengths. Every rank calls {@link #forward} (and later
 * {@link #backward}) with its own piece; the calls return this rank's part of the results of one
 * call over the whole sequence.
 *
 * <p>Each rank computes its piece's final state from a zero state, the ranks all-gather these
 * states, and each combines the earlier pieces' states into the state entering its own piece, from
 * which it computes its piece's output. The backward mirrors it with the gradients of the pieces'
 * initial states. The costs are in ALGORITHM.md section 4.
 *
 * <p>Rank 0 alone takes the sequence's initial state ({@code inputs.initialState()}), the last rank
 * alone the final state's gradient. Arguments are checked on every rank and then compared across
 * ranks before any work (the finite check included, which the backend calls then skip); a problem
 * on any rank makes every rank throw {@link La2ArgumentException} (the faulty rank naming its
 * argument, the others naming that rank). A failure while computing (a tensor of another backend
 * instance is found only then) aborts the communicator, so the other ranks fail rather than wait.
 * {@link AttentionOptions#saveForBackward()} does not apply and is ignored.
 */
public final class SequenceParallel {
    private final LightningAttention la;
    private final Communicator comm;

    public SequenceParallel(LightningAttention attention, Communicator communicator) {
        if (attention == null) {
            throw new La2ArgumentException("attention", "null", "a LightningAttention instance");
        }
        if (communicator == null) {
            throw new La2ArgumentException("communicator", "null", "a communicator of this rank's group");
        }
        if (communicator.size() < 1 || communicator.rank() < 0 || communicator.rank() >= communicator.size()) {
            throw new La2ArgumentException("communicator", "rank " + communicator.rank() + " of " + communicator.size(),
                    "a rank from 0 to size-1 of at least one rank");
        }
        this.la = attention;
        this.comm = communicator;
    }

    public Communicator communicator() {
        return comm;
    }

    /** This rank's piece of the output; the whole sequence's final state on the last rank. */
    public PieceForward forward(AttentionInputs piece, AttentionOptions options) {
        int rank = comm.rank();
        La2ArgumentException problem = ownCheck(() -> PieceCheck.forward(la, piece, options, rank));
        PieceShape shape = problem == null ? PieceShape.of(piece, options.layout()) : null;
        double[] decay = problem == null ? readDecay(piece) : null;
        problem = problem != null ? problem
                : decay == null ? unreadableDecay() : PieceCheck.rates(decay, piece.decay().dtype());
        Pieces pieces = Agreement.reach(comm, Agreement.Call.FORWARD, shape, options, decay, problem);
        AttentionOptions opts = options.withSaveForBackward(false).withFiniteCheck(false);
        boolean first = rank == 0;
        boolean last = rank == comm.size() - 1;
        List<Tensor> made = new ArrayList<>();
        try {
            Tensor output = track(made, la.allocate(shape.dtype(), piece.v().shape()));
            Tensor contribution = track(made, la.allocate(shape.stateType(), shape.stateShape()));
            if (first) {
                la.forward(piece, opts, output, contribution);
            } else if (!last) {
                la.forward(piece.withInitialState(null), opts, output, contribution);
            } else {
                contribution.fill(0);
            }
            double[] gathered = gather(contribution, shape);
            Tensor finalState = null;
            Tensor incoming = null;
            if (first) {
                if (last && options.returnFinalState()) {
                    finalState = contribution;
                } else {
                    contribution.close();
                }
            } else {
                contribution.close();
                incoming = track(made, la.tensor(StateCombination.incoming(gathered, pieces, rank, decay, shape),
                        shape.stateType(), shape.stateShape()));
                finalState = last && options.returnFinalState() ? track(made, la.allocate(shape.stateType(), shape.stateShape())) : null;
                la.forward(piece.withInitialState(incoming), opts, output, finalState);
            }
            return new PieceForward(output, finalState, incoming, decay, piece.decay().dtype(), options);
        } catch (RuntimeException | Error e) {
            fail(made, e);
            throw e;
        }
    }

    /**
     * This rank's gradients: dq, dk, dv of its piece; dInitialState, on rank 0 the gradient of the
     * sequence's initial state, elsewhere that of the state entering this rank's piece; dDecay (when
     * learnable) summed over the whole sequence, the same on every rank.
     *
     * @param dFinalState the gradient of the sequence's final state, on the last rank only (may be null)
     * @param forward     this rank's result of {@link #forward} on the same piece and options
     */
    public Gradients backward(AttentionInputs piece, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                              PieceForward forward) {
        int rank = comm.rank();
        int size = comm.size();
        La2ArgumentException problem =
                ownCheck(() -> PieceCheck.backward(la, piece, dOutput, dFinalState, options, forward, rank, size));
        PieceShape shape = problem == null ? PieceShape.of(piece, options.layout()) : null;
        double[] decay = problem == null ? readDecay(piece) : null;
        problem = problem != null ? problem
                : decay == null ? unreadableDecay() : PieceCheck.rates(decay, piece.decay().dtype());
        problem = problem != null || forward == null ? problem : forward.mismatch(decay, options);
        Pieces pieces = Agreement.reach(comm, Agreement.Call.BACKWARD, shape, options, decay, problem);
        AttentionOptions opts = options.withSaveForBackward(false).withFiniteCheck(false);
        AttentionInputs real = rank == 0 ? piece : piece.withInitialState(forward.incomingState());
        boolean first = rank == 0;
        boolean last = rank == size - 1;
        List<Tensor> made = new ArrayList<>();
        try {
            Gradients g = new Gradients(
                    track(made, la.allocate(shape.dtype(), piece.q().shape())),
                    track(made, la.allocate(shape.dtype(), piece.k().shape())),
                    track(made, la.allocate(shape.dtype(), piece.v().shape())),
                    track(made, la.allocate(shape.stateType(), shape.stateShape())),
                    options.learnableDecay() ? track(made, la.allocate(shape.stateType(), piece.decay().shape())) : null);
            Tensor contribution;
            if (last) {
                la.backward(real, dOutput, dFinalState, opts, g);
                contribution = g.dInitialState();
            } else {
                contribution = track(made, la.allocate(shape.stateType(), shape.stateShape()));
                if (first) {
                    contribution.fill(0);
                } else {
                    // Only the initial state's gradient is wanted here: it does not depend on the initial state.
                    la.backward(piece.withInitialState(null), dOutput, null, opts.withLearnableDecay(false),
                            new Gradients(g.dq(), g.dk(), g.dv(), contribution, null));
                }
            }
            double[] gathered = gather(contribution, shape);
            if (!last) {
                contribution.close();
                try (Tensor dOut = la.tensor(StateCombination.outgoingGradient(gathered, pieces, rank, decay, shape),
                        shape.stateType(), shape.stateShape())) {
                    la.backward(real, dOutput, dOut, opts, g);
                }
            }
            if (g.dDecay() != null) {
                // A sum over tokens (SPEC.md section 2): over every rank's.
                comm.allReduceSum(g.dDecay(), g.dDecay());
            }
            return g;
        } catch (RuntimeException | Error e) {
            fail(made, e);
            throw e;
        }
    }

    /** Every rank's state, [P, B, H, D, E], on the host. */
    private double[] gather(Tensor local, PieceShape shape) {
        try (Tensor all = la.allocate(shape.stateType(), shape.gatheredShape(comm.size()))) {
            comm.allGather(local, all);
            return all.toDoubleArray();
        }
    }

    /**
     * This rank's own check, which reads data (decay rates, finite values); should a read fail, the
     * other ranks are told rather than left waiting for this one in the agreement.
     */
    private La2ArgumentException ownCheck(Supplier<La2ArgumentException> check) {
        try {
            return check.get();
        } catch (RuntimeException | Error e) {
            comm.abort(e);
            throw e;
        }
    }

    private static double[] readDecay(AttentionInputs piece) {
        try {
            return piece.decay().toDoubleArray();
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static La2ArgumentException unreadableDecay() {
        return new La2ArgumentException("decay", "a tensor that cannot be read", "an open tensor of decay rates");
    }

    private static Tensor track(List<Tensor> made, Tensor t) {
        made.add(t);
        return t;
    }

    /** Tells the other ranks, then releases what this call made. */
    private void fail(List<Tensor> made, Throwable e) {
        if (!(e instanceof CommunicationException)) {
            comm.abort(e);
        }
        made.forEach(Tensor::close);
    }
}
