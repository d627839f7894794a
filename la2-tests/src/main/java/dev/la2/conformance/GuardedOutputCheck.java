package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.PoolSlots;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Outputs in caller memory ({@link LightningAttention#wrap}) between guard bands: a forward, a
 * backward and a decode write exactly their outputs' elements and nothing on either side, where a
 * tail tile or a full-width vector store past the end would overwrite whatever the caller keeps
 * next to them; the same for a packed forward, a pool that pooled calls update in place and a
 * decode by slot. Only host backends can wrap caller memory; the kit leaves this family out for the
 * others.
 */
record GuardedOutputCheck(LightningAttention la) {
    /** Bytes of guard on each side: more than any vector register or tile row a backend stores. */
    private static final int GUARD = 256;
    private static final byte SENTINEL = (byte) 0x5A;

    /** One output: the tensor viewing the middle of {@code memory}, guard bands around it. */
    private record Guarded(String name, MemorySegment memory, Tensor tensor) {
        void assertGuardsIntact(String context) {
            long end = memory.byteSize() - GUARD;
            for (long i = 0; i < memory.byteSize(); i++) {
                if (i == GUARD) {
                    i = end;
                }
                byte b = memory.get(ValueLayout.JAVA_BYTE, i);
                if (b != SENTINEL) {
                    String where = i < GUARD ? "byte " + (GUARD - i) + " before"
                            : "byte " + (i - end + 1) + " past the end of";
                    throw new AssertionError(context + ": the call wrote " + where + " its " + name + " (a "
                            + tensor.dtype() + " " + tensor.shape() + " tensor in caller memory)");
                }
            }
        }
    }

    /** Whether {@code la} computes on caller memory, so that this family applies. */
    static boolean applies(LightningAttention la) {
        try (Arena arena = Arena.ofConfined()) {
            return la.wrap(arena.allocate(Float.BYTES), DType.FP32, Shape.of(1)).isPresent();
        }
    }

    void outputs(Configuration cfg, Case c, SplittableRandom rng, String context) {
        DType state = cfg.dtype().stateType();
        try (Fixture f = cfg.fixture(la, c, rng); Arena arena = Arena.ofShared()) {
            List<Guarded> all = new ArrayList<>();
            Tensor out = guarded(arena, all, "output", cfg.dtype(), f.sequenceShape(c.valueDim()));
            Tensor fin = guarded(arena, all, "final state", state, f.stateShape());
            la.forward(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = f.oracle();
            Check.close("output in caller memory", f.held(out, c.valueDim()), ref.output(), f.tolerance(), context);
            Check.close("final state in caller memory", fin.toDoubleArray(), ref.finalState(), f.tolerance(), context);

            Tensor dOut = f.sequence(Fixture.gaussian(rng, f.valueCount(), 1), c.valueDim());
            Gradients into = new Gradients(guarded(arena, all, "dq", cfg.dtype(), f.sequenceShape(c.keyDim())),
                    guarded(arena, all, "dk", cfg.dtype(), f.sequenceShape(c.keyDim())),
                    guarded(arena, all, "dv", cfg.dtype(), f.sequenceShape(c.valueDim())),
                    guarded(arena, all, "dInitialState", state, f.stateShape()),
                    c.learnableDecay() ? guarded(arena, all, "dDecay", state, Shape.of(c.heads())) : null);
            la.backward(f.inputs(), dOut, null, f.options(), into);
            ReferenceMath.Backward g = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld,
                    f.s0Held, f.held(dOut, c.valueDim()), null, c.scale());
            GradientChecks.compare(f.held(into.dq(), c.keyDim()), f.held(into.dk(), c.keyDim()),
                    f.held(into.dv(), c.valueDim()), into.dInitialState().toDoubleArray(),
                    into.dDecay() == null ? null : into.dDecay().toDoubleArray(), g, f.tolerance(), context);

            Shape keys = Shape.of(c.batch(), c.heads(), c.keyDim());
            Shape values = Shape.of(c.batch(), c.heads(), c.valueDim());
            int seqs = c.batch() * c.heads();
            Tensor decoded = guarded(arena, all, "decode output", cfg.dtype(), values);
            Tensor decodeState = guarded(arena, all, "decode state", state, f.stateShape());
            decodeState.copyFrom(f.s0Held != null ? f.s0Held : new double[f.stateCount()]);
            double[] q1 = Fixture.tokens(f.qHeld, seqs, c.tokens(), c.keyDim(), 0, 1);
            double[] k1 = Fixture.tokens(f.kHeld, seqs, c.tokens(), c.keyDim(), 0, 1);
            double[] v1 = Fixture.tokens(f.vHeld, seqs, c.tokens(), c.valueDim(), 0, 1);
            la.decode(f.track(la.tensor(q1, cfg.dtype(), keys)), f.track(la.tensor(k1, cfg.dtype(), keys)),
                    f.track(la.tensor(v1, cfg.dtype(), values)), f.decay, decodeState, c.scale(), decoded);
            ReferenceMath.Forward step = ReferenceMath.forwardRecurrent(new Problem(c.batch(), c.heads(), 1, c.keyDim(),
                    c.valueDim()), q1, k1, v1, f.decayHeld, f.s0Held, c.scale());
            Check.close("decode output in caller memory", decoded.toDoubleArray(), step.output(), f.tolerance(), context);
            Check.close("decode state in caller memory", decodeState.toDoubleArray(), step.finalState(), f.tolerance(),
                    context);
            for (Guarded x : all) {
                x.assertGuardsIntact(context);
            }
        }
    }

    /**
     * The serving calls (SPEC.md section 8) into caller memory: a packed forward's output and final
     * states, then a pool in caller memory that a pooled forward and a decode by slot update in place,
     * naming its last slot, and their outputs. {@code c} has no initial state (a pool replaces it).
     */
    void packed(Configuration cfg, PackedCase c, SplittableRandom rng, String context) {
        DType state = cfg.dtype().stateType();
        int s = c.sequences();
        try (PackedFixture f = PackedFixture.random(la, cfg, c, rng); Arena arena = Arena.ofShared()) {
            List<Guarded> all = new ArrayList<>();
            Tensor out = guarded(arena, all, "packed output", cfg.dtype(), f.values());
            Tensor fin = guarded(arena, all, "packed final states", state, f.states(s));
            la.forwardPacked(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = PackedReference.forward(f.reference(null));
            Check.close("packed output in caller memory", out.toDoubleArray(), ref.output(), f.tolerance(), context);
            Check.close("packed final states in caller memory", fin.toDoubleArray(), ref.finalState(), f.tolerance(),
                    context);

            int[] slots = new int[s];
            for (int i = 0; i < s; i++) {
                slots[i] = s + 2 - 2 * i; // every other slot, the pool's last one first
            }
            Tensor poolTensor = guarded(arena, all, "pool", state, f.states(s + 3));
            poolTensor.copyFrom(f.randomStates(rng, s + 3));
            SlotChecks.Pool pool = new SlotChecks.Pool(poolTensor, poolTensor.toDoubleArray(), slots);
            Tensor pooled = guarded(arena, all, "pooled output", cfg.dtype(), f.values());
            la.forwardPacked(f.inputs(), PoolSlots.of(poolTensor, slots), f.options(), pooled);
            ReferenceMath.Forward fromPool = PackedReference.forward(f.reference(SlotChecks.initial(pool, f.stateSize())));
            Check.close("pooled output in caller memory", pooled.toDoubleArray(), fromPool.output(), f.tolerance(), context);
            Check.close("pool in caller memory", poolTensor.toDoubleArray(),
                    SlotChecks.written(pool, fromPool.finalState(), f.stateSize()), f.tolerance(), context);

            double std = 1 / Math.sqrt(c.keyDim());
            Shape keys = Shape.of(s, c.heads(), c.keyDim());
            Tensor decoded = guarded(arena, all, "decode-by-slot output", cfg.dtype(), Shape.of(s, c.heads(), c.valueDim()));
            la.decodeSlots(f.upload(Fixture.gaussian(rng, s * c.heads() * c.keyDim(), std), cfg.dtype(), keys),
                    f.upload(Fixture.gaussian(rng, s * c.heads() * c.keyDim(), std), cfg.dtype(), keys),
                    f.upload(Fixture.gaussian(rng, s * c.heads() * c.valueDim(), 1), cfg.dtype(), decoded.shape()),
                    f.decay, PoolSlots.of(poolTensor, slots), c.scale(), decoded);
            for (Guarded x : all) {
                x.assertGuardsIntact(context);
            }
        }
    }

    /** A NaN-poisoned {@code type} tensor of {@code shape} in the middle of guarded caller memory. */
    private Tensor guarded(Arena arena, List<Guarded> all, String name, DType type, Shape shape) {
        long bytes = shape.elementCount() * type.byteSize();
        // An element-aligned offset that is not a multiple of a vector's width.
        MemorySegment memory = arena.allocate(GUARD + bytes + GUARD + type.byteSize(), 64)
                .asSlice(type.byteSize(), GUARD + bytes + GUARD);
        memory.fill(SENTINEL);
        Tensor t = la.wrap(memory.asSlice(GUARD, bytes), type, shape).orElseThrow();
        t.fill(Double.NaN);
        all.add(new Guarded(name, memory, t));
        return t;
    }
}
