package dev.la2.conformance;

import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;

/**
 * The forward and backward overloads that allocate their own results: each returns exactly the
 * results its options ask for (a final state, a decay gradient), with the reference's values.
 */
record AllocatingCheck(LightningAttention la) {

    void allocating(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = cfg.fixture(la, c, rng)) {
            ReferenceMath.Forward ref = f.oracle();
            double tol = f.tolerance();
            try (ForwardResult r = la.forward(f.inputs(), f.options().withFinalState(true))) {
                Check.close("output", f.held(r.output(), c.valueDim()), ref.output(), tol, context);
                if (r.finalState() == null) {
                    throw new AssertionError(context + ": forward with returnFinalState=true returned no final state");
                }
                Check.close("final state", r.finalState().toDoubleArray(), ref.finalState(), tol, context);
            }
            try (ForwardResult r = la.forward(f.inputs(), f.options().withFinalState(false))) {
                Check.close("output without final state", f.held(r.output(), c.valueDim()), ref.output(), tol, context);
                if (r.finalState() != null) {
                    throw new AssertionError(context + ": forward with returnFinalState=false returned a final state");
                }
            }
            Tensor dOut = f.sequence(Fixture.gaussian(rng, f.valueCount(), 1), c.valueDim());
            ReferenceMath.Backward g = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld, f.s0Held,
                    f.held(dOut, c.valueDim()), null, c.scale());
            try (Gradients got = la.backward(f.inputs(), dOut, null, f.options().withLearnableDecay(true))) {
                if (got.dDecay() == null) {
                    throw new AssertionError(context + ": backward with learnable decay returned no decay gradient");
                }
                compare(f, got, g, tol, context);
            }
            try (Gradients got = la.backward(f.inputs(), dOut, null, f.options().withLearnableDecay(false))) {
                if (got.dDecay() != null) {
                    throw new AssertionError(context + ": backward without learnable decay returned a decay gradient");
                }
                compare(f, got, g, tol, context);
            }
        }
    }

    /** Allocated gradients against the reference's, dDecay included where they hold one. */
    private static void compare(Fixture f, Gradients got, ReferenceMath.Backward ref, double tolerance, String context) {
        Case c = f.c;
        GradientChecks.compare(f.held(got.dq(), c.keyDim()), f.held(got.dk(), c.keyDim()), f.held(got.dv(), c.valueDim()),
                got.dInitialState().toDoubleArray(), got.dDecay() == null ? null : got.dDecay().toDoubleArray(), ref,
                tolerance, context);
    }
}
