package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.ArrayList;
import java.util.List;
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

    /**
     * A backward whose upstream gradients hold a NaN (dOutput, inside one sequence) and an infinity
     * (dFinalState, in another, when the case has one): every gradient is non-finite wherever the
     * reference's is (nothing is masked), non-finite elsewhere only inside a sequence the reference
     * has non-finite values in (SPEC.md section 3: tensor-core tiles may spread them over a few
     * rows), and within tolerance where both are finite.
     */
    void nonFinite(Configuration cfg, Case c, SplittableRandom rng, String context) {
        int n = c.tokens();
        int e = c.valueDim();
        try (Fixture f = cfg.fixture(la, c, rng)) {
            double[] dOutHeld = Fixture.gaussian(rng, f.valueCount(), 1);
            dOutHeld[(Math.min(1, c.heads() - 1) * n + Math.min(40, n - 1)) * e + e / 2] = Double.NaN;
            Tensor dOut = f.sequence(dOutHeld, e);
            double[] dFinalHeld = null;
            Tensor dFinal = null;
            if (c.finalGradient()) {
                double[] values = Fixture.gaussian(rng, f.stateCount(), 1);
                values[((c.batch() * c.heads() - 1) * c.keyDim() + c.keyDim() / 2) * e] = Double.POSITIVE_INFINITY;
                dFinal = f.track(la.tensor(values, f.dtype.stateType(), f.stateShape()));
                dFinalHeld = dFinal.toDoubleArray();
            }
            Grads got = run(f, dOut, dFinal, null);
            ReferenceMath.Backward ref = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld,
                    f.s0Held, f.held(dOut, e), dFinalHeld, c.scale());
            double tolerance = f.tolerance();
            propagates("dq", got.dq(), ref.dq(), c.keyDim() * n, tolerance, context);
            propagates("dk", got.dk(), ref.dk(), c.keyDim() * n, tolerance, context);
            propagates("dv", got.dv(), ref.dv(), e * n, tolerance, context);
            propagates("dInitialState", got.dInitialState(), ref.dInitialState(), c.keyDim() * e, tolerance, context);
            if (got.dDecay() != null) {
                // one value per head, summed over the batch: a head is the unit here
                propagates("dDecay", got.dDecay(), ref.dDecay(), 1, tolerance, context);
            }
            f.assertInputsUnchanged(context);
        }
    }

    /**
     * Non-finite wherever {@code ref} is; non-finite where {@code ref} is finite only inside a
     * sequence (a run of {@code perSequence} elements) where {@code ref} is non-finite too; close
     * to {@code ref} where both are finite.
     */
    private static void propagates(String what, double[] got, double[] ref, int perSequence, double tolerance,
                                   String context) {
        boolean placed = false;
        List<Double> finiteGot = new ArrayList<>();
        List<Double> finiteRef = new ArrayList<>();
        for (int i = 0; i < got.length; i++) {
            boolean refFinite = Double.isFinite(ref[i]);
            placed |= !refFinite;
            if (!refFinite && Double.isFinite(got[i])) {
                throw new AssertionError(context + ": " + what + " element " + i + " is " + got[i] + " where the reference is "
                        + ref[i] + ": a non-finite upstream gradient must propagate, not be masked");
            }
            if (refFinite && !Double.isFinite(got[i])) {
                int from = i / perSequence * perSequence;
                boolean spread = false;
                for (int j = from; j < from + perSequence && !spread; j++) {
                    spread = !Double.isFinite(ref[j]);
                }
                if (!spread) {
                    throw new AssertionError(context + ": " + what + " element " + i + " is " + got[i] + " where the reference is "
                            + ref[i] + ", in a sequence the non-finite upstream gradients do not reach");
                }
            }
            if (refFinite && Double.isFinite(got[i])) {
                finiteGot.add(got[i]);
                finiteRef.add(ref[i]);
            }
        }
        if (!placed) {
            throw new AssertionError(context + ": the reference's " + what + " is finite everywhere: the non-finite gradients were not placed");
        }
        Check.close(what + " where both are finite", finiteGot.stream().mapToDouble(Double::doubleValue).toArray(),
                finiteRef.stream().mapToDouble(Double::doubleValue).toArray(), tolerance, context);
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
