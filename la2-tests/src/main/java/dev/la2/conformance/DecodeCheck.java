package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;

/**
 * Decode steps from an initial state, one token at a time with the state updated in place, equal
 * the reference and the backend's own forward over the same tokens; every other step goes through
 * the allocating overload.
 */
record DecodeCheck(LightningAttention la) {

    void decode(Configuration cfg, Case c, SplittableRandom rng, String context) {
        int b = c.batch();
        int h = c.heads();
        int steps = c.tokens();
        int d = c.keyDim();
        int e = c.valueDim();
        int seqs = b * h;
        try (Fixture f = cfg.fixture(la, c, rng)) {
            DType stateType = cfg.dtype().stateType();
            Tensor state = f.track(la.tensor(f.s0Held != null ? f.s0Held : new double[f.stateCount()], stateType,
                    f.stateShape()));
            Tensor out = f.poisoned(cfg.dtype(), Shape.of(b, h, e));
            double[] outputs = new double[f.valueCount()];
            for (int t = 0; t < steps; t++) {
                try (Tensor qt = la.tensor(Fixture.tokens(f.qHeld, seqs, steps, d, t, t + 1), cfg.dtype(), Shape.of(b, h, d));
                     Tensor kt = la.tensor(Fixture.tokens(f.kHeld, seqs, steps, d, t, t + 1), cfg.dtype(), Shape.of(b, h, d));
                     Tensor vt = la.tensor(Fixture.tokens(f.vHeld, seqs, steps, e, t, t + 1), cfg.dtype(), Shape.of(b, h, e))) {
                    double[] qBefore = qt.toDoubleArray();
                    double[] kBefore = kt.toDoubleArray();
                    double[] vBefore = vt.toDoubleArray();
                    double[] step;
                    if (t % 2 == 1) {
                        // Every other step through the allocating overload.
                        try (Tensor o = la.decode(qt, kt, vt, f.decay, state, c.scale())) {
                            step = o.toDoubleArray();
                        }
                    } else {
                        out.fill(Double.NaN);
                        la.decode(qt, kt, vt, f.decay, state, c.scale(), out);
                        step = out.toDoubleArray();
                    }
                    Fixture.place(step, outputs, seqs, steps, e, t, t + 1);
                    Fixture.unchanged("q", qt.toDoubleArray(), qBefore, context + " step " + t);
                    Fixture.unchanged("k", kt.toDoubleArray(), kBefore, context + " step " + t);
                    Fixture.unchanged("v", vt.toDoubleArray(), vBefore, context + " step " + t);
                }
            }
            ReferenceMath.Forward ref = f.oracle();
            double tol = f.tolerance();
            Check.close("decode outputs vs reference", outputs, ref.output(), tol, context);
            Check.close("state after the decode steps (updated in place) vs reference", state.toDoubleArray(),
                    ref.finalState(), tol, context);
            Tensor outAll = f.poisoned(cfg.dtype(), f.sequenceShape(e));
            la.forward(f.inputs(), f.options(), outAll, null);
            Check.close("decode outputs vs the backend's forward", outputs, f.held(outAll, e), tol, context);
            Fixture.unchanged("decay", f.decay.toDoubleArray(), f.decayHeld, context);
        }
    }
}
