package dev.la2.api;

import java.util.Arrays;

/**
 * {@link AttentionOptions#checkFinite()}: refuses a call whose inputs hold NaN or infinity, naming
 * the first such element by its index in the call's layout. Decay rates are always checked (see
 * {@link DecayCheck}); this covers the rest. A debugging aid: it reads each input through a host copy.
 */
final class FiniteCheck {
    private static final String STATE_AXES = "(b, h, d, e)";

    private FiniteCheck() {
    }

    static void inputs(AttentionInputs in, Layout layout) {
        sequence(in.q(), "q", layout, "d");
        sequence(in.k(), "k", layout, "d");
        sequence(in.v(), "v", layout, "e");
        state(in.initialState(), "initialState");
    }

    /** Packed inputs (SPEC.md section 8). */
    static void inputs(PackedInputs in) {
        packed(in.q(), "q", "d");
        packed(in.k(), "k", "d");
        packed(in.v(), "v", "e");
        state(in.initialState(), "initialState");
    }

    /** A packed [T, H, F] tensor; {@code feature} names its last axis. */
    static void packed(Tensor t, String name, String feature) {
        check(t, name, "(t, h, " + feature + ")");
    }

    /** A [B, H, N, F] or [B, N, H, F] tensor; {@code feature} names its last axis. */
    static void sequence(Tensor t, String name, Layout layout, String feature) {
        check(t, name, layout == Layout.BHND ? "(b, h, t, " + feature + ")" : "(b, t, h, " + feature + ")");
    }

    /** A [B, H, D, E] tensor, or null. */
    static void state(Tensor t, String name) {
        check(t, name, STATE_AXES, null);
    }

    /**
     * The initial states a pooled call reads (SPEC.md section 8): the slots its sequences name. The
     * other slots are no input of the call (they may hold anything, a diverged state included).
     */
    static void pool(Tensor pool, int[] slots) {
        boolean[] named = new boolean[pool.shape().dim(0)];
        for (int slot : slots) {
            if (slot >= 0) {
                named[slot] = true;
            }
        }
        check(pool, "pool", "(slot, h, d, e)", named);
    }

    private static void check(Tensor t, String name, String axes) {
        check(t, name, axes, null);
    }

    /** @param rows which indices of the first axis to read, or null for all */
    private static void check(Tensor t, String name, String axes, boolean[] rows) {
        if (t == null) {
            return;
        }
        // Every dtype widens to double exactly, so finiteness is read off the double copy.
        double[] x = t.toDoubleArray();
        int perRow = rows == null ? x.length : x.length / rows.length;
        int at = 0;
        while (at < x.length && (Double.isFinite(x[at]) || rows != null && !rows[at / perRow])) {
            at++;
        }
        if (at < x.length) {
            int[] dims = t.shape().dims();
            long[] index = new long[dims.length];
            for (int i = dims.length - 1, rest = at; i >= 0; i--) {
                index[i] = rest % dims[i];
                rest /= dims[i];
            }
            throw new La2ArgumentException(name, x[at] + " at " + Arrays.toString(index) + " " + axes + " of shape "
                    + t.shape(), "finite values, since options.checkFinite() is true");
        }
    }
}
