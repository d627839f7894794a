package dev.la2.conformance;

import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;

/**
 * The float64 reference of a packed call (SPEC.md section 8): each sequence of the token-major
 * [T, H, F] arrays computed on its own by {@link ReferenceMath}, results laid out as the packed
 * call's ([T, H, F] sequences, [S, H, D, E] states). A zero-length sequence passes its state (and
 * the state's gradient) through.
 */
final class PackedReference {
    private PackedReference() {
    }

    /** Packed values and states of one call; {@code s0} and the gradients' {@code dFinal} may be null. */
    record Call(int[] offsets, int heads, int keyDim, int valueDim, double[] q, double[] k, double[] v,
                double[] rates, double[] s0, double scale) {

        int sequences() {
            return offsets.length - 1;
        }

        int stateSize() {
            return heads * keyDim * valueDim;
        }

        Problem problem(int i) {
            return new Problem(1, heads, offsets[i + 1] - offsets[i], keyDim, valueDim);
        }

        double[] state(double[] states, int i) {
            return states == null ? null : slice(states, i * stateSize(), stateSize());
        }

        double[] rows(double[] packed, int i, int features) {
            return toCanonical(packed, offsets[i], offsets[i + 1] - offsets[i], heads, features);
        }
    }

    static ReferenceMath.Forward forward(Call c) {
        int t = c.offsets()[c.sequences()];
        double[] out = new double[t * c.heads() * c.valueDim()];
        double[] fin = new double[c.sequences() * c.stateSize()];
        for (int i = 0; i < c.sequences(); i++) {
            double[] s0 = c.state(c.s0(), i);
            if (c.offsets()[i + 1] == c.offsets()[i]) {
                put(s0, fin, i * c.stateSize(), c.stateSize());
                continue;
            }
            ReferenceMath.Forward r = ReferenceMath.forwardRecurrent(c.problem(i), c.rows(c.q(), i, c.keyDim()),
                    c.rows(c.k(), i, c.keyDim()), c.rows(c.v(), i, c.valueDim()), c.rates(), s0, c.scale());
            fromCanonical(r.output(), out, c.offsets()[i], c.offsets()[i + 1] - c.offsets()[i], c.heads(), c.valueDim());
            put(r.finalState(), fin, i * c.stateSize(), c.stateSize());
        }
        return new ReferenceMath.Forward(out, fin);
    }

    static ReferenceMath.Backward backward(Call c, double[] dOutput, double[] dFinal) {
        int t = c.offsets()[c.sequences()];
        double[] dq = new double[t * c.heads() * c.keyDim()];
        double[] dk = new double[dq.length];
        double[] dv = new double[t * c.heads() * c.valueDim()];
        double[] ds0 = new double[c.sequences() * c.stateSize()];
        double[] dDecay = new double[c.heads()];
        double[] dDecayScale = new double[c.heads()];
        for (int i = 0; i < c.sequences(); i++) {
            int lo = c.offsets()[i];
            int len = c.offsets()[i + 1] - lo;
            if (len == 0) {
                put(c.state(dFinal, i), ds0, i * c.stateSize(), c.stateSize());
                continue;
            }
            ReferenceMath.Backward r = ReferenceMath.backward(c.problem(i), c.rows(c.q(), i, c.keyDim()),
                    c.rows(c.k(), i, c.keyDim()), c.rows(c.v(), i, c.valueDim()), c.rates(), c.state(c.s0(), i),
                    c.rows(dOutput, i, c.valueDim()), c.state(dFinal, i), c.scale());
            fromCanonical(r.dq(), dq, lo, len, c.heads(), c.keyDim());
            fromCanonical(r.dk(), dk, lo, len, c.heads(), c.keyDim());
            fromCanonical(r.dv(), dv, lo, len, c.heads(), c.valueDim());
            put(r.dInitialState(), ds0, i * c.stateSize(), c.stateSize());
            for (int h = 0; h < c.heads(); h++) {
                dDecay[h] += r.dDecay()[h];
                dDecayScale[h] += r.dDecayScale()[h];
            }
        }
        return new ReferenceMath.Backward(dq, dk, dv, ds0, dDecay, dDecayScale);
    }

    /** Rows lo..lo+len of a token-major [T, H, F] array as a canonical [1, H, len, F] one. */
    static double[] toCanonical(double[] packed, int lo, int len, int heads, int features) {
        double[] out = new double[len * heads * features];
        for (int t = 0; t < len; t++) {
            for (int h = 0; h < heads; h++) {
                System.arraycopy(packed, ((lo + t) * heads + h) * features, out, (h * len + t) * features, features);
            }
        }
        return out;
    }

    static void fromCanonical(double[] canonical, double[] packed, int lo, int len, int heads, int features) {
        for (int t = 0; t < len; t++) {
            for (int h = 0; h < heads; h++) {
                System.arraycopy(canonical, (h * len + t) * features, packed, ((lo + t) * heads + h) * features, features);
            }
        }
    }

    static double[] slice(double[] a, int from, int count) {
        double[] out = new double[count];
        System.arraycopy(a, from, out, 0, count);
        return out;
    }

    /** Writes {@code part} (zeros where null) at {@code from}. */
    static void put(double[] part, double[] into, int from, int count) {
        if (part == null) {
            java.util.Arrays.fill(into, from, from + count, 0);
        } else {
            System.arraycopy(part, 0, into, from, count);
        }
    }
}
