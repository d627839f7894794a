package dev.la2.conformance;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.Canonical;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import dev.la2.spi.AttentionShape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random inputs of one case uploaded to the backend under test, together with the values the
 * tensors actually hold (read back after the upload), so that rounding to bf16 or fp16 on the
 * way in is not counted as the backend's error. Owns every tensor it makes.
 */
final class Fixture implements AutoCloseable {
    final LightningAttention la;
    final DType dtype;
    final Precision precision;
    final Case c;
    final AttentionShape shape;
    final Problem problem;
    private final List<Tensor> tensors = new ArrayList<>();

    Tensor q;
    Tensor k;
    Tensor v;
    Tensor decay;
    /** Null when the case has no initial state. */
    Tensor s0;
    /** Held values, canonical [B, H, N, F] order. */
    double[] qHeld;
    double[] kHeld;
    double[] vHeld;
    double[] decayHeld;
    double[] s0Held;

    Fixture(LightningAttention la, DType dtype, Precision precision, Case c) {
        this.la = la;
        this.dtype = dtype;
        this.precision = precision;
        this.c = c;
        this.shape = new AttentionShape(c.batch(), c.heads(), c.tokens(), c.keyDim(), c.valueDim(), c.layout(), dtype);
        this.problem = new Problem(c.batch(), c.heads(), c.tokens(), c.keyDim(), c.valueDim());
    }

    /** Uploads q, k ~ N(0, 1/D), v ~ N(0, 1), the case's decay rates and, if wanted, S0 ~ N(0, 1). */
    static Fixture random(LightningAttention la, DType dtype, Precision precision, Case c, SplittableRandom rng) {
        Fixture f = new Fixture(la, dtype, precision, c);
        try {
            double std = 1 / Math.sqrt(c.keyDim());
            f.upload(gaussian(rng, f.keyCount(), std), gaussian(rng, f.keyCount(), std),
                    gaussian(rng, f.valueCount(), 1), c.rates(rng),
                    c.initialState() ? gaussian(rng, f.stateCount(), 1) : null);
            return f;
        } catch (RuntimeException | Error e) {
            f.close();
            throw e;
        }
    }

    /** Uploads the given canonical values and records what the tensors hold. */
    void upload(double[] qc, double[] kc, double[] vc, double[] rates, double[] state) {
        q = sequence(qc, c.keyDim());
        k = sequence(kc, c.keyDim());
        v = sequence(vc, c.valueDim());
        decay = track(la.tensor(rates, dtype.stateType(), Shape.of(c.heads())));
        s0 = state == null ? null : track(la.tensor(state, dtype.stateType(), stateShape()));
        qHeld = held(q, c.keyDim());
        kHeld = held(k, c.keyDim());
        vHeld = held(v, c.valueDim());
        decayHeld = decay.toDoubleArray();
        s0Held = s0 == null ? null : s0.toDoubleArray();
    }

    int keyCount() {
        return c.batch() * c.heads() * c.tokens() * c.keyDim();
    }

    int valueCount() {
        return c.batch() * c.heads() * c.tokens() * c.valueDim();
    }

    int stateCount() {
        return c.batch() * c.heads() * c.keyDim() * c.valueDim();
    }

    Shape stateShape() {
        return Shape.of(c.batch(), c.heads(), c.keyDim(), c.valueDim());
    }

    Shape sequenceShape(int features) {
        return c.layout().shape(c.batch(), c.heads(), c.tokens(), features);
    }

    /** A sequence tensor in the case's layout holding canonical values. */
    Tensor sequence(double[] canonical, int features) {
        return track(la.tensor(Canonical.fromCanonical(canonical, shape, features), dtype, sequenceShape(features)));
    }

    /** A sequence tensor's values in canonical order. */
    double[] held(Tensor t, int features) {
        return Canonical.gather(t, shape, features);
    }

    /** A new output tensor filled with NaN, so an element the backend does not write cannot pass. */
    Tensor poisoned(DType type, Shape s) {
        Tensor t = track(la.allocate(type, s));
        t.fill(Double.NaN);
        return t;
    }

    /** A new tensor of zeros on {@code la}, not tracked: the caller closes it or hands it to {@link #track}. */
    static Tensor zeros(LightningAttention la, DType type, Shape s) {
        Tensor t = la.allocate(type, s);
        t.fill(0);
        return t;
    }

    Tensor track(Tensor t) {
        tensors.add(t);
        return t;
    }

    AttentionInputs inputs() {
        return new AttentionInputs(q, k, v, decay, s0);
    }

    AttentionOptions options() {
        return AttentionOptions.defaults().withLayout(c.layout()).withScale(c.scale()).withPrecision(precision)
                .withLearnableDecay(c.learnableDecay());
    }

    double tolerance() {
        return Tolerances.of(dtype, precision, c.tokens());
    }

    ReferenceMath.Forward oracle() {
        return ReferenceMath.forwardRecurrent(problem, qHeld, kHeld, vHeld, decayHeld, s0Held, c.scale());
    }

    /** The caller's inputs must come back exactly as they went in, whatever the call did. */
    void assertInputsUnchanged(String context) {
        unchanged("q", held(q, c.keyDim()), qHeld, context);
        unchanged("k", held(k, c.keyDim()), kHeld, context);
        unchanged("v", held(v, c.valueDim()), vHeld, context);
        unchanged("decay", decay.toDoubleArray(), decayHeld, context);
        if (s0 != null) {
            unchanged("initialState", s0.toDoubleArray(), s0Held, context);
        }
    }

    static void unchanged(String name, double[] now, double[] before, String context) {
        if (!Arrays.equals(now, before)) {
            int i = Arrays.mismatch(now, before);
            throw new AssertionError(context + ": the backend changed its input " + name + " (element " + i
                    + " was " + before[i] + ", is " + now[i] + ")");
        }
    }

    static double[] gaussian(SplittableRandom rng, int count, double std) {
        double[] a = new double[count];
        for (int i = 0; i < count; i++) {
            a[i] = std * rng.nextGaussian();
        }
        return a;
    }

    /** Tokens [lo, hi) of every sequence of a canonical [S, N, F] array. */
    static double[] tokens(double[] canonical, int sequences, int n, int features, int lo, int hi) {
        double[] out = new double[sequences * (hi - lo) * features];
        for (int s = 0; s < sequences; s++) {
            System.arraycopy(canonical, (s * n + lo) * features, out, s * (hi - lo) * features, (hi - lo) * features);
        }
        return out;
    }

    /** Writes a part holding tokens [lo, hi) back into a canonical [S, N, F] array. */
    static void place(double[] part, double[] canonical, int sequences, int n, int features, int lo, int hi) {
        for (int s = 0; s < sequences; s++) {
            System.arraycopy(part, s * (hi - lo) * features, canonical, (s * n + lo) * features, (hi - lo) * features);
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
