package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;

/**
 * The backward against the reference: dq, dk, dv, dInitialState and (when learnable) dDecay, with
 * and without dFinalState, through the recomputing backward or from what a forward kept.
 */
record GradientChecks(LightningAttention la) {

    /** What a backward call got, in canonical order, with the tensors it wrote. */
    record Grads(Gradients into, double[] dq, double[] dk, double[] dv, double[] dInitialState, double[] dDecay) {
    }

    /** The case's backward through the recomputing path. */
    void backward(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = cfg.fixture(la, c, rng)) {
            backwardOf(f, null, rng, context);
        }
    }

    /**
     * A backward of {@code f}'s call (given what its forward kept, or null) with a fresh dOutput, and
     * a dFinalState when the case has one, against the reference; inputs and upstream gradients unchanged.
     */
    void backwardOf(Fixture f, SavedForward saved, SplittableRandom rng, String context) {
        Case c = f.c;
        Tensor dOut = f.sequence(Fixture.gaussian(rng, f.valueCount(), 1), c.valueDim());
        double[] dOutHeld = f.held(dOut, c.valueDim());
        Tensor dFinal = c.finalGradient()
                ? f.track(la.tensor(Fixture.gaussian(rng, f.stateCount(), 1), f.dtype.stateType(), f.stateShape()))
                : null;
        double[] dFinalHeld = dFinal == null ? null : dFinal.toDoubleArray();
        Grads got = run(f, dOut, dFinal, saved);
        ReferenceMath.Backward ref = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld,
                f.s0Held, dOutHeld, dFinalHeld, c.scale());
        compare(got.dq(), got.dk(), got.dv(), got.dInitialState(), got.dDecay(), ref, f.tolerance(), context);
        f.assertInputsUnchanged(context);
        Fixture.unchanged("dOutput", f.held(dOut, c.valueDim()), dOutHeld, context);
        if (dFinal != null) {
            Fixture.unchanged("dFinalState", dFinal.toDoubleArray(), dFinalHeld, context);
        }
    }

    /** {@code f}'s backward into gradients poisoned with NaN, given {@code saved} (may be null). */
    Grads run(Fixture f, Tensor dOut, Tensor dFinal, SavedForward saved) {
        Case c = f.c;
        DType state = f.dtype.stateType();
        Gradients into = new Gradients(f.poisoned(f.dtype, f.sequenceShape(c.keyDim())),
                f.poisoned(f.dtype, f.sequenceShape(c.keyDim())), f.poisoned(f.dtype, f.sequenceShape(c.valueDim())),
                f.poisoned(state, f.stateShape()), c.learnableDecay() ? f.poisoned(state, Shape.of(c.heads())) : null);
        la.backward(f.inputs(), dOut, dFinal, f.options(), saved, into);
        return new Grads(into, f.held(into.dq(), c.keyDim()), f.held(into.dk(), c.keyDim()),
                f.held(into.dv(), c.valueDim()), into.dInitialState().toDoubleArray(),
                into.dDecay() == null ? null : into.dDecay().toDoubleArray());
    }

    /** Each gradient against the reference's; {@code dDecay} null where none was asked for. */
    static void compare(double[] dq, double[] dk, double[] dv, double[] ds0, double[] dDecay,
                        ReferenceMath.Backward ref, double tolerance, String context) {
        Check.close("dq", dq, ref.dq(), tolerance, context);
        Check.close("dk", dk, ref.dk(), tolerance, context);
        Check.close("dv", dv, ref.dv(), tolerance, context);
        Check.close("dInitialState", ds0, ref.dInitialState(), tolerance, context);
        if (dDecay != null) {
            Check.closeConditioned("dDecay", dDecay, ref.dDecay(), ref.dDecayScale(), tolerance, context);
        }
    }
}
