package dev.la2.spi;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.Arrays;
import java.util.Objects;

/**
 * The default packed and slot calls of {@link AttentionBackend}: each sequence runs as the
 * backend's own dense call on views of the packed tensors and of the pool (SPEC.md section 8), so
 * every backend that can view its tensors is correct without code of its own. A sequence of
 * tokens offsets[i]..offsets[i+1] of a token-major [T, H, F] tensor is a contiguous [1, len, H, F]
 * tensor in layout BNHD; a pool slot is a contiguous [1, H, D, E] tensor.
 */
final class PerSequence {
    private PerSequence() {
    }

    /** The packed forward; keeps each sequence's residuals when {@code keep}, else returns null. */
    static Residuals forward(AttentionBackend b, PackedForwardCall c, boolean keep, boolean forDecayGradient) {
        PackedShape s = c.shape();
        Residuals[] kept = keep ? new Residuals[s.sequences()] : null;
        // A pooled sequence's initial state is copied out of its slot first: the dense call then
        // writes the final state into the slot without reading what it overwrites.
        Tensor start = c.pool() == null ? null : b.allocate(s.dtype().stateType(), s.stateSlice());
        try {
            for (int i = 0; i < s.sequences(); i++) {
                Tensor initial;
                Tensor fin;
                if (c.pool() != null) {
                    int slot = c.slots()[i];
                    if (s.length(i) == 0) {
                        continue; // the slot already holds the final state
                    }
                    initial = slot < 0 ? null : start;
                    fin = slot < 0 ? null : b.view(c.pool(), slot * s.stateSize(), s.stateSlice());
                    if (initial != null) {
                        b.copy(fin, initial);
                    }
                } else {
                    initial = c.initialState() == null ? null : b.view(c.initialState(), i * s.stateSize(), s.stateSlice());
                    fin = c.finalState() == null ? null : b.view(c.finalState(), i * s.stateSize(), s.stateSlice());
                    if (s.length(i) == 0) {
                        passThrough(b, initial, fin);
                        continue;
                    }
                }
                ForwardCall call = new ForwardCall(s.sequence(i),
                        b.view(c.q(), s.keyStart(i), s.keySlice(i)), b.view(c.k(), s.keyStart(i), s.keySlice(i)),
                        b.view(c.v(), s.valueStart(i), s.valueSlice(i)), c.decay(), initial, c.scale(), c.precision(),
                        b.view(c.output(), s.valueStart(i), s.valueSlice(i)), fin);
                if (keep) {
                    kept[i] = b.forwardKeeping(call, forDecayGradient);
                } else {
                    b.forward(call);
                }
            }
            // where the dense calls kept nothing, neither does the packed one (holdsStates() false)
            return keep && Arrays.stream(kept).anyMatch(Objects::nonNull) ? new SequenceResiduals(kept) : null;
        } catch (RuntimeException | Error e) {
            if (keep) {
                new SequenceResiduals(kept).close();
            }
            throw e;
        } finally {
            if (start != null) {
                start.close();
            }
        }
    }

    /** The packed backward; dDecay is the sum over sequences of each one's, added in float64. */
    static void backward(AttentionBackend b, PackedBackwardCall c) {
        PackedShape s = c.shape();
        DType stateType = s.dtype().stateType();
        double[] dDecay = c.dDecay() == null ? null : new double[s.heads()];
        Tensor part = c.dDecay() == null ? null : b.allocate(stateType, Shape.of(s.heads()));
        try {
            for (int i = 0; i < s.sequences(); i++) {
                Tensor initial = c.initialState() == null ? null : b.view(c.initialState(), i * s.stateSize(), s.stateSlice());
                Tensor dFinal = c.dFinalState() == null ? null : b.view(c.dFinalState(), i * s.stateSize(), s.stateSlice());
                Tensor dInitial = b.view(c.dInitialState(), i * s.stateSize(), s.stateSlice());
                if (s.length(i) == 0) {
                    passThrough(b, dFinal, dInitial);
                    continue;
                }
                Residuals kept = c.residuals() instanceof SequenceResiduals r ? r.part(i) : null;
                b.backward(new BackwardCall(s.sequence(i),
                        b.view(c.q(), s.keyStart(i), s.keySlice(i)), b.view(c.k(), s.keyStart(i), s.keySlice(i)),
                        b.view(c.v(), s.valueStart(i), s.valueSlice(i)), c.decay(), initial,
                        b.view(c.dOutput(), s.valueStart(i), s.valueSlice(i)), dFinal, c.scale(), c.precision(),
                        b.view(c.dq(), s.keyStart(i), s.keySlice(i)), b.view(c.dk(), s.keyStart(i), s.keySlice(i)),
                        b.view(c.dv(), s.valueStart(i), s.valueSlice(i)), dInitial, part, kept));
                if (dDecay != null) {
                    double[] got = part.toDoubleArray();
                    for (int h = 0; h < got.length; h++) {
                        dDecay[h] += got[h];
                    }
                }
            }
            if (dDecay != null) {
                c.dDecay().copyFrom(dDecay);
            }
        } finally {
            if (part != null) {
                part.close();
            }
        }
    }

