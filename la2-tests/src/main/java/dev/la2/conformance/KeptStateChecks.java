package dev.la2.conformance;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;

/**
 * A forward that keeps states for its backward ({@link AttentionOptions#saveForBackward()}): its
 * outputs, and two backward calls that read what it kept (the first while a later keeping forward
 * of the same shape is open), against the reference. Where the backend
 * keeps nothing, the same calls run through the recomputing backward.
 */
record KeptStateChecks(LightningAttention la) {
    /**
     * Largest B*H*N*D*E of a case that also runs a backward with a decay gradient from states kept
     * without one: the smaller cases take the same paths, and the kit stays quick.
     */
    private static final long MIXED_WORK = 4_000_000L;

    void savedForward(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = cfg.fixture(la, c, rng)) {
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(c.valueDim()));
            Tensor fin = f.poisoned(cfg.dtype().stateType(), f.stateShape());
            try (SavedForward saved = keep(la, f.inputs(), f.options(), out, fin)) {
                ReferenceMath.Forward fwd = f.oracle();
                Check.close("output of a keeping forward", f.held(out, c.valueDim()), fwd.output(), f.tolerance(), context);
                Check.close("final state of a keeping forward", fin.toDoubleArray(), fwd.finalState(), f.tolerance(), context);
                // What one forward kept is its own: a later keeping forward of the same shape, on other
                // keys and values and still open, must leave it as it was.
                try (SavedForward later = keep(la, f, otherKeysAndValues(f, rng), f.options())) {
                    new GradientChecks(la).backwardOf(f, saved, rng, context
                            + " (backward from kept states, while a later forward of the same shape keeps its own)");
                }
                // SPEC.md section 7: several backward calls may read what one forward kept.
                new GradientChecks(la).backwardOf(f, saved, rng, context + " (a second backward from the same kept states)");
            }
            if (c.learnableDecay() && (long) c.batch() * c.heads() * c.tokens() * c.keyDim() * c.valueDim() <= MIXED_WORK) {
                // SPEC.md section 7: states kept without a learnable decay still serve a backward that
                // asks for the decay gradient (the backend may recompute for it).
                try (SavedForward plain = keep(la, f, f.inputs(), f.options().withLearnableDecay(false))) {
                    new GradientChecks(la).backwardOf(f, plain, rng,
                            context + " (a decay gradient from states kept without a learnable decay)");
                }
            }
        }
    }

    /** {@code f}'s inputs with fresh random keys and values of the same shapes, which {@code f} closes. */
    private AttentionInputs otherKeysAndValues(Fixture f, SplittableRandom rng) {
        AttentionInputs in = f.inputs();
        Tensor k = f.track(la.tensor(Fixture.gaussian(rng, f.keyCount(), 1 / Math.sqrt(f.c.keyDim())), f.dtype, in.k().shape()));
        Tensor v = f.track(la.tensor(Fixture.gaussian(rng, f.valueCount(), 1), f.dtype, in.v().shape()));
        return AttentionInputs.of(in.q(), k, v, in.decay()).withInitialState(in.initialState());
    }

    /** What a keeping forward of {@code inputs} returns, into an output {@code f} closes. */
    static SavedForward keep(LightningAttention la, Fixture f, AttentionInputs inputs, AttentionOptions options) {
        Tensor out = f.track(la.allocate(f.dtype, options.layout().shape(f.c.batch(), f.c.heads(), f.c.tokens(), f.c.valueDim())));
        return keep(la, inputs, options, out, null);
    }

    /** A keeping forward into {@code out} (and {@code fin}, may be null); it must return what it kept. */
    static SavedForward keep(LightningAttention la, AttentionInputs inputs, AttentionOptions options, Tensor out,
                             Tensor fin) {
        SavedForward saved = la.forward(inputs, options.withSaveForBackward(true), out, fin);
        if (saved == null) {
            throw new AssertionError("forward with saveForBackward returned nothing to pass to the backward");
        }
        return saved;
    }

    /** {@code f}'s backward (zero dOutput) given {@code saved}. */
    static void backwardWith(LightningAttention la, Fixture f, SavedForward saved) {
        Tensor dOut = f.track(Fixture.zeros(la, f.dtype, f.sequenceShape(f.c.valueDim())));
        la.backward(f.inputs(), dOut, null, f.options(), saved).close();
    }
}
