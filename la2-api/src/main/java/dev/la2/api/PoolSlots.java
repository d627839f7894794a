package dev.la2.api;

import java.util.Arrays;

/**
 * The recurrent states of S sequences kept in a pool between calls (SPEC.md section 8): sequence i
 * reads its state from {@code pool[slots[i]]} and writes it back there in place. Slot -1 is a
 * sequence without a slot: it starts from a zero state and its state is written nowhere (in a
 * decode, it is padding). A sequence marked fresh ({@link #withFresh}) starts from a zero state
 * whatever its slot holds, and its state is written back there: how a server starts a new sequence
 * in a slot another one used. The calls refuse two sequences naming one slot and a slot outside
 * [-1, P). The arrays are copied in and out.
 *
 * @param pool  [P, H, D, E] in the storage type's {@link DType#stateType()}
 * @param slots [S], one slot or -1 per sequence
 * @param fresh [S], whether each sequence starts from zero; null: none does
 */
public record PoolSlots(Tensor pool, int[] slots, boolean[] fresh) {

    public PoolSlots {
        slots = slots == null ? null : slots.clone();
        fresh = fresh == null ? null : fresh.clone();
    }

    /** Slots whose sequences all continue from what their slots hold. */
    public PoolSlots(Tensor pool, int[] slots) {
        this(pool, slots, null);
    }

    public static PoolSlots of(Tensor pool, int... slots) {
        return new PoolSlots(pool, slots);
    }

    /**
     * The same slots, sequence i starting from a zero state where {@code fresh[i]} (the slot's
     * contents are neither read nor checked, and are replaced by the sequence's state). Taken by
     * {@code forwardPacked}, {@code decodeSlots} and {@code commit}, which write the slots;
     * {@code draft}, which only reads them, refuses it.
     */
    public PoolSlots withFresh(boolean... fresh) {
        return new PoolSlots(pool, slots, fresh);
    }

    @Override
    public int[] slots() {
        return slots == null ? null : slots.clone();
    }

    @Override
    public boolean[] fresh() {
        return fresh == null ? null : fresh.clone();
    }

    /** The slots without a copy, for validation inside the API. */
    int[] slotsView() {
        return slots;
    }

    /** The fresh marks without a copy (null: none), for validation inside the API. */
    boolean[] freshView() {
        return fresh;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PoolSlots other && pool == other.pool && Arrays.equals(slots, other.slots)
                && Arrays.equals(fresh, other.fresh);
    }

    @Override
    public int hashCode() {
        return (System.identityHashCode(pool) * 31 + Arrays.hashCode(slots)) * 31 + Arrays.hashCode(fresh);
    }

    @Override
    public String toString() {
        return "PoolSlots[" + pool + ", " + Arrays.toString(slots) + (fresh == null ? "" : ", fresh " + Arrays.toString(fresh)) + "]";
    }
}