    static void decode(AttentionBackend b, SlotDecodeCall c) {
        SlotShape s = c.shape();
        Shape keyRow = Shape.of(1, s.heads(), s.keyDim());
        Shape valueRow = Shape.of(1, s.heads(), s.valueDim());
        for (int i = 0; i < s.sequences(); i++) {
            Tensor out = b.view(c.output(), s.valueRow(i, 0), valueRow);
            int slot = c.slots()[i];
            if (slot < 0) {
                out.fill(0);
                continue;
            }
            b.decode(new DecodeCall(1, s.heads(), s.keyDim(), s.valueDim(), s.dtype(),
                    b.view(c.q(), s.keyRow(i, 0), keyRow), b.view(c.k(), s.keyRow(i, 0), keyRow),
                    b.view(c.v(), s.valueRow(i, 0), valueRow), c.decay(),
                    b.view(c.pool(), s.stateStart(slot), s.stateSlice()), c.scale(), out));
        }
    }

    /** Each sequence's drafts as a forward from its slot, which it reads and does not write. */
    static void draft(AttentionBackend b, DraftCall c) {
        SlotShape s = c.shape();
        AttentionShape one = new AttentionShape(1, s.heads(), s.drafts(), s.keyDim(), s.valueDim(),
                Layout.BNHD, s.dtype());
        for (int i = 0; i < s.sequences(); i++) {
            Tensor out = b.view(c.output(), s.valueRow(i, 0), s.valueTokens());
            int slot = c.slots()[i];
            if (slot < 0) {
                out.fill(0);
                continue;
            }
            b.forward(new ForwardCall(one, b.view(c.q(), s.keyRow(i, 0), s.keyTokens()),
                    b.view(c.k(), s.keyRow(i, 0), s.keyTokens()), b.view(c.v(), s.valueRow(i, 0), s.valueTokens()),
                    c.decay(), b.view(c.pool(), s.stateStart(slot), s.stateSlice()), c.scale(),
                    Precision.STRICT, out, null));
        }
    }

    /** Each slot advanced by its accepted tokens, one decode step each; their outputs go to scratch. */
    static void commit(AttentionBackend b, CommitCall c) {
        SlotShape s = c.shape();
        Shape keyRow = Shape.of(1, s.heads(), s.keyDim());
        Shape valueRow = Shape.of(1, s.heads(), s.valueDim());
        try (Tensor scratch = b.allocate(s.dtype(), valueRow)) {
            for (int i = 0; i < s.sequences(); i++) {
                int slot = c.slots()[i];
                if (slot < 0) {
                    continue;
                }
                Tensor state = b.view(c.pool(), s.stateStart(slot), s.stateSlice());
                for (int j = 0; j < c.accepted()[i]; j++) {
                    Tensor key = b.view(c.k(), s.keyRow(i, j), keyRow);
                    b.decode(new DecodeCall(1, s.heads(), s.keyDim(), s.valueDim(), s.dtype(), key, key,
                            b.view(c.v(), s.valueRow(i, j), valueRow), c.decay(), state, 1.0, scratch));
                }
            }
        }
    }

    /** A zero-length sequence: {@code to} (when wanted) becomes {@code from}, or zero where that is null. */
    private static void passThrough(AttentionBackend b, Tensor from, Tensor to) {
        if (to == null) {
            return;
        }
        if (from == null) {
            to.fill(0);
        } else {
            b.copy(from, to);
        }
    }
}
