package dev.la2.api;

import static dev.la2.api.ValidatingAttention.checkSame;
import static dev.la2.api.ValidatingAttention.required;
import static dev.la2.api.ValidatingAttention.track;

import dev.la2.spi.AttentionBackend;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.CommitCall;
import dev.la2.spi.DraftCall;
import dev.la2.spi.PackedBackwardCall;
import dev.la2.spi.PackedForwardCall;
import dev.la2.spi.PackedShape;
import dev.la2.spi.Residuals;
import dev.la2.spi.SlotDecodeCall;
import dev.la2.spi.SlotShape;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link ValidatingAttention}'s serving calls (SPEC.md section 8): packed sequences, pool slots,
 * decode by slot, draft and commit. Everything is checked before the backend is called, so a
 * refused call changes nothing.
 */
final class PackedAttention {
    private final ValidatingAttention va;
    private final AttentionBackend backend;
    private final DecayCheck decayCheck;

    PackedAttention(ValidatingAttention va, AttentionBackend backend, DecayCheck decayCheck) {
        this.va = va;
        this.backend = backend;
        this.decayCheck = decayCheck;
    }

    ForwardResult forward(PackedInputs in, AttentionOptions options) {
        PackedShape s = check(in, options);
        List<Tensor> made = new ArrayList<>(2);
        try {
            Tensor out = track(made, backend.allocate(s.dtype(), values(s)));
            Tensor fin = options.returnFinalState() ? track(made, backend.allocate(s.dtype().stateType(), states(s))) : null;
            return new ForwardResult(out, fin, run(s, in, null, null, options, out, fin));
        } catch (RuntimeException | Error e) {
            made.forEach(Tensor::close);
            throw e;
        }
    }

    SavedForward forward(PackedInputs in, AttentionOptions options, Tensor output, Tensor finalState) {
        PackedShape s = check(in, options);
        Map<Tensor, String> seen = inputNames(in);
        va.checkOutput(output, "output", s.dtype(), values(s), seen);
        if (finalState != null) {
            va.checkOutput(finalState, "finalState", s.dtype().stateType(), states(s), seen);
        }
        return run(s, in, null, null, options, output, finalState);
    }

    SavedForward forward(PackedInputs in, PoolSlots states, AttentionOptions options, Tensor output) {
        PackedShape s = check(in, options);
        if (in.initialState() != null) {
            throw new La2ArgumentException("initialState", "a tensor", "null, since the states come from the pool");
        }
        Map<Tensor, String> seen = inputNames(in);
        int[] slots = checkPool(states, s.sequences(), s.heads(), s.keyDim(), s.valueDim(), s.dtype().stateType(), seen);
        HostMemoryCheck.writable(states.pool(), "pool");
        va.checkOutput(output, "output", s.dtype(), values(s), seen);
        return run(s, in, states, slots, options, output, null);
    }

    private SavedForward run(PackedShape s, PackedInputs in, PoolSlots states, int[] slots, AttentionOptions options,
                             Tensor out, Tensor fin) {
        Tensor pool = states == null ? null : states.pool();
        if (options.checkFinite()) {
            FiniteCheck.inputs(in);
            if (pool != null) {
                FiniteCheck.pool(pool, read(states, slots), backend);
            }
        }
        if (pool != null) {
            clearFresh(states, slots, s.stateSize(), s.stateSlice());
        }
        PackedForwardCall call = new PackedForwardCall(s, in.q(), in.k(), in.v(), in.decay(), in.initialState(),
                pool, slots, options.scale(), options.precision(), out, fin);
        if (!options.saveForBackward()) {
            backend.forwardPacked(call);
            return null;
        }
        double[] rates = decayCheck.rates(in.decay());
        AttentionShape shape = asDense(s);
        if (pool == null) {
            Residuals kept = backend.forwardPackedKeeping(call, options.learnableDecay());
            return new SavedForward(va, shape, options, rates, InputStamp.of(in.initialState()), kept, in.offsets(), null);
        }
        // The pool will hold the final states: the backward needs the initial ones, so keep them.
        Tensor read = backend.allocate(s.dtype().stateType(), states(s));
        try {
            for (int i = 0; i < s.sequences(); i++) {
                Tensor into = backend.view(read, i * s.stateSize(), s.stateSlice());
                if (slots[i] < 0) {
                    into.fill(0);
                } else {
                    backend.copy(backend.view(pool, slots[i] * s.stateSize(), s.stateSlice()), into);
                }
            }
            backend.forwardPacked(call);
        } catch (RuntimeException | Error e) {
            read.close();
            throw e;
        }
        return new SavedForward(va, shape, options, rates, InputStamp.of(null), null, in.offsets(), read);
    }

