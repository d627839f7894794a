package dev.la2.api;

import dev.la2.spi.AttentionBackend;
import dev.la2.spi.HostTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * {@link AttentionOptions#checkFinite()}: refuses a call whose inputs hold NaN or infinity, naming
 * the first such element by its index in the call's layout. Decay rates are always checked (see
 * {@link DecayCheck}); this covers the rest. A debugging aid: it reads host tensors in place and
 * others through a host copy, element by element at 64-bit indices, so a tensor of more than 2^31
 * elements is checked like any other.
 */
final class FiniteCheck {
    private static final String STATE_AXES = "(b, h, d, e)";
    private static final String POOL_AXES = "(slot, h, d, e)";

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
        packed(in.q(), "q", "d", in.offsets());
        packed(in.k(), "k", "d", in.offsets());
        packed(in.v(), "v", "e", in.offsets());
        state(in.initialState(), "initialState");
    }

    /**
     * A packed [T, H, F] tensor; {@code feature} names its last axis. A server's caller looks for the
     * sequence, so the message also says which one holds the packed token and where in it.
     */
    static void packed(Tensor t, String name, String feature, SequenceOffsets offsets) {
        check(t, name, "(t, h, " + feature + ")", null, index -> {
            int token = (int) index[0];
            int s = sequenceOf(offsets, token);
            return ", token " + (token - offsets.start(s)) + " of sequence " + s;
        });
    }

    /** A [B, H, N, F] or [B, N, H, F] tensor; {@code feature} names its last axis. */
    static void sequence(Tensor t, String name, Layout layout, String feature) {
        check(t, name, layout == Layout.BHND ? "(b, h, t, " + feature + ")" : "(b, t, h, " + feature + ")", null, null);
    }

    /** A [B, H, D, E] tensor, or null. */
    static void state(Tensor t, String name) {
        check(t, name, STATE_AXES, null, null);
    }

    /**
     * The initial states a pooled call reads (SPEC.md section 8): the slots its sequences name, and
     * only those: the other slots are no input of the call (they may hold anything, a diverged state
     * included) and are not read. A pool in host memory is read in place; one elsewhere slot by slot
     * through {@code backend}'s views, so a call naming a few slots of a large device pool copies
     * those slots, not the pool.
     */
    static void pool(Tensor pool, int[] slots, AttentionBackend backend) {
        boolean[] named = new boolean[pool.shape().dim(0)];
        for (int slot : slots) {
            if (slot >= 0) {
                named[slot] = true;
            }
        }
        if (pool instanceof HostTensor) {
            check(pool, "pool", POOL_AXES, named, null);
            return;
        }
        int[] dims = pool.shape().dims();
        Shape slice = Shape.of(1, dims[1], dims[2], dims[3]);
        for (int slot = 0; slot < named.length; slot++) {
            if (named[slot]) {
                scanCopy(backend.view(pool, slot * slice.elementCount(), slice), slot, pool.shape(), "pool", POOL_AXES, null,
                        null);
            }
        }
    }

    /** The sequence holding packed token {@code token}: the last whose start is at or before it. */
    private static int sequenceOf(SequenceOffsets offsets, int token) {
        int lo = 0;
        int hi = offsets.sequences() - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (offsets.start(mid) <= token) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** What a message adds about where an element lies, from its index. */
    private interface Where {
        String of(long[] index);
    }

    /**
     * @param rows  which indices of the first axis to read, or null for all
     * @param where what to add after the index, or null for nothing
     */
    private static void check(Tensor t, String name, String axes, boolean[] rows, Where where) {
        if (t == null) {
            return;
        }
        if (t instanceof HostTensor host) {
            scan(host, 0, t.shape(), name, axes, rows, where);
            return;
        }
        scanCopy(t, 0, t.shape(), name, axes, rows, where);
    }

    /** Scans a host copy of {@code part}, rows {@code firstRow ..} of a tensor of {@code shape}. */
    private static void scanCopy(Tensor part, int firstRow, Shape shape, String name, String axes, boolean[] rows,
                                 Where where) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment copy = arena.allocate(part.byteSize(), Double.BYTES);
            part.copyTo(copy);
            scan(HostTensor.wrap(null, part.backend(), copy, part.dtype(), part.shape()), firstRow, shape, name, axes, rows,
                    where);
        }
    }

    /**
     * Looks for the first non-finite element of {@code data}, which holds rows {@code firstRow ..}
     * (of the first axis) of a tensor of {@code shape}; messages give indices in that tensor.
     */
    private static void scan(HostTensor data, int firstRow, Shape shape, String name, String axes, boolean[] rows,
                             Where where) {
        int dataRows = data.shape().dim(0);
        long perRow = data.elementCount() / dataRows;
        for (int r = 0; r < dataRows; r++) {
            if (rows != null && !rows[firstRow + r]) {
                continue;
            }
            for (long at = r * perRow, end = at + perRow; at < end; at++) {
                // Every dtype widens to double exactly, so finiteness is read off the double value.
                double x = data.get(at);
                if (!Double.isFinite(x)) {
                    long[] index = indexOf(firstRow * perRow + at, shape.dims());
                    throw new La2ArgumentException(name, x + " at " + Arrays.toString(index) + " " + axes + " of shape "
                            + shape + (where == null ? "" : where.of(index)),
                            "finite values, since options.checkFinite() is true");
                }
            }
        }
    }

    private static long[] indexOf(long flat, int[] dims) {
        long[] index = new long[dims.length];
        long rest = flat;
        for (int i = dims.length - 1; i >= 0; i--) {
            index[i] = rest % dims[i];
            rest /= dims[i];
        }
        return index;
    }
}
