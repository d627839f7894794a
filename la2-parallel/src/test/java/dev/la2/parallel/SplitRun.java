package dev.la2.parallel;

import static dev.la2.parallel.SplitCase.BATCH;
import static dev.la2.parallel.SplitCase.HEADS;
import static dev.la2.parallel.SplitCase.KEY_DIM;
import static dev.la2.parallel.SplitCase.VALUE_DIM;
import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendUnavailableException;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.conformance.Tolerances;
import dev.la2.reference.ErrorNorms;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs a {@link SplitCase} through {@link SequenceParallel} on in-process ranks and checks every
 * result against the float64 reference (SPEC.md section 3's tolerance) and against one call over
 * the whole sequence on the same backend (twice that, each being within it of the reference).
 */
final class SplitRun implements AutoCloseable {
    private final LightningAttention la;
    private final SplitCase c;
    private final String context;
    private final List<Tensor> made = new ArrayList<>();
    private final int n;
    private final int bh = BATCH * HEADS;
    private final DType state;
    private double[] q, k, v, decay, s0, dOut, dFinal;

    /** One rank's results, canonical [B, H, n_r, F]. */
    record Piece(double[] output, double[] finalState, double[] dq, double[] dk, double[] dv, double[] dInitialState,
                 double[] dDecay) {
    }

    SplitRun(LightningAttention la, SplitCase c, long seed) {
        this.la = la;
        this.c = c;
        this.context = la.backendName() + " " + c + " (seed " + seed + ")";
        this.n = c.tokens();
        this.state = c.dtype().stateType();
        SplittableRandom rng = new SplittableRandom(seed);
        q = held(gaussian(rng, bh * n * KEY_DIM, 1 / Math.sqrt(KEY_DIM)), KEY_DIM);
        k = held(gaussian(rng, bh * n * KEY_DIM, 1 / Math.sqrt(KEY_DIM)), KEY_DIM);
        v = held(gaussian(rng, bh * n * VALUE_DIM, 1), VALUE_DIM);
        dOut = held(gaussian(rng, bh * n * VALUE_DIM, 1), VALUE_DIM);
        decay = new double[HEADS];
        for (int h = 0; h < HEADS; h++) {
            decay[h] = h == 0 ? 0 : rng.nextDouble(0.001, 0.08);
        }
        s0 = c.initialState() ? gaussian(rng, bh * KEY_DIM * VALUE_DIM, 1) : null;
        dFinal = c.finalGradient() ? gaussian(rng, bh * KEY_DIM * VALUE_DIM, 1) : null;
    }

    String context() {
        return context;
    }

    AttentionOptions options() {
        return AttentionOptions.defaults().withLayout(c.layout()).withScale(0.7).withLearnableDecay(c.learnableDecay());
    }

    /** @param comms one communicator per piece, in rank order */
    void assertPiecesEqualOneCall(List<Communicator> comms) {
        AttentionOptions opts = options();
        int p = c.lengths().length;
        assertThat(comms).as("one rank per piece").hasSize(p);
        List<Piece> pieces = Ranks.values(Ranks.run(comms, (rank, comm) -> runRank(rank, comm, opts)));
        double[] output = new double[bh * n * VALUE_DIM];
        double[] dq = new double[bh * n * KEY_DIM];
        double[] dk = new double[bh * n * KEY_DIM];
        double[] dv = new double[bh * n * VALUE_DIM];
        for (int r = 0; r < p; r++) {
            Piece piece = pieces.get(r);
            Canonical.place(piece.output(), output, bh, n, VALUE_DIM, c.start(r));
            Canonical.place(piece.dq(), dq, bh, n, KEY_DIM, c.start(r));
            Canonical.place(piece.dk(), dk, bh, n, KEY_DIM, c.start(r));
            Canonical.place(piece.dv(), dv, bh, n, VALUE_DIM, c.start(r));
            if (c.learnableDecay()) {
                assertThat(piece.dDecay()).as("dDecay on rank %d equals rank 0's, %s", r, context).containsExactly(pieces.get(0).dDecay());
            }
        }
        double[] finalState = pieces.get(p - 1).finalState();
        double[] dS0 = pieces.get(0).dInitialState();
        double[] dDecay = pieces.get(0).dDecay();

        Problem problem = new Problem(BATCH, HEADS, n, KEY_DIM, VALUE_DIM);
        ReferenceMath.Forward ref = ReferenceMath.forwardClosed(problem, q, k, v, decay, s0, opts.scale());
        ReferenceMath.Backward refB = ReferenceMath.backward(problem, q, k, v, decay, s0, dOut, dFinal, opts.scale());
        double tol = Tolerances.of(c.dtype(), Precision.STRICT, n);
        close("output", output, ref.output(), null, tol);
        close("final state", finalState, ref.finalState(), null, tol);
        close("dq", dq, refB.dq(), null, tol);
        close("dk", dk, refB.dk(), null, tol);
        close("dv", dv, refB.dv(), null, tol);
        close("dInitialState", dS0, refB.dInitialState(), null, tol);
        if (c.learnableDecay()) {
            close("dDecay", dDecay, refB.dDecay(), refB.dDecayScale(), tol);
        }

        // One call over the whole sequence on the same backend.
        AttentionInputs whole = new AttentionInputs(sequence(q, n, KEY_DIM), sequence(k, n, KEY_DIM), sequence(v, n, VALUE_DIM),
                track(la.tensor(decay, state, Shape.of(HEADS))), s0 == null ? null : track(la.tensor(s0, state, stateShape())));
        try (ForwardResult f = la.forward(whole, opts);
             Gradients g = la.backward(whole, sequence(dOut, n, VALUE_DIM),
                     dFinal == null ? null : track(la.tensor(dFinal, state, stateShape())), opts)) {
            close("output vs one call", output, canonical(f.output(), n, VALUE_DIM), null, 2 * tol);
            close("final state vs one call", finalState, f.finalState().toDoubleArray(), null, 2 * tol);
            close("dq vs one call", dq, canonical(g.dq(), n, KEY_DIM), null, 2 * tol);
            close("dk vs one call", dk, canonical(g.dk(), n, KEY_DIM), null, 2 * tol);
            close("dv vs one call", dv, canonical(g.dv(), n, VALUE_DIM), null, 2 * tol);
            close("dInitialState vs one call", dS0, g.dInitialState().toDoubleArray(), null, 2 * tol);
            if (c.learnableDecay()) {
                close("dDecay vs one call", dDecay, g.dDecay().toDoubleArray(), refB.dDecayScale(), 2 * tol);
            }
        }
    }

    private Piece runRank(int rank, Communicator comm, AttentionOptions opts) {
        int start = c.start(rank);
        int end = start + c.lengths()[rank];
        int len = end - start;
        boolean last = rank == comm.size() - 1;
        AttentionInputs piece = new AttentionInputs(
                sequence(Canonical.cut(q, bh, n, KEY_DIM, start, end), len, KEY_DIM),
                sequence(Canonical.cut(k, bh, n, KEY_DIM, start, end), len, KEY_DIM),
                sequence(Canonical.cut(v, bh, n, VALUE_DIM, start, end), len, VALUE_DIM),
                track(la.tensor(decay, state, Shape.of(HEADS))),
                rank == 0 && s0 != null ? track(la.tensor(s0, state, stateShape())) : null);
        Tensor dO = sequence(Canonical.cut(dOut, bh, n, VALUE_DIM, start, end), len, VALUE_DIM);
        Tensor dFin = last && dFinal != null ? track(la.tensor(dFinal, state, stateShape())) : null;
        SequenceParallel sp = new SequenceParallel(la, comm);
        try (PieceForward f = sp.forward(piece, opts);
             Gradients g = sp.backward(piece, dO, dFin, opts, f)) {
            assertThat(f.finalState() != null).as("final state only on the last rank, %s", context).isEqualTo(last);
            return new Piece(canonical(f.output(), len, VALUE_DIM), last ? f.finalState().toDoubleArray() : null,
                    canonical(g.dq(), len, KEY_DIM), canonical(g.dk(), len, KEY_DIM), canonical(g.dv(), len, VALUE_DIM),
                    g.dInitialState().toDoubleArray(), g.dDecay() == null ? null : g.dDecay().toDoubleArray());
        }
    }

    private void close(String what, double[] actual, double[] expected, double[] termSizes, double tol) {
        double err = ErrorNorms.conditioned(actual, expected, termSizes);
        assertThat(err).as("%s: relative error of %s", context, what).isLessThanOrEqualTo(tol);
    }

    /** The values a tensor of the case's dtype holds for {@code canonical}. */
    private double[] held(double[] canonical, int f) {
        try (Tensor t = la.tensor(Canonical.toLayout(canonical, c.layout(), BATCH, HEADS, n, f), c.dtype(),
                c.layout().shape(BATCH, HEADS, n, f))) {
            return Canonical.fromLayout(t.toDoubleArray(), c.layout(), BATCH, HEADS, n, f);
        }
    }

    private Tensor sequence(double[] canonical, int tokens, int f) {
        return track(la.tensor(Canonical.toLayout(canonical, c.layout(), BATCH, HEADS, tokens, f), c.dtype(),
                c.layout().shape(BATCH, HEADS, tokens, f)));
    }

    private double[] canonical(Tensor t, int tokens, int f) {
        return Canonical.fromLayout(t.toDoubleArray(), c.layout(), BATCH, HEADS, tokens, f);
    }

    /** The cuda backend, or the test reported skipped with the reason it is unavailable here. */
    static LightningAttention cudaOrSkip() {
        try {
            return LightningAttention.open("cuda");
        } catch (BackendUnavailableException e) {
            return Assumptions.abort("cuda backend unavailable: " + e.getMessage());
        }
    }

    private static Shape stateShape() {
        return Shape.of(BATCH, HEADS, KEY_DIM, VALUE_DIM);
    }

    private synchronized Tensor track(Tensor t) {
        made.add(t);
        return t;
    }

    static double[] gaussian(SplittableRandom rng, int count, double std) {
        double[] out = new double[count];
        for (int i = 0; i < count; i++) {
            double u = rng.nextDouble(), w = rng.nextDouble();
            out[i] = std * Math.sqrt(-2 * Math.log1p(-u)) * Math.cos(2 * Math.PI * w);
        }
        return out;
    }

    @Override
    public synchronized void close() {
        made.forEach(Tensor::close);
    }
}
