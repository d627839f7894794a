package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;

/**
 * Two calls chained through the state equal one call, forward and backward (SPEC.md section 1):
 * the second call starts from the first's final state, and the second's dInitialState is the
 * first's dFinalState.
 */
record ChainingCheck(LightningAttention la) {

    void chaining(Configuration cfg, Case c, SplittableRandom rng, String context) {
        int n = c.tokens();
        int m = c.split();
        int seqs = c.batch() * c.heads();
        int d = c.keyDim();
        int e = c.valueDim();
        DType state = cfg.dtype().stateType();
        try (Fixture f = cfg.fixture(la, c, rng);
             Fixture first = new Fixture(la, cfg.dtype(), cfg.precision(), c.withTokens(m, c.initialState()));
             Fixture second = new Fixture(la, cfg.dtype(), cfg.precision(), c.withTokens(n - m, true))) {
            first.upload(Fixture.tokens(f.qHeld, seqs, n, d, 0, m), Fixture.tokens(f.kHeld, seqs, n, d, 0, m),
                    Fixture.tokens(f.vHeld, seqs, n, e, 0, m), f.decayHeld, f.s0Held);
            Tensor out1 = first.poisoned(cfg.dtype(), first.sequenceShape(e));
            Tensor fin1 = first.poisoned(state, first.stateShape());
            la.forward(first.inputs(), first.options(), out1, fin1);

            // The second call starts from the first call's final state, as the backend holds it.
            second.upload(Fixture.tokens(f.qHeld, seqs, n, d, m, n), Fixture.tokens(f.kHeld, seqs, n, d, m, n),
                    Fixture.tokens(f.vHeld, seqs, n, e, m, n), f.decayHeld, null);
            second.s0 = fin1;
            second.s0Held = fin1.toDoubleArray();
            Tensor out2 = second.poisoned(cfg.dtype(), second.sequenceShape(e));
            Tensor fin2 = second.poisoned(state, second.stateShape());
            la.forward(second.inputs(), second.options(), out2, fin2);

            Tensor outAll = f.poisoned(cfg.dtype(), f.sequenceShape(e));
            Tensor finAll = f.poisoned(state, f.stateShape());
            la.forward(f.inputs(), f.options(), outAll, finAll);

            double[] chained = new double[f.valueCount()];
            Fixture.place(first.held(out1, e), chained, seqs, n, e, 0, m);
            Fixture.place(second.held(out2, e), chained, seqs, n, e, m, n);
            ReferenceMath.Forward ref = f.oracle();
            double tol = f.tolerance();
            Check.close("chained output vs reference", chained, ref.output(), tol, context);
            Check.close("chained final state vs reference", fin2.toDoubleArray(), ref.finalState(), tol, context);
            Check.close("chained output vs one call", chained, f.held(outAll, e), tol, context);
            Check.close("chained final state vs one call", fin2.toDoubleArray(), finAll.toDoubleArray(), tol, context);

            // Backward through the chain: the second part's dInitialState is the first part's dFinalState.
            Tensor dOut = f.sequence(Fixture.gaussian(rng, f.valueCount(), 1), e);
            double[] dOutHeld = f.held(dOut, e);
            Tensor dFinal = c.finalGradient()
                    ? f.track(la.tensor(Fixture.gaussian(rng, f.stateCount(), 1), state, f.stateShape())) : null;
            double[] dFinalHeld = dFinal == null ? null : dFinal.toDoubleArray();
            GradientChecks gradients = new GradientChecks(la);
            GradientChecks.Grads g2 = gradients.run(second,
                    second.sequence(Fixture.tokens(dOutHeld, seqs, n, e, m, n), e), dFinal, null);
            GradientChecks.Grads g1 = gradients.run(first,
                    first.sequence(Fixture.tokens(dOutHeld, seqs, n, e, 0, m), e), g2.into().dInitialState(), null);
            double[] dq = new double[f.keyCount()];
            double[] dk = new double[f.keyCount()];
            double[] dv = new double[f.valueCount()];
            Fixture.place(g1.dq(), dq, seqs, n, d, 0, m);
            Fixture.place(g2.dq(), dq, seqs, n, d, m, n);
            Fixture.place(g1.dk(), dk, seqs, n, d, 0, m);
            Fixture.place(g2.dk(), dk, seqs, n, d, m, n);
            Fixture.place(g1.dv(), dv, seqs, n, e, 0, m);
            Fixture.place(g2.dv(), dv, seqs, n, e, m, n);
            double[] dDecay = null;
            if (c.learnableDecay()) {
                dDecay = new double[c.heads()];
                for (int h = 0; h < c.heads(); h++) {
                    dDecay[h] = g1.dDecay()[h] + g2.dDecay()[h];
                }
            }
            ReferenceMath.Backward ref2 = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld,
                    f.s0Held, dOutHeld, dFinalHeld, c.scale());
            GradientChecks.compare(dq, dk, dv, g1.dInitialState(), dDecay, ref2, tol, context + " (backward chained)");
        }
    }
}
