package dev.la2.api;

import java.util.Arrays;

/**
 * The recurrent states of S sequences kept in a pool between calls (SPEC.md section 8): sequence i
 * reads its state from {@code pool[slots[i]]} and writes it back there in place. Slot -1 is a
 * sequence without a slot: it starts from a zero state and its state is written nowhere (in a
 * decode, it is padding). The calls refuse two sequences naming one slot and a slot outside
 * [-1, P). The slots are copied in and out.
 *
 * @param pool  [P, H, D, E] in the storage type's {@link DType#stateType()}
 * @param slots [S], one slot or -1 per sequence
 */
public record PoolSlots(Tensor pool, int[] slots) {

    public PoolSlots {
        slots = slots == null ? null : slots.clone();
    }

    public static PoolSlots of(Tensor pool, int... slots) {
        return new PoolSlots(pool, slots);
    }

    @Override
    public int[] slots() {
        return slots == null ? null : slots.clone();
    }

    /** The slots without a copy, for validation inside the API. */
    int[] slotsView() {
        return slots;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PoolSlots other && pool == other.pool && Arrays.equals(slots, other.slots);
    }

    @Override
    public int hashCode() {
        return System.identityHashCode(pool) * 31 + Arrays.hashCode(slots);
    }

    @Override
    public String toString() {
        return "PoolSlots[" + pool + ", " + Arrays.toString(slots) + "]";
    }
}
