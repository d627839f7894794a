package dev.la2.conformance;

import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SavedForward;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceMath;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Calls on a state pool (SPEC.md section 8) against the float64 reference: a packed forward from
 * permuted slots padded with -1, a prefill in two pieces through the pool equal to one call, the
 * backward of a pooled forward, decode by slot over several steps, draft plus commit, and
 * sequences started fresh in used slots. Slots no sequence names are never touched.
 */
record SlotChecks(LightningAttention la) {

    /** A pool of S + 3 random states, with the values it holds. */
    record Pool(Tensor tensor, double[] held, int[] slots) {
    }

    static Pool pool(PackedFixture f, SplittableRandom rng, boolean pad) {
        int s = f.c.sequences();
        int p = s + 3;
        Tensor t = f.upload(f.randomStates(rng, p), f.dtype.stateType(), f.states(p));
        int[] order = new int[p];
        for (int i = 0; i < p; i++) {
            order[i] = i;
        }
        for (int i = p - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        int[] slots = Arrays.copyOf(order, s);
        if (pad && s > 1) {
            slots[1] = -1;
        }
        return new Pool(t, t.toDoubleArray(), slots);
    }

    /** The states sequences start from: their slots', zero for -1. */
    static double[] initial(Pool pool, int stateSize) {
        double[] out = new double[pool.slots().length * stateSize];
        for (int i = 0; i < pool.slots().length; i++) {
            if (pool.slots()[i] >= 0) {
                System.arraycopy(pool.held(), pool.slots()[i] * stateSize, out, i * stateSize, stateSize);
            }
        }
        return out;
    }

    /** The pool once each named slot holds its sequence's state from {@code finals}. */
    static double[] written(Pool pool, double[] finals, int stateSize) {
        double[] out = pool.held().clone();
        for (int i = 0; i < pool.slots().length; i++) {
            if (pool.slots()[i] >= 0) {
                System.arraycopy(finals, i * stateSize, out, pool.slots()[i] * stateSize, stateSize);
            }
        }
        return out;
    }

    void pooled(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Pool pool = pool(f, rng, true);
            Tensor out = f.poisoned(f.dtype, f.values());
            la.forwardPacked(f.inputs(), PoolSlots.of(pool.tensor(), pool.slots()), f.options(), out);
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(initial(pool, f.stateSize())));
            Check.close("output from pool slots " + Arrays.toString(pool.slots()), out.toDoubleArray(), ref.output(),
                    f.tolerance(), context);
            Check.close("pool after the call", pool.tensor().toDoubleArray(),
                    written(pool, ref.finalState(), f.stateSize()), f.tolerance(), context);
            f.assertInputsUnchanged(context);
        }
    }

    /**
     * Sequences marked fresh start from zero whatever their slots hold (NaN here, with the finite
     * check on, which must not read them) and write their states back: a packed forward, then one
     * decode step by slot with the fresh slots poisoned again.
     */
    void fresh(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Pool pool = pool(f, rng, true);
            int s = c.sequences(), size = f.stateSize();
            boolean[] fresh = new boolean[s];
            for (int i = 0; i < s; i += 2) {
                fresh[i] = true;
            }
            Pool poisoned = poisonFresh(pool, fresh, size);
            Tensor out = f.poisoned(f.dtype, f.values());
            PoolSlots states = PoolSlots.of(pool.tensor(), pool.slots()).withFresh(fresh);
            la.forwardPacked(f.inputs(), states, f.options().withFiniteCheck(true), out);
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(startingFresh(poisoned, fresh, size)));
            Check.close("output with fresh sequences " + Arrays.toString(fresh), out.toDoubleArray(), ref.output(),
                    f.tolerance(), context);
            Check.close("pool after a forward with fresh sequences", pool.tensor().toDoubleArray(),
                    written(poisoned, ref.finalState(), size), f.tolerance(), context);

            // one decode step: the first token of each sequence, the fresh slots poisoned again
            poisoned = poisonFresh(new Pool(pool.tensor(), pool.tensor().toDoubleArray(), pool.slots()), fresh, size);
            int[] from = Arrays.copyOf(f.offsets.offsets(), s);
            int[] one = new int[s];
            Arrays.fill(one, 1);
            for (int i = 0; i < s; i++) {
                from[i] = Math.min(from[i], c.tokens() - 1);
            }
            double[] q = gather(f.qHeld, from, one, c.heads() * c.keyDim());
            double[] k = gather(f.kHeld, from, one, c.heads() * c.keyDim());
            double[] v = gather(f.vHeld, from, one, c.heads() * c.valueDim());
            Tensor step = f.poisoned(f.dtype, Shape.of(s, c.heads(), c.valueDim()));
            la.decodeSlots(f.upload(q, f.dtype, Shape.of(s, c.heads(), c.keyDim())),
                    f.upload(k, f.dtype, Shape.of(s, c.heads(), c.keyDim())),
                    f.upload(v, f.dtype, Shape.of(s, c.heads(), c.valueDim())), f.decay, states, c.scale(), step);
            PackedReference.Call decoded = new PackedReference.Call(SequenceOffsets.ofLengths(one).offsets(), c.heads(),
                    c.keyDim(), c.valueDim(), q, k, v, f.rates, startingFresh(poisoned, fresh, size), c.scale());
            ReferenceMath.Forward refStep = PackedReference.forward(decoded);
            Check.close("decode step with fresh sequences", step.toDoubleArray(), padded(refStep.output(), pool.slots(), 1, c),
                    f.tolerance(), context);
            Check.close("pool after a decode step with fresh sequences", pool.tensor().toDoubleArray(),
                    written(poisoned, refStep.finalState(), size), f.tolerance(), context);
        }
    }

    /** The pool with the slots of fresh sequences set to NaN. */
    private static Pool poisonFresh(Pool pool, boolean[] fresh, int size) {
        double[] held = pool.held().clone();
        for (int i = 0; i < fresh.length; i++) {
            if (fresh[i] && pool.slots()[i] >= 0) {
                Arrays.fill(held, pool.slots()[i] * size, (pool.slots()[i] + 1) * size, Double.NaN);
            }
        }
        pool.tensor().copyFrom(held);
        return new Pool(pool.tensor(), held, pool.slots());
    }

    /** The states sequences start from: zero where fresh, else their slots'. */
    private static double[] startingFresh(Pool pool, boolean[] fresh, int size) {
        double[] start = initial(pool, size);
        for (int i = 0; i < fresh.length; i++) {
            if (fresh[i]) {
                Arrays.fill(start, i * size, (i + 1) * size, 0);
            }
        }
        return start;
    }

    /** Each sequence in two pieces, the second call naming the slots in another order, equals one call. */
    void pieces(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Pool pool = pool(f, rng, false);
            int s = c.sequences();
            int[] offsets = f.offsets.offsets();
            int[] first = new int[s];
            for (int i = 0; i < s; i++) {
                first[i] = rng.nextInt(c.lengths()[i] + 1);
            }
            int longest = 0;
            for (int i = 1; i < s; i++) {
                longest = c.lengths()[i] > c.lengths()[longest] ? i : longest;
            }
            first[longest] = Math.clamp(first[longest], 1, c.lengths()[longest] - 1); // neither call empty
            int[] order = new int[s];
            for (int i = 0; i < s; i++) {
                order[i] = s - 1 - i;
            }
            int[] from1 = new int[s];
            int[] from2 = new int[s];
            int[] count2 = new int[s];
            int[] slots2 = new int[s];
            for (int j = 0; j < s; j++) {
                from1[j] = offsets[j];
                int i = order[j];
                from2[j] = offsets[i] + first[i];
                count2[j] = c.lengths()[i] - first[i];
                slots2[j] = pool.slots()[i];
            }
            double[] out1 = piece(f, from1, first, pool.slots(), pool.tensor());
            double[] out2 = piece(f, from2, count2, slots2, pool.tensor());
            double[] out = new double[c.tokens() * c.heads() * c.valueDim()];
            int rowWidth = c.heads() * c.valueDim();
            scatter(out1, out, from1, first, rowWidth);
            scatter(out2, out, from2, count2, rowWidth);
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(initial(pool, f.stateSize())));
            Check.close("outputs of the two pieces vs one call", out, ref.output(), f.tolerance(), context);
            Check.close("pool after the second piece vs one call", pool.tensor().toDoubleArray(),
                    written(pool, ref.finalState(), f.stateSize()), f.tolerance(), context);
        }
    }

    /** A pooled call on rows from[j]..from[j]+count[j] of f's sequences; returns its output. */
    private double[] piece(PackedFixture f, int[] from, int[] count, int[] slots, Tensor pool) {
        PackedCase c = f.c;
        int t = Arrays.stream(count).sum();
        Tensor q = f.upload(gather(f.qHeld, from, count, c.heads() * c.keyDim()), f.dtype, Shape.of(t, c.heads(), c.keyDim()));
        Tensor k = f.upload(gather(f.kHeld, from, count, c.heads() * c.keyDim()), f.dtype, Shape.of(t, c.heads(), c.keyDim()));
        Tensor v = f.upload(gather(f.vHeld, from, count, c.heads() * c.valueDim()), f.dtype,
                Shape.of(t, c.heads(), c.valueDim()));
        Tensor out = f.poisoned(f.dtype, Shape.of(t, c.heads(), c.valueDim()));
        la.forwardPacked(PackedInputs.of(q, k, v, f.decay, SequenceOffsets.ofLengths(count)), PoolSlots.of(pool, slots),
                f.options(), out);
        return out.toDoubleArray();
    }

    /** The backward of a pooled forward, from the initial states it kept, against the reference. */
    void pooledBackward(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Pool pool = pool(f, rng, true);
            Tensor dOut = f.upload(Fixture.gaussian(rng, c.tokens() * c.heads() * c.valueDim(), 1), f.dtype, f.values());
            Tensor dFin = c.finalGradient() ? f.upload(f.randomStates(rng, c.sequences()), f.dtype.stateType(),
                    f.states(c.sequences())) : null;
            Tensor out = f.poisoned(f.dtype, f.values());
            try (SavedForward saved = la.forwardPacked(f.inputs(), PoolSlots.of(pool.tensor(), pool.slots()),
                    f.options().withSaveForBackward(true), out)) {
                Gradients into = PackedChecks.poisonedGradients(f);
                la.backwardPacked(f.inputs(), dOut, dFin, f.options(), saved, into);
                ReferenceMath.Backward ref = PackedReference.backward(f.reference(initial(pool, f.stateSize())),
                        dOut.toDoubleArray(), dFin == null ? null : dFin.toDoubleArray());
                PackedChecks.compare(into, ref, f.tolerance(), context + " (backward of a pooled forward)");
            }
        }
    }

    /** Every sequence of {@code c} has the same length n: n decode steps by slot equal the forward. */
    void decode(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Pool pool = pool(f, rng, true);
            int s = c.sequences();
            int n = c.lengths()[0];
            int[] count = new int[s];
            Arrays.fill(count, 1);
            int[] from = new int[s];
            double[] outputs = new double[c.tokens() * c.heads() * c.valueDim()];
            Tensor out = f.poisoned(f.dtype, Shape.of(s, c.heads(), c.valueDim()));
            for (int t = 0; t < n; t++) {
                for (int i = 0; i < s; i++) {
                    from[i] = i * n + t;
                }
                Tensor q = f.upload(gather(f.qHeld, from, count, c.heads() * c.keyDim()), f.dtype,
                        Shape.of(s, c.heads(), c.keyDim()));
                Tensor k = f.upload(gather(f.kHeld, from, count, c.heads() * c.keyDim()), f.dtype,
                        Shape.of(s, c.heads(), c.keyDim()));
                Tensor v = f.upload(gather(f.vHeld, from, count, c.heads() * c.valueDim()), f.dtype,
                        Shape.of(s, c.heads(), c.valueDim()));
                out.fill(Double.NaN);
                la.decodeSlots(q, k, v, f.decay, PoolSlots.of(pool.tensor(), pool.slots()), c.scale(), out);
                scatter(out.toDoubleArray(), outputs, from, count, c.heads() * c.valueDim());
            }
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(initial(pool, f.stateSize())));
            Check.close("decode by slot vs the forward", outputs, padded(ref.output(), pool.slots(), n, c), f.tolerance(),
                    context);
            Check.close("pool after the decode steps", pool.tensor().toDoubleArray(),
                    written(pool, ref.finalState(), f.stateSize()), f.tolerance(), context);
        }
    }

    /** Every sequence of {@code c} has K tokens: drafts equal the forward and leave the pool; commit advances it. */
    void draft(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng)) {
            Pool pool = pool(f, rng, true);
            int s = c.sequences();
            int kk = c.lengths()[0];
            Tensor q = f.upload(f.qHeld, f.dtype, Shape.of(s, kk, c.heads(), c.keyDim()));
            Tensor k = f.upload(f.kHeld, f.dtype, Shape.of(s, kk, c.heads(), c.keyDim()));
            Tensor v = f.upload(f.vHeld, f.dtype, Shape.of(s, kk, c.heads(), c.valueDim()));
            Tensor out = f.poisoned(f.dtype, Shape.of(s, kk, c.heads(), c.valueDim()));
            PoolSlots states = PoolSlots.of(pool.tensor(), pool.slots());
            la.draft(q, k, v, f.decay, states, c.scale(), out);
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(initial(pool, f.stateSize())));
            Check.close("draft outputs vs the forward", out.toDoubleArray(), padded(ref.output(), pool.slots(), kk, c),
                    f.tolerance(), context);
            Fixture.unchanged("pool (a draft leaves it)", pool.tensor().toDoubleArray(), pool.held(), context);

            int[] accepted = new int[s];
            for (int i = 0; i < s; i++) {
                accepted[i] = i == 0 ? kk : i == s - 1 ? 0 : rng.nextInt(kk + 1);
            }
            la.commit(k, v, f.decay, states, accepted);
            int[] from = new int[s];
            for (int i = 0; i < s; i++) {
                from[i] = i * kk;
            }
            int width = c.heads() * c.keyDim();
            PackedReference.Call kept = new PackedReference.Call(SequenceOffsets.ofLengths(accepted).offsets(), c.heads(),
                    c.keyDim(), c.valueDim(), gather(f.qHeld, from, accepted, width), gather(f.kHeld, from, accepted, width),
                    gather(f.vHeld, from, accepted, c.heads() * c.valueDim()), f.rates, initial(pool, f.stateSize()),
                    c.scale());
            Check.close("pool after commit " + Arrays.toString(accepted), pool.tensor().toDoubleArray(),
                    written(pool, PackedReference.forward(kept).finalState(), f.stateSize()), f.tolerance(), context);
        }
    }

    /** Reference outputs of S sequences of n tokens with padding sequences' rows zero. */
    private static double[] padded(double[] output, int[] slots, int n, PackedCase c) {
        double[] out = output.clone();
        int rows = n * c.heads() * c.valueDim();
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] < 0) {
                Arrays.fill(out, i * rows, (i + 1) * rows, 0);
            }
        }
        return out;
    }

    /** Rows from[j]..from[j]+count[j] of a [T, width] array, for each j in turn. */
    static double[] gather(double[] packed, int[] from, int[] count, int width) {
        double[] out = new double[Arrays.stream(count).sum() * width];
        int at = 0;
        for (int j = 0; j < from.length; j++) {
            System.arraycopy(packed, from[j] * width, out, at, count[j] * width);
            at += count[j] * width;
        }
        return out;
    }

    /** The inverse of {@link #gather}. */
    static void scatter(double[] part, double[] packed, int[] from, int[] count, int width) {
        int at = 0;
        for (int j = 0; j < from.length; j++) {
            System.arraycopy(part, at, packed, from[j] * width, count[j] * width);
            at += count[j] * width;
        }
    }
}
