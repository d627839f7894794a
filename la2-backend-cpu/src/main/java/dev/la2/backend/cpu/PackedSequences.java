package dev.la2.backend.cpu;

import dev.la2.api.Tensor;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import dev.la2.spi.PackedForwardCall;
import dev.la2.spi.PackedShape;
import java.util.ArrayList;
import java.util.List;

/**
 * A packed forward (SPEC.md section 8) as one dense call per sequence on views of the packed
 * tensors, for {@link TiledForward} to run together. Each sequence's threads are its share of the
 * tokens, so a sequence is cut into segments only where it would otherwise hold up the others.
 * A zero-length sequence is no call: its state passes through here (in a pool, its slot is left as
 * it is).
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
                initial = c.initialState() == null ? null : view(c.initialState(), i * s.stateSize(), s);
                fin = c.finalState() == null ? null : view(c.finalState(), i * s.stateSize(), s);
            }
            if (s.length(i) == 0) {
                if (c.pool() == null && fin != null) {
                    if (initial == null) {
                        fin.fill(0);
                    } else {
                        fin.copyFrom(((HostTensor) initial).segment());
                    }
                }
                continue;
            }
            calls.add(new ForwardCall(s.sequence(i),
                    ((HostTensor) c.q()).view(s.keyStart(i), s.keySlice(i)),
                    ((HostTensor) c.k()).view(s.keyStart(i), s.keySlice(i)),
                    ((HostTensor) c.v()).view(s.valueStart(i), s.valueSlice(i)), c.decay(), initial, c.scale(),
                    c.precision(), ((HostTensor) c.output()).view(s.valueStart(i), s.valueSlice(i)), fin));
        }
        return calls;
    }

    /** Threads for a sequence of {@code length} of {@code total} tokens: its share, at least one. */
    static int threadShare(int threads, int length, int total) {
        return (int) Math.max(1, ((long) threads * length + total - 1) / total);
    }

    private static Tensor view(Tensor t, long offset, PackedShape s) {
        return ((HostTensor) t).view(offset, s.stateSlice());
    }
}
