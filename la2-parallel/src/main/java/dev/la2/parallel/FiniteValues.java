package dev.la2.parallel;

import dev.la2.api.AttentionInputs;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.Tensor;
import java.util.Arrays;

/**
 * {@code options.checkFinite()} on one rank's arguments (SPEC.md section 3), read before the ranks
 * agree so that a NaN on any rank is refused on every rank before any work; the message is the one
 * a single call gives. The backend calls of the split then skip their own check.
 */
final class FiniteValues {
    private FiniteValues() {
    }

    static La2ArgumentException inputs(AttentionInputs piece, Layout layout) {
        La2ArgumentException problem = sequence(piece.q(), "q", layout, "d");
        problem = problem != null ? problem : sequence(piece.k(), "k", layout, "d");
        problem = problem != null ? problem : sequence(piece.v(), "v", layout, "e");
        return problem != null ? problem : state(piece.initialState(), "initialState");
    }

    static La2ArgumentException sequence(Tensor t, String name, Layout layout, String feature) {
        return first(t, name, layout == Layout.BHND ? "(b, h, t, " + feature + ")" : "(b, t, h, " + feature + ")");
    }

    static La2ArgumentException state(Tensor t, String name) {
        return first(t, name, "(b, h, d, e)");
    }

    /** The first non-finite element of {@code t} (null: none, or no tensor), by its index. */
    private static La2ArgumentException first(Tensor t, String name, String axes) {
        if (t == null) {
            return null;
        }
        double[] x = t.toDoubleArray();
        int at = 0;
        while (at < x.length && Double.isFinite(x[at])) {
            at++;
        }
        if (at == x.length) {
            return null;
        }
        int[] dims = t.shape().dims();
        long[] index = new long[dims.length];
        for (int i = dims.length - 1, rest = at; i >= 0; i--) {
            index[i] = rest % dims[i];
            rest /= dims[i];
        }
        return new La2ArgumentException(name, x[at] + " at " + Arrays.toString(index) + " " + axes + " of shape "
                + t.shape(), "finite values, since options.checkFinite() is true");
    }
}
