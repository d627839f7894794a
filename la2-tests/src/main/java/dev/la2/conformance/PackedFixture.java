package dev.la2.conformance;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.Precision;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random packed inputs of one {@link PackedCase} on the backend under test, with the values the
 * tensors hold (read back after the upload; token-major [T, H, F] and [S, H, D, E], as the
 * reference of {@link PackedReference} takes them). Owns every tensor it makes.
 */
final class PackedFixture implements AutoCloseable {
    final LightningAttention la;
    final DType dtype;
    final Precision precision;
    final PackedCase c;
    final SequenceOffsets offsets;
    private final List<Tensor> tensors = new ArrayList<>();

    Tensor q;
    Tensor k;
    Tensor v;
    Tensor decay;
    /** Null when the case has no initial state. */
    Tensor s0;
    double[] qHeld;
    double[] kHeld;
    double[] vHeld;
    double[] rates;
    double[] s0Held;

    private PackedFixture(LightningAttention la, Configuration cfg, PackedCase c) {
        this.la = la;
        this.dtype = cfg.dtype();
        this.precision = cfg.precision();
        this.c = c;
        this.offsets = c.offsets();
    }

    static PackedFixture random(LightningAttention la, Configuration cfg, PackedCase c, SplittableRandom rng) {
        PackedFixture f = new PackedFixture(la, cfg, c);
        try {
            int t = c.tokens();
            double std = 1 / Math.sqrt(c.keyDim());
            f.q = f.upload(Fixture.gaussian(rng, t * c.heads() * c.keyDim(), std), f.dtype, f.keys());
            f.k = f.upload(Fixture.gaussian(rng, t * c.heads() * c.keyDim(), std), f.dtype, f.keys());
            f.v = f.upload(Fixture.gaussian(rng, t * c.heads() * c.valueDim(), 1), f.dtype, f.values());
            double[] r = new double[c.heads()];
            for (int h = 0; h < r.length; h++) {
                r[h] = h % 3 == 0 ? 0 : h % 3 == 1 ? 2 + 6 * rng.nextDouble() : 0.5 * rng.nextDouble();
            }
            f.decay = f.upload(r, f.dtype.stateType(), Shape.of(c.heads()));
            f.s0 = c.initialState() ? f.upload(f.randomStates(rng, c.sequences()), f.dtype.stateType(), f.states(c.sequences()))
                    : null;
            f.qHeld = f.q.toDoubleArray();
            f.kHeld = f.k.toDoubleArray();
            f.vHeld = f.v.toDoubleArray();
            f.rates = f.decay.toDoubleArray();
            f.s0Held = f.s0 == null ? null : f.s0.toDoubleArray();
            return f;
        } catch (RuntimeException | Error e) {
            f.close();
            throw e;
        }
    }

    int stateSize() {
        return c.heads() * c.keyDim() * c.valueDim();
    }

    double[] randomStates(SplittableRandom rng, int count) {
        return Fixture.gaussian(rng, count * stateSize(), 1);
    }

    Shape keys() {
        return Shape.of(c.tokens(), c.heads(), c.keyDim());
    }

    Shape values() {
        return Shape.of(c.tokens(), c.heads(), c.valueDim());
    }

    Shape states(int count) {
        return Shape.of(count, c.heads(), c.keyDim(), c.valueDim());
    }

    Tensor upload(double[] values, DType type, Shape shape) {
        return track(la.tensor(values, type, shape));
    }

    Tensor poisoned(DType type, Shape shape) {
        Tensor t = track(la.allocate(type, shape));
        t.fill(Double.NaN);
        return t;
    }

    Tensor track(Tensor t) {
        tensors.add(t);
        return t;
    }

    PackedInputs inputs() {
        return new PackedInputs(q, k, v, decay, offsets, s0);
    }

    AttentionOptions options() {
        return AttentionOptions.defaults().withScale(c.scale()).withPrecision(precision)
                .withLearnableDecay(c.learnableDecay());
    }

    double tolerance() {
        return Tolerances.of(dtype, precision, Math.max(1, c.longest()));
    }

    /** The reference of this fixture's sequences starting from {@code initial} [S, H, D, E] (null: zero). */
    PackedReference.Call reference(double[] initial) {
        return new PackedReference.Call(offsets.offsets(), c.heads(), c.keyDim(), c.valueDim(), qHeld, kHeld, vHeld,
                rates, initial, c.scale());
    }

    void assertInputsUnchanged(String context) {
        Fixture.unchanged("q", q.toDoubleArray(), qHeld, context);
        Fixture.unchanged("k", k.toDoubleArray(), kHeld, context);
        Fixture.unchanged("v", v.toDoubleArray(), vHeld, context);
        Fixture.unchanged("decay", decay.toDoubleArray(), rates, context);
        if (s0 != null) {
            Fixture.unchanged("initialState", s0.toDoubleArray(), s0Held, context);
        }
    }

    @Override
    public void close() {
        for (Tensor t : tensors) {
            t.close();
        }
        tensors.clear();
    }
}