    Gradients backward(PackedInputs in, Tensor dOutput, Tensor dFinalState, AttentionOptions options, SavedForward saved) {
        PackedShape s = checkBackward(in, dOutput, dFinalState, options, saved);
        DType st = s.dtype().stateType();
        List<Tensor> made = new ArrayList<>(5);
        try {
            Gradients g = new Gradients(track(made, backend.allocate(s.dtype(), keys(s))),
                    track(made, backend.allocate(s.dtype(), keys(s))), track(made, backend.allocate(s.dtype(), values(s))),
                    track(made, backend.allocate(st, states(s))),
                    options.learnableDecay() ? track(made, backend.allocate(st, Shape.of(s.heads()))) : null);
            runBackward(s, in, dOutput, dFinalState, options, saved, g);
            return g;
        } catch (RuntimeException | Error e) {
            made.forEach(Tensor::close);
            throw e;
        }
    }

    void backward(PackedInputs in, Tensor dOutput, Tensor dFinalState, AttentionOptions options, SavedForward saved,
                  Gradients into) {
        PackedShape s = checkBackward(in, dOutput, dFinalState, options, saved);
        required(into, "into");
        DType st = s.dtype().stateType();
        Map<Tensor, String> seen = inputNames(in);
        seen.putIfAbsent(dOutput, "dOutput");
        if (dFinalState != null) {
            seen.putIfAbsent(dFinalState, "dFinalState");
        }
        va.checkOutput(into.dq(), "into.dq", s.dtype(), keys(s), seen);
        va.checkOutput(into.dk(), "into.dk", s.dtype(), keys(s), seen);
        va.checkOutput(into.dv(), "into.dv", s.dtype(), values(s), seen);
        va.checkOutput(into.dInitialState(), "into.dInitialState", st, states(s), seen);
        if (options.learnableDecay()) {
            va.checkOutput(into.dDecay(), "into.dDecay", st, Shape.of(s.heads()), seen);
        } else if (into.dDecay() != null) {
            throw new La2ArgumentException("into.dDecay", "a tensor",
                    "null, since options.learnableDecay() is false (set it to get the decay gradient)");
        }
        runBackward(s, in, dOutput, dFinalState, options, saved, into);
    }

    private void runBackward(PackedShape s, PackedInputs in, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                             SavedForward saved, Gradients g) {
        if (options.checkFinite()) {
            FiniteCheck.inputs(in);
            FiniteCheck.packed(dOutput, "dOutput", "e", in.offsets());
            FiniteCheck.state(dFinalState, "dFinalState");
        }
        SavedForward.reading(saved, () -> {
            Tensor initial = saved != null && saved.pooledStates() != null ? saved.pooledStates() : in.initialState();
            backend.backwardPacked(new PackedBackwardCall(s, in.q(), in.k(), in.v(), in.decay(), initial, dOutput,
                    dFinalState, options.scale(), options.precision(), g.dq(), g.dk(), g.dv(), g.dInitialState(), g.dDecay(),
                    saved == null ? null : saved.residuals()));
        });
    }

    void decode(Tensor q, Tensor k, Tensor v, Tensor decay, PoolSlots states, double scale, Tensor output) {
        SlotCall c = checkSlotCall(q, k, v, decay, states, scale, output, false);
        clearFresh(states, c.slots(), c.shape().stateStart(1), c.shape().stateSlice());
        backend.decodeSlots(new SlotDecodeCall(c.shape(), q, k, v, decay, states.pool(), c.slots(), scale, output));
    }

    void draft(Tensor q, Tensor k, Tensor v, Tensor decay, PoolSlots states, double scale, Tensor output) {
        SlotCall c = checkSlotCall(q, k, v, decay, states, scale, output, true);
        backend.draft(new DraftCall(c.shape(), q, k, v, decay, states.pool(), c.slots(), scale, output));
    }

