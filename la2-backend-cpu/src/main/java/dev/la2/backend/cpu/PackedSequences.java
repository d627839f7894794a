package dev.la2.backend.cpu;

import dev.la2.api.Tensor;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import dev.la2.spi.PackedBackwardCall;
import dev.la2.spi.PackedForwardCall;
import dev.la2.spi.PackedShape;
import java.util.ArrayList;
import java.util.List;

/**
 * A packed forward or backward (SPEC.md section 8) as one dense call per sequence on views of the
 * packed tensors, for {@link TiledForward} and {@link TiledBackward} to run together. Each
 * sequence's threads are its share of the tokens, so a sequence is cut into segments only where it
 * would otherwise hold up the others. A zero-length sequence is no call: its state (or state
 * gradient) passes through here (in a pool, its slot is left as it is). The calls are the
 * non-empty sequences in order, in the forward and the backward alike.
 */
final class PackedSequences {
    private PackedSequences() {
    }

    /** The non-empty sequences' dense calls, in order; the empty ones' states are passed through. */
    static List<ForwardCall> forward(PackedForwardCall c) {
        PackedShape s = c.shape();
        List<ForwardCall> calls = new ArrayList<>(s.sequences());
        for (int i = 0; i < s.sequences(); i++) {
            Tensor initial;
            Tensor fin;
            if (c.pool() != null) {
                int slot = c.slots()[i];
                // In place: every sequence reads its initial state before any final state is written.
                initial = slot < 0 ? null : view(c.pool(), slot * s.stateSize(), s);
                fin = initial;
            } else {
                initial = view(c.initialState(), i * s.stateSize(), s);
                fin = view(c.finalState(), i * s.stateSize(), s);
            }
            if (s.length(i) == 0) {
                if (c.pool() == null) {
                    passThrough(initial, fin);
                }
                continue;
            }
            calls.add(new ForwardCall(s.sequence(i), keys(c.q(), s, i), keys(c.k(), s, i), values(c.v(), s, i),
                    c.decay(), initial, c.scale(), c.precision(), values(c.output(), s, i), fin));
        }
        return calls;
    }

    /**
     * The non-empty sequences' dense backward calls, in order, without a decay gradient or
     * residuals (the caller sums the one and hands each part its share of the other); an empty
     * sequence's dInitialState is its dFinalState, or zero.
     */
    static List<BackwardCall> backward(PackedBackwardCall c) {
        PackedShape s = c.shape();
        List<BackwardCall> calls = new ArrayList<>(s.sequences());
        for (int i = 0; i < s.sequences(); i++) {
            Tensor dFinal = view(c.dFinalState(), i * s.stateSize(), s);
            Tensor dInitial = view(c.dInitialState(), i * s.stateSize(), s);
            if (s.length(i) == 0) {
                passThrough(dFinal, dInitial);
                continue;
            }
            calls.add(new BackwardCall(s.sequence(i), keys(c.q(), s, i), keys(c.k(), s, i), values(c.v(), s, i),
                    c.decay(), view(c.initialState(), i * s.stateSize(), s), values(c.dOutput(), s, i), dFinal,
                    c.scale(), c.precision(), keys(c.dq(), s, i), keys(c.dk(), s, i), values(c.dv(), s, i), dInitial,
                    null, null));
        }
        return calls;
    }

    /** Threads for a sequence of {@code length} of {@code total} tokens: its share, at least one. */
    static int threadShare(int threads, int length, int total) {
        return (int) Math.max(1, ((long) threads * length + total - 1) / total);
    }

    /** {@code to} (when wanted) becomes {@code from}, or zero where that is null. */
    private static void passThrough(Tensor from, Tensor to) {
        if (to == null) {
            return;
        }
        if (from == null) {
            to.fill(0);
        } else {
            to.copyFrom(((HostTensor) from).segment());
        }
    }

    /** One state [1, H, D, E] at element {@code offset} of {@code t}; null when t is. */
    private static Tensor view(Tensor t, long offset, PackedShape s) {
        return t == null ? null : ((HostTensor) t).view(offset, s.stateSlice());
    }

    /** Sequence i's rows of a [T, H, D] tensor. */
    private static Tensor keys(Tensor t, PackedShape s, int i) {
        return ((HostTensor) t).view(s.keyStart(i), s.keySlice(i));
    }

    /** Sequence i's rows of a [T, H, E] tensor. */
    private static Tensor values(Tensor t, PackedShape s, int i) {
        return ((HostTensor) t).view(s.valueStart(i), s.valueSlice(i));
    }
}
