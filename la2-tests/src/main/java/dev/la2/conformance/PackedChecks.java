package dev.la2.conformance;

import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;

/**
 * Packed calls with dense states (SPEC.md section 8) against the float64 reference of the same
 * sequences run one by one: outputs and final states, and every gradient through the recomputing
 * backward and from what a kept forward held.
 */
record PackedChecks(LightningAttention la) {

    void forward(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Tensor out = f.poisoned(f.dtype, f.values());
            Tensor fin = f.poisoned(f.dtype.stateType(), f.states(c.sequences()));
            la.forwardPacked(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(f.s0Held));
            double tol = f.tolerance();
            Check.close("packed output vs the sequences one by one", out.toDoubleArray(), ref.output(), tol, context);
            Check.close("final states", fin.toDoubleArray(), ref.finalState(), tol, context);
            f.assertInputsUnchanged(context);
            try (ForwardResult r = la.forwardPacked(f.inputs(), f.options().withFinalState(false))) {
                if (r.finalState() != null) {
                    throw new AssertionError(context + ": a final state was returned though not asked for");
                }
                Check.close("packed output (allocating overload)", r.output().toDoubleArray(), ref.output(), tol, context);
            }
        }
    }

    void backward(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Tensor dOut = f.upload(Fixture.gaussian(rng, c.tokens() * c.heads() * c.valueDim(), 1), f.dtype, f.values());
            Tensor dFin = c.finalGradient() ? f.upload(f.randomStates(rng, c.sequences()), f.dtype.stateType(),
                    f.states(c.sequences())) : null;
            double[] dOutHeld = dOut.toDoubleArray();
            double[] dFinHeld = dFin == null ? null : dFin.toDoubleArray();
            ReferenceMath.Backward ref = PackedReference.backward(f.reference(f.s0Held), dOutHeld, dFinHeld);
            try (Gradients g = la.backwardPacked(f.inputs(), dOut, dFin, f.options(), (SavedForward) null)) {
                compare(g, ref, f.tolerance(), context + " (recomputing backward)");
            }
            Tensor out = f.poisoned(f.dtype, f.values());
            try (SavedForward saved = la.forwardPacked(f.inputs(), f.options().withSaveForBackward(true), out, null)) {
                Gradients into = poisonedGradients(f);
                la.backwardPacked(f.inputs(), dOut, dFin, f.options(), saved, into);
                compare(into, ref, f.tolerance(), context + " (backward from a kept forward)");
            }
            f.assertInputsUnchanged(context);
            Fixture.unchanged("dOutput", dOut.toDoubleArray(), dOutHeld, context);
            if (dFin != null) {
                Fixture.unchanged("dFinalState", dFin.toDoubleArray(), dFinHeld, context);
            }
        }
    }

    static Gradients poisonedGradients(PackedFixture f) {
        return new Gradients(f.poisoned(f.dtype, f.keys()), f.poisoned(f.dtype, f.keys()), f.poisoned(f.dtype, f.values()),
                f.poisoned(f.dtype.stateType(), f.states(f.c.sequences())),
                f.c.learnableDecay() ? f.poisoned(f.dtype.stateType(), Shape.of(f.c.heads())) : null);
    }

    static void compare(Gradients g, ReferenceMath.Backward ref, double tol, String context) {
        GradientChecks.compare(g.dq().toDoubleArray(), g.dk().toDoubleArray(), g.dv().toDoubleArray(),
                g.dInitialState().toDoubleArray(), g.dDecay() == null ? null : g.dDecay().toDoubleArray(), ref, tol, context);
    }
}
