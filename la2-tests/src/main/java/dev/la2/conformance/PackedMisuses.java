package dev.la2.conformance;

import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Bad packed and slot calls on a valid problem of H=3, D=4, E=5, lengths 3, 0, 4 and a pool of
 * six slots named 2, -1, 0: offsets that do not add up, slots twice, out of range or too few,
 * a pool of the wrong shape, an initial state beside a pool, bad accepted counts. Each must fail
 * naming the argument, leave the inputs and the pool as they were, and leave the instance usable.
 */
final class PackedMisuses {
    static final PackedCase BASE = PackedCase.of(3, 4, 5, 1.0, false, 3, 0, 4);
    private static final int[] SLOTS = {2, -1, 0};

    /** One bad call, given the instance, a valid fixture, its pool and an output for a packed forward. */
    record Misuse(String name, String argument, Call call) {
        @Override
        public String toString() {
            return name + " -> " + argument;
        }
    }

    @FunctionalInterface
    interface Call {
        void run(LightningAttention la, PackedFixture f, Tensor pool, Tensor out);
    }

    private PackedMisuses() {
    }

    static List<Misuse> all() {
        List<Misuse> list = new ArrayList<>();
        list.add(new Misuse("offsets adding up to more than T", "offsets", (la, f, pool, out) -> la.forwardPacked(
                new PackedInputs(f.q, f.k, f.v, f.decay, SequenceOffsets.ofLengths(3, 0, 5), null),
                PoolSlots.of(pool, SLOTS), f.options(), out)));
        list.add(new Misuse("decreasing offsets", "offsets", (la, f, pool, out) -> la.forwardPacked(
                new PackedInputs(f.q, f.k, f.v, f.decay, SequenceOffsets.of(0, 3, 2, 7), null),
                PoolSlots.of(pool, SLOTS), f.options(), out)));
        list.add(new Misuse("two sequences naming one slot", "slots", (la, f, pool, out) -> la.forwardPacked(
                f.inputs(), PoolSlots.of(pool, 2, -1, 2), f.options(), out)));
        list.add(new Misuse("a slot past the pool", "slots", (la, f, pool, out) -> la.forwardPacked(
                f.inputs(), PoolSlots.of(pool, 2, -1, 6), f.options(), out)));
        list.add(new Misuse("slot -2", "slots", (la, f, pool, out) -> la.forwardPacked(
                f.inputs(), PoolSlots.of(pool, 2, -2, 0), f.options(), out)));
        list.add(new Misuse("a slot for only two of three sequences", "slots", (la, f, pool, out) -> la.forwardPacked(
                f.inputs(), PoolSlots.of(pool, 2, 0), f.options(), out)));
        list.add(new Misuse("a pool with another key width", "pool", (la, f, pool, out) -> la.forwardPacked(
                f.inputs(), PoolSlots.of(f.track(Fixture.zeros(la, f.dtype.stateType(), Shape.of(6, 3, 5, 5))), SLOTS),
                f.options(), out)));
        list.add(new Misuse("an initial state beside a pool", "initialState", (la, f, pool, out) -> la.forwardPacked(
                f.inputs().withInitialState(f.track(Fixture.zeros(la, f.dtype.stateType(), f.states(3)))),
                PoolSlots.of(pool, SLOTS), f.options(), out)));
        list.add(new Misuse("packed q of rank 4", "q", (la, f, pool, out) -> la.forwardPacked(
                new PackedInputs(f.track(Fixture.zeros(la, f.dtype, Shape.of(1, 7, 3, 4))), f.k, f.v, f.decay,
                        f.offsets, null), PoolSlots.of(pool, SLOTS), f.options(), out)));
        list.add(new Misuse("decode naming one slot twice", "slots", (la, f, pool, out) -> la.decodeSlots(
                f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 3, 4))), f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 3, 4))),
                f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 3, 5))), f.decay, PoolSlots.of(pool, 0, 0, 1), 1.0,
                f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 3, 5))))));
        list.add(new Misuse("draft v with fewer draft tokens", "v", (la, f, pool, out) -> la.draft(
                f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 2, 3, 4))),
                f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 2, 3, 4))),
                f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 1, 3, 5))), f.decay, PoolSlots.of(pool, SLOTS), 1.0,
                f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 2, 3, 5))))));
        for (int[] accepted : new int[][] {{1, 0, 3}, {-1, 0, 0}, {1, 1}}) {
            list.add(new Misuse("commit accepting " + java.util.Arrays.toString(accepted) + " of 2 drafts", "accepted",
                    (la, f, pool, out) -> la.commit(f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 2, 3, 4))),
                            f.track(Fixture.zeros(la, f.dtype, Shape.of(3, 2, 3, 5))), f.decay,
                            PoolSlots.of(pool, SLOTS), accepted)));
        }
        return list;
    }

    /** Makes the bad call, then the same pooled forward done right. */
    static void check(LightningAttention la, Misuse m, Configuration cfg, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, BASE, rng)) {
            Tensor pool = f.upload(f.randomStates(rng, 6), f.dtype.stateType(), f.states(6));
            double[] poolHeld = pool.toDoubleArray();
            Tensor out = f.poisoned(f.dtype, f.values());
            La2ArgumentException thrown = null;
            try {
                m.call().run(la, f, pool, out);
            } catch (La2ArgumentException e) {
                thrown = e;
            } catch (RuntimeException e) {
                throw new AssertionError(context + ": expected La2ArgumentException naming '" + m.argument() + "', got " + e, e);
            }
            if (thrown == null) {
                throw new AssertionError(context + ": the call was accepted; expected La2ArgumentException naming '"
                        + m.argument() + "'");
            }
            if (!m.argument().equals(thrown.argument())) {
                throw new AssertionError(context + ": the exception names '" + thrown.argument() + "' (message: "
                        + thrown.getMessage() + "); expected '" + m.argument() + "'");
            }
            f.assertInputsUnchanged(context + ", after the rejected call");
            Fixture.unchanged("pool", pool.toDoubleArray(), poolHeld, context + ", after the rejected call");
            la.forwardPacked(f.inputs(), PoolSlots.of(pool, SLOTS), f.options(), out);
            SlotChecks.Pool held = new SlotChecks.Pool(pool, poolHeld, SLOTS);
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(SlotChecks.initial(held, f.stateSize())));
            Check.close("output after the rejected call", out.toDoubleArray(), ref.output(), f.tolerance(), context);
            Check.close("pool after the rejected call", pool.toDoubleArray(),
                    SlotChecks.written(held, ref.finalState(), f.stateSize()), f.tolerance(), context);
        }
    }
}
