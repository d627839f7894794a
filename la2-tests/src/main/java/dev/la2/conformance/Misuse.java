package dev.la2.conformance;

import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;

/**
 * One bad call: its name, the argument the exception must name, and the call itself. It must fail
 * with a {@link La2ArgumentException} naming that argument, change nothing (its inputs, and the
 * outputs it was given, poisoned with NaN), and leave the instance usable.
 */
record Misuse(String name, String argument, Call call) {

    /** The bad call, given the instance, a valid fixture and output tensors for a forward. */
    @FunctionalInterface
    interface Call {
        void run(LightningAttention la, Fixture f, Tensor out, Tensor fin);
    }

    /** Makes the bad call on {@code la} with inputs of {@code base}, then the same call done right. */
    void check(LightningAttention la, Configuration cfg, Case base, SplittableRandom rng, String context) {
        try (Fixture f = cfg.fixture(la, base, rng)) {
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(base.valueDim()));
            Tensor fin = f.poisoned(cfg.dtype().stateType(), f.stateShape());
            La2ArgumentException thrown = null;
            try {
                call.run(la, f, out, fin);
            } catch (La2ArgumentException e) {
                thrown = e;
            } catch (RuntimeException e) {
                throw new AssertionError(context + ": expected La2ArgumentException naming '" + argument
                        + "', got " + e, e);
            }
            if (thrown == null) {
                throw new AssertionError(context + ": the call was accepted; expected La2ArgumentException naming '"
                        + argument + "'");
            }
            if (!argument.equals(thrown.argument()) || !thrown.getMessage().contains(argument)) {
                throw new AssertionError(context + ": the exception names '" + thrown.argument() + "' (message: "
                        + thrown.getMessage() + "); expected '" + argument + "'");
            }
            f.assertInputsUnchanged(context + ", after the rejected call");
            stillPoisoned("output", out, context);
            stillPoisoned("final state", fin, context);
            // The rejected call must leave the instance as it was: the same call done right still works.
            out.fill(Double.NaN);
            fin.fill(Double.NaN);
            la.forward(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = f.oracle();
            Check.close("output after the rejected call", f.held(out, base.valueDim()), ref.output(), f.tolerance(), context);
            Check.close("final state after the rejected call", fin.toDoubleArray(), ref.finalState(), f.tolerance(), context);
        }
    }

    /** A refused call writes nothing: the outputs it was given still hold the NaN they were poisoned with. */
    private static void stillPoisoned(String name, Tensor t, String context) {
        double[] x = t.toDoubleArray();
        for (int i = 0; i < x.length; i++) {
            if (!Double.isNaN(x[i])) {
                throw new AssertionError(context + ": the rejected call wrote its " + name + " (element " + i + " is "
                        + x[i] + "); a refused call must leave every tensor as it was");
            }
        }
    }
}