    private record SlotCall(SlotShape shape, int[] slots) {
    }

    /** A decode or draft: tokens, pool and slots, an output shaped like v, a scale its storage allows. */
    private SlotCall checkSlotCall(Tensor q, Tensor k, Tensor v, Tensor decay, PoolSlots states, double scale,
                                   Tensor output, boolean drafts) {
        SlotShape s = slotShape("q", q, k, v, decay, drafts);
        Map<Tensor, String> seen = Aliasing.names(q, k, v, decay);
        int[] slots = checkPool(states, s.sequences(), s.heads(), s.keyDim(), s.valueDim(), s.dtype().stateType(), seen);
        if (drafts && states.freshView() != null) {
            throw new La2ArgumentException("states", "fresh sequences in a draft, which leaves the pool as it was",
                    "no fresh marks (a new sequence's first tokens go through forwardPacked or decodeSlots)");
        }
        if (!drafts) {
            HostMemoryCheck.writable(states.pool(), "pool");
        }
        va.checkOutput(output, "output", s.dtype(), v.shape(), seen);
        AttentionOptions.checkScale(scale, s.dtype());
        return new SlotCall(s, slots);
    }

    void commit(Tensor k, Tensor v, Tensor decay, PoolSlots states, int[] accepted) {
        SlotShape s = slotShape("k", k, k, v, decay, true);
        int[] slots = checkPool(states, s.sequences(), s.heads(), s.keyDim(), s.valueDim(), s.dtype().stateType(),
                Aliasing.names(k, v, decay));
        HostMemoryCheck.writable(states.pool(), "pool");
        required(accepted, "accepted");
        if (accepted.length != s.sequences()) {
            throw new La2ArgumentException("accepted", accepted.length + " counts", s.sequences() + " (one per sequence)");
        }
        int[] counts = accepted.clone();
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] < 0 || counts[i] > s.drafts()) {
                throw new La2ArgumentException("accepted", "accepted[" + i + "] = " + counts[i],
                        "a count from 0 to K = " + s.drafts() + " (the draft tokens per sequence)");
            }
        }
        clearFresh(states, slots, s.stateStart(1), s.stateSlice());
        backend.commit(new CommitCall(s, k, v, decay, states.pool(), slots, counts));
    }

    // ---------------------------------------------------------------- validation

    private PackedShape check(PackedInputs in, AttentionOptions options) {
        va.checkOpen();
        required(in, "inputs");
        required(options, "options");
        Tensor q = va.owned(in.q(), "q");
        Tensor k = va.owned(in.k(), "k");
        Tensor v = va.owned(in.v(), "v");
        Tensor decay = va.owned(in.decay(), "decay");
        SequenceOffsets offsets = required(in.offsets(), "offsets");
        if (q.shape().rank() != 3) {
            throw new La2ArgumentException("q", "shape " + q.shape() + " (rank " + q.shape().rank() + ")",
                    "rank 3, [T, H, D] (packed sequences, token-major)");
        }
        DType dtype = va.storage(q, "q");
        int t = q.shape().dim(0);
        int h = q.shape().dim(1);
        int d = q.shape().dim(2);
        checkSame(k, "k", dtype, q.shape(), "q's shape [T, H, D]");
        if (v.shape().rank() != 3) {
            throw new La2ArgumentException("v", "shape " + v.shape() + " (rank " + v.shape().rank() + ")", "rank 3, [T, H, E]");
        }
        int e = v.shape().dim(2);
        checkSame(v, "v", dtype, Shape.of(t, h, e), "[T, H, E] with T=" + t + ", H=" + h + " as in q");
        va.checkDecay(decay, h, dtype.stateType());
        AttentionOptions.checkScale(options.scale(), dtype);
        if (offsets.tokens() != t) {
            throw new La2ArgumentException("offsets", "a last offset of " + offsets.tokens() + " (" + offsets + ")",
                    "T = " + t + ", the tokens of q: the sequences must add up to the packed tokens");
        }
        PackedShape s = new PackedShape(offsets, h, d, e, dtype);
        if (in.initialState() != null) {
            checkSame(va.owned(in.initialState(), "initialState"), "initialState", dtype.stateType(), states(s),
                    "[S, H, D, E] with S=" + s.sequences());
        }
        return s;
    }

    private PackedShape checkBackward(PackedInputs in, Tensor dOutput, Tensor dFinalState, AttentionOptions options,
                                      SavedForward saved) {
        PackedShape s = check(in, options);
        checkSame(va.owned(dOutput, "dOutput"), "dOutput", s.dtype(), values(s), "the output's shape [T, H, E]");
        if (dFinalState != null) {
            checkSame(va.owned(dFinalState, "dFinalState"), "dFinalState", s.dtype().stateType(), states(s), "[S, H, D, E]");
        }
        if (saved == null) {
            return s;
        }
        va.checkSavedCall(saved, options, in.decay());
        if (saved.offsets() == null || !saved.offsets().equals(in.offsets()) || !saved.shape().equals(asDense(s))) {
            throw new La2ArgumentException("saved", saved.offsets() == null ? "kept by a dense forward"
                    : "kept for " + saved.offsets() + firstDifference(saved.offsets(), in.offsets()) + " of shape "
                    + saved.shape(), "a packed forward on the same offsets and shapes");
        }
        if (saved.pooledStates() != null) {
            if (in.initialState() != null) {
                throw new La2ArgumentException("initialState", "a tensor",
                        "null, since saved holds the initial states its pooled forward read");
            }
        } else if (!saved.initialState().matches(in.initialState())) {
            throw new La2ArgumentException("saved", saved.initialState().isAbsent() ? "kept without an initial state"
                    : "kept with a different initial state", in.initialState() == null ? "a forward call without one"
                    : "the initial state of inputs.initialState(), unchanged since the forward call");
        }
        return s;
    }

    /** q (or k), k, v and decay of a call on pool slots: [S, H, F] for decode, [S, K, H, F] for drafts. */
    private SlotShape slotShape(String leadName, Tensor lead, Tensor k, Tensor v, Tensor decay, boolean drafts) {
        va.checkOpen();
        va.owned(lead, leadName);
        va.owned(k, "k");
        va.owned(v, "v");
        va.owned(decay, "decay");
        int rank = drafts ? 4 : 3;
        String axes = drafts ? "[S, K, H, D]" : "[S, H, D]";
        if (lead.shape().rank() != rank) {
            throw new La2ArgumentException(leadName, "shape " + lead.shape() + " (rank " + lead.shape().rank() + ")",
                    "rank " + rank + ", " + axes);
        }
        DType dtype = va.storage(lead, leadName);
        int sequences = lead.shape().dim(0);
        int tokens = drafts ? lead.shape().dim(1) : 1;
        int h = lead.shape().dim(rank - 2);
        int d = lead.shape().dim(rank - 1);
        checkSame(k, "k", dtype, lead.shape(), leadName + "'s shape " + axes);
        if (v.shape().rank() != rank) {
            throw new La2ArgumentException("v", "shape " + v.shape() + " (rank " + v.shape().rank() + ")",
                    "rank " + rank + ", " + axes.replace('D', 'E'));
        }
        int e = v.shape().dim(rank - 1);
        Shape vShape = drafts ? Shape.of(sequences, tokens, h, e) : Shape.of(sequences, h, e);
        checkSame(v, "v", dtype, vShape, axes.replace('D', 'E') + " as in " + leadName);
        va.checkDecay(decay, h, dtype.stateType());
        return new SlotShape(sequences, tokens, h, d, e, dtype);
    }

    /** The pool [P, H, D, E] and one slot per sequence: each in [-1, P), none named twice. Returns a copy. */
    private int[] checkPool(PoolSlots states, int sequences, int h, int d, int e, DType type, Map<Tensor, String> seen) {
        required(states, "states");
        Tensor pool = va.owned(states.pool(), "pool");
        Shape ps = pool.shape();
        if (ps.rank() != 4 || ps.dim(1) != h || ps.dim(2) != d || ps.dim(3) != e) {
            throw new La2ArgumentException("pool", "shape " + ps, "[P, " + h + ", " + d + ", " + e + "] ([P, H, D, E])");
        }
        if (pool.dtype() != type) {
            throw new La2ArgumentException("pool", "dtype " + pool.dtype(), "dtype " + type);
        }
        String shared = Aliasing.sharedWith(pool, seen);
        if (shared != null) {
            throw new La2ArgumentException("pool", shared, "a tensor of its own");
        }
        seen.put(pool, "pool");
        int[] slots = required(states.slotsView(), "slots").clone();
        if (slots.length != sequences) {
            throw new La2ArgumentException("slots", slots.length + " slots", sequences + " (one per sequence)");
        }
        boolean[] fresh = states.freshView();
        if (fresh != null && fresh.length != sequences) {
            throw new La2ArgumentException("fresh", fresh.length + " marks", sequences + " (one per sequence)");
        }
        int p = ps.dim(0);
        // Sized by the call, not the pool: a decode step over a few slots of a large pool stays O(S).
        Map<Integer, Integer> namedBy = new HashMap<>(2 * slots.length);
        for (int i = 0; i < slots.length; i++) {
            int slot = slots[i];
            if (slot < -1 || slot >= p) {
                throw new La2ArgumentException("slots", "slots[" + i + "] = " + slot,
                        "a slot from 0 to P-1 = " + (p - 1) + ", or -1 for none");
            }
            if (slot >= 0) {
                Integer first = namedBy.putIfAbsent(slot, i);
                if (first != null) {
                    throw new La2ArgumentException("slots", "slot " + slot + " at slots[" + first + "] and slots[" + i
                            + "]", "each slot named by at most one sequence of a call");
                }
            }
        }
        return slots;
    }

    /** The slots the call reads: those of sequences not marked fresh. */
    private static int[] read(PoolSlots states, int[] slots) {
        boolean[] fresh = states.freshView();
        if (fresh == null) {
            return slots;
        }
        int[] read = slots.clone();
        for (int i = 0; i < read.length; i++) {
            if (fresh[i]) {
                read[i] = -1;
            }
        }
        return read;
    }

    /**
     * Zeroes the slots of the sequences marked fresh, once every check has passed: each then starts
     * from a zero state and the call writes its state back in place, as for any slot. Through the
     * backend's views, as the pooled forward's kept initial states.
     */
    private void clearFresh(PoolSlots states, int[] slots, long stateSize, Shape stateSlice) {
        boolean[] fresh = states.freshView();
        if (fresh == null) {
            return;
        }
        for (int i = 0; i < slots.length; i++) {
            if (fresh[i] && slots[i] >= 0) {
                backend.view(states.pool(), slots[i] * stateSize, stateSlice).fill(0);
            }
        }
    }

    private static Map<Tensor, String> inputNames(PackedInputs in) {
        Map<Tensor, String> seen = Aliasing.names(in.q(), in.k(), in.v(), in.decay());
        if (in.initialState() != null) {
            seen.putIfAbsent(in.initialState(), "initialState");
        }
        return seen;
    }

    /** A packed call as SavedForward records shapes: S, H, T, D, E. */
    private static AttentionShape asDense(PackedShape s) {
        return new AttentionShape(s.sequences(), s.heads(), s.tokens(), s.keyDim(), s.valueDim(), Layout.BNHD, s.dtype());
    }

    private static Shape keys(PackedShape s) {
        return Shape.of(s.tokens(), s.heads(), s.keyDim());
    }

    private static Shape values(PackedShape s) {
        return Shape.of(s.tokens(), s.heads(), s.valueDim());
    }

    private static Shape states(PackedShape s) {
        return Shape.of(s.sequences(), s.heads(), s.keyDim(), s.valueDim());
    }

    /** Where offsets of as many sequences differ (", whose sequence 2 has 5 tokens, not 3"); else "". */
    private static String firstDifference(SequenceOffsets kept, SequenceOffsets given) {
        if (kept.sequences() != given.sequences()) {
            return "";
        }
        for (int i = 0; i < kept.sequences(); i++) {
            if (kept.length(i) != given.length(i)) {
                return ", whose sequence " + i + " has " + kept.length(i) + " tokens, not " + given.length(i);
            }
        }
        return "";
    }
}
