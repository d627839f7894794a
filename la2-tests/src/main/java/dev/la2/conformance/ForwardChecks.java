package dev.la2.conformance;

import dev.la2.api.LightningAttention;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The forward against the reference: outputs and final states over the kit's sizes, and
 * non-finite inputs (q, k, v and the initial state) propagating to exactly the outputs and states
 * they reach.
 */
record ForwardChecks(LightningAttention la) {

    void forward(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = cfg.fixture(la, c, rng)) {
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(c.valueDim()));
            Tensor fin = c.finalState() ? f.poisoned(cfg.dtype().stateType(), f.stateShape()) : null;
            la.forward(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = f.oracle();
            Check.close("output", f.held(out, c.valueDim()), ref.output(), f.tolerance(), context);
            if (fin != null) {
                Check.close("final state", fin.toDoubleArray(), ref.finalState(), f.tolerance(), context);
            }
            f.assertInputsUnchanged(context);
        }
    }

    void nonFinite(Configuration cfg, Case c, SplittableRandom rng, String context) {
        int n = c.tokens();
        int d = c.keyDim();
        int e = c.valueDim();
        int lastB = c.batch() - 1, lastH = c.heads() - 1;
        try (Fixture f = new Fixture(la, cfg.dtype(), cfg.precision(), c)) {
            double std = 1 / Math.sqrt(d);
            double[] q = Fixture.gaussian(rng, f.keyCount(), std);
            double[] k = Fixture.gaussian(rng, f.keyCount(), std);
            double[] v = Fixture.gaussian(rng, f.valueCount(), 1);
            // q: a NaN inside the first block, an infinity near the start of another sequence. k and
            // v: a NaN and an infinity in the middle of a sequence, so every token before them (in
            // the same block and in earlier ones) must stay finite.
            q[(Math.min(1, lastH) * n + Math.min(40, n - 1)) * d + 2 % d] = Double.NaN;
            q[((lastB * c.heads() + lastH) * n + Math.min(3, n - 1)) * d] = Double.POSITIVE_INFINITY;
            v[(n / 2) * e + e / 2] = Double.NaN;
            k[((lastB * c.heads() + lastH) * n + n / 2 + 1 - n % 2) * d + d - 1] = Double.NEGATIVE_INFINITY;
            // S0: a NaN in the first row of one sequence's state and an infinity in the last row
            // of another's; each reaches its column of every output of that sequence.
            double[] s0 = Fixture.gaussian(rng, f.stateCount(), 1);
            s0[(lastB * c.heads()) * d * e + e - 1] = Double.NaN;
            s0[(lastH * d + d - 1) * e] = Double.POSITIVE_INFINITY;
            f.upload(q, k, v, c.rates(rng), s0);
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(e));
            Tensor fin = f.poisoned(cfg.dtype().stateType(), f.stateShape());
            la.forward(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = f.oracle();
            propagates("output", f.held(out, e), ref.output(), e, n, c.heads(), f.tolerance(), context);
            propagates("final state", fin.toDoubleArray(), ref.finalState(), e, d, c.heads(), f.tolerance(), context);
        }
    }

    /**
     * Non-finite exactly where the reference is non-finite, and within tolerance elsewhere. Rows of
     * {@code width} elements, {@code rows} rows per sequence, for the failure message.
     */
    private static void propagates(String what, double[] got, double[] ref, int width, int rows, int heads,
                                   double tolerance, String context) {
        List<Double> finiteGot = new ArrayList<>();
        List<Double> finiteRef = new ArrayList<>();
        for (int i = 0; i < got.length; i++) {
            if (Double.isFinite(ref[i])) {
                finiteGot.add(got[i]);
                finiteRef.add(ref[i]);
            } else if (Double.isFinite(got[i])) {
                int row = i / width;
                throw new AssertionError(context + ": " + what + " element " + (i % width) + " of row " + (row % rows)
                        + " (b=" + row / rows / heads + ", h=" + row / rows % heads + ") is " + got[i]
                        + " where the reference is " + ref[i] + ": non-finite inputs must propagate");
            }
        }
        if (finiteRef.size() == got.length) {
            throw new AssertionError(context + ": the reference's " + what + " is finite everywhere: the non-finite inputs were not placed");
        }
        Check.close(what + " where the reference is finite", unbox(finiteGot), unbox(finiteRef), tolerance, context);
    }

    private static double[] unbox(List<Double> values) {
        double[] a = new double[values.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = values.get(i);
        }
        return a;
    }
}
