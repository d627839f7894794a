package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ReferenceProvider;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import dev.la2.spi.BackendProvider;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import dev.la2.spi.PackedForwardCall;
import dev.la2.spi.Residuals;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * A test-only backend ("faulty", registered only in src/test) that proves the kit can fail: the
 * float64 reference for FP32 with one deliberate bug chosen by the option {@value #BUG}, or none.
 */
public final class FaultyProvider implements BackendProvider {
    static final String NAME = "faulty";
    static final String BUG = "faulty.bug";

    enum Bug {
        NONE,
        /** Forward as if every call started from a zero state. */
        IGNORE_INITIAL_STATE,
        /** Forward leaves the output's last element as it found it. */
        SKIP_LAST_OUTPUT_ELEMENT,
        /** Backward returns the decay gradient with the wrong sign. */
        FLIP_DECAY_GRADIENT,
        /** Forward outputs 3e-5 too large: small, but three times the fp32 tolerance. */
        OUTPUT_TOO_LARGE_BY_3E_5,
        /** The created instance stores FP64 where the provider reports FP32 (every case still passes). */
        STORES_FP64_NOT_FP32,
        /** Forward in token-major layout with B > 1 and D >= 64 gives every batch element batch 0's output. */
        BATCH_STRIDE_OF_WIDE_TOKEN_MAJOR_HEADS,
        /** Forward starts every batch element from batch 0's initial state. */
        INITIAL_STATE_OF_FIRST_BATCH,
        /** Backward computes as if the scale were 1. */
        BACKWARD_IGNORES_SCALE,
        /** What a forward kept serves one backward; a second one gets dq as if the kept states were zero. */
        KEPT_STATES_READ_ONCE,
        /** Forward writes one float past the end of an output in caller memory. */
        WRITES_PAST_OUTPUT_END,
        /**
         * Forward, backward and decode stage their output (dq for the backward) in one buffer of the
         * instance: right one call at a time, corrupted when calls overlap.
         */
        SHARED_WORKSPACE,
        /** As {@link #SHARED_WORKSPACE}, but a call that finds the buffer in use throws IllegalStateException. */
        REFUSES_OVERLAPPING_CALLS,
        /**
         * Forward with fewer sequences (B*H) than the instance has threads, where a CPU backend cuts
         * sequences between threads, decays 1% too fast: an error at the joins of the pieces.
         */
        WRONG_WHEN_THREADS_OUTNUMBER_SEQUENCES,
        /** A backward from states kept without a learnable decay leaves the decay gradient it asks for zero. */
        NO_DECAY_GRADIENT_FROM_STATES_KEPT_WITHOUT_IT,
        /** A packed forward writes one float past the end of its output in caller memory. */
        WRITES_PAST_PACKED_OUTPUT_END
    }

    /** What the provider reports and, but for {@link Bug#STORES_FP64_NOT_FP32}, what its instances store. */
    private static final Set<DType> DTYPES = Set.of(DType.FP32);

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return -2000; // never chosen automatically
    }

    @Override
    public Set<DType> dtypes() {
        return DTYPES;
    }

    @Override
    public Availability probe() {
        return new Availability.Available("test double: the reference with a deliberate bug");
    }

    @Override
    public AttentionBackend create(BackendOptions options) {
        Bug bug = Bug.valueOf(options.properties().getOrDefault(BUG, "NONE"));
        return new Faulty(new ReferenceProvider().create(options), bug, options.effectiveThreads(),
                Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>())), new Workspace());
    }

    /** What {@link Bug#KEPT_STATES_READ_ONCE}'s forward keeps: whether a backward has read it. */
    private static final class ReadOnce implements Residuals {
        private final AtomicBoolean read = new AtomicBoolean();

        @Override
        public long byteSize() {
            return 0;
        }

        @Override
        public void close() {
        }
    }

    /** What {@link Bug#NO_DECAY_GRADIENT_FROM_STATES_KEPT_WITHOUT_IT}'s forward keeps: whether it kept them for a decay gradient. */
    private record KeptFor(boolean decayGradient) implements Residuals {
        @Override
        public long byteSize() {
            return 0;
        }

        @Override
        public void close() {
        }
    }

    /**
     * The one buffer of an instance that {@link Bug#SHARED_WORKSPACE} and {@link Bug#REFUSES_OVERLAPPING_CALLS}
     * stage results in, unguarded, as a backend keeping per-call scratch in a field does.
     */
    private static final class Workspace {
        /** Large enough for every result of the kit's concurrent calls, so that they all share it. */
        private double[] values = new double[1 << 16];
        private final AtomicBoolean busy = new AtomicBoolean();

        /** {@code t}'s values copied here and back, with a pause between in which another call may overwrite them. */
        void stage(Tensor t, boolean refuseOverlap) {
            if (refuseOverlap && !busy.compareAndSet(false, true)) {
                throw new IllegalStateException("faulty: the instance's workspace is in use by another call");
            }
            try {
                double[] own = t.toDoubleArray();
                if (values.length < own.length) {
                    values = new double[own.length];
                }
                double[] shared = values;
                System.arraycopy(own, 0, shared, 0, own.length);
                LockSupport.parkNanos(2_000_000);
                t.copyFrom(Arrays.copyOf(shared, own.length));
            } finally {
                if (refuseOverlap) {
                    busy.set(false);
                }
            }
        }
    }

    /**
     * {@code threads}: the instance's worker threads; {@code wrapped}: the tensors viewing caller
     * memory, the only ones {@link Bug#WRITES_PAST_OUTPUT_END} overruns; {@code workspace}: what
     * {@link Bug#SHARED_WORKSPACE} shares between calls.
     */
    private record Faulty(AttentionBackend delegate, Bug bug, int threads, Set<Tensor> wrapped, Workspace workspace)
            implements AttentionBackend {
        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Set<DType> dtypes() {
            return bug == Bug.STORES_FP64_NOT_FP32 ? Set.of(DType.FP64) : DTYPES;
        }

        @Override
        public Set<Precision> precisions() {
            return EnumSet.of(Precision.STRICT);
        }

        @Override
        public Tensor allocate(DType dtype, Shape shape) {
            return delegate.allocate(dtype, shape);
        }

        @Override
        public Optional<Tensor> wrap(MemorySegment memory, DType dtype, Shape shape) {
            Optional<Tensor> t = delegate.wrap(memory, dtype, shape);
            t.ifPresent(wrapped::add);
            return t;
        }

        @Override
        public boolean owns(Tensor tensor) {
            return delegate.owns(tensor);
        }

        @Override
        public Tensor view(Tensor t, long elementOffset, Shape shape) {
            return delegate.view(t, elementOffset, shape);
        }

        @Override
        public void forward(ForwardCall c) {
            switch (bug) {
                case IGNORE_INITIAL_STATE -> delegate.forward(new ForwardCall(c.shape(), c.q(), c.k(), c.v(), c.decay(),
                        null, c.scale(), c.precision(), c.output(), c.finalState()));
                case SKIP_LAST_OUTPUT_ELEMENT -> {
                    try (Tensor scratch = delegate.allocate(c.output().dtype(), c.output().shape())) {
                        delegate.forward(new ForwardCall(c.shape(), c.q(), c.k(), c.v(), c.decay(), c.initialState(),
                                c.scale(), c.precision(), scratch, c.finalState()));
                        double[] values = scratch.toDoubleArray();
                        HostTensor out = (HostTensor) c.output();
                        for (int i = 0; i < values.length - 1; i++) {
                            out.set(i, values[i]);
                        }
                    }
                }
                case OUTPUT_TOO_LARGE_BY_3E_5 -> {
                    delegate.forward(c);
                    double[] values = c.output().toDoubleArray();
                    for (int i = 0; i < values.length; i++) {
                        values[i] *= 1 + 3e-5;
                    }
                    c.output().copyFrom(values);
                }
                case BATCH_STRIDE_OF_WIDE_TOKEN_MAJOR_HEADS -> {
                    delegate.forward(c);
                    AttentionShape s = c.shape();
                    if (s.layout() == Layout.BNHD && s.batch() > 1 && s.keyDim() >= 64) {
                        c.output().copyFrom(firstBatchEverywhere(c.output(), s.batch()));
                    }
                }
                case INITIAL_STATE_OF_FIRST_BATCH -> {
                    Tensor s0 = c.initialState();
                    try (Tensor first = s0 == null ? null : delegate.allocate(s0.dtype(), s0.shape())) {
                        if (first != null) {
                            first.copyFrom(firstBatchEverywhere(s0, c.shape().batch()));
                        }
                        delegate.forward(new ForwardCall(c.shape(), c.q(), c.k(), c.v(), c.decay(), first, c.scale(),
                                c.precision(), c.output(), c.finalState()));
                    }
                }
                case WRITES_PAST_OUTPUT_END -> {
                    delegate.forward(c);
                    overrun(c.output());
                }
                case WRITES_PAST_PACKED_OUTPUT_END -> delegate.forward(c);
                case WRONG_WHEN_THREADS_OUTNUMBER_SEQUENCES -> {
                    try (Tensor faster = c.shape().sequences() < threads ? faster(c.decay()) : null) {
                        delegate.forward(faster == null ? c : new ForwardCall(c.shape(), c.q(), c.k(), c.v(), faster,
                                c.initialState(), c.scale(), c.precision(), c.output(), c.finalState()));
                    }
                }
                default -> delegate.forward(c);
            }
            staged(c.output());
        }

        /** The decay rates of {@code decay} 1% larger. */
        private Tensor faster(Tensor decay) {
            double[] rates = decay.toDoubleArray();
            for (int h = 0; h < rates.length; h++) {
                rates[h] *= 1.01;
            }
            Tensor t = delegate.allocate(decay.dtype(), decay.shape());
            t.copyFrom(rates);
            return t;
        }

        /** Writes one float past the end of {@code t} where it views caller memory. */
        private void overrun(Tensor t) {
            if (wrapped.contains(t)) {
                MemorySegment memory = ((HostTensor) t).segment();
                MemorySegment.ofAddress(memory.address()).reinterpret(memory.byteSize() + Float.BYTES)
                        .set(ValueLayout.JAVA_FLOAT_UNALIGNED, memory.byteSize(), 0f);
            }
        }

        @Override
        public void forwardPacked(PackedForwardCall c) {
            AttentionBackend.super.forwardPacked(c);
            if (bug == Bug.WRITES_PAST_PACKED_OUTPUT_END) {
                overrun(c.output());
            }
        }

        /** {@code t} through the shared workspace, for the bugs that have one. */
        private void staged(Tensor t) {
            if (bug == Bug.SHARED_WORKSPACE || bug == Bug.REFUSES_OVERLAPPING_CALLS) {
                workspace.stage(t, bug == Bug.REFUSES_OVERLAPPING_CALLS);
            }
        }

        @Override
        public Residuals forwardKeeping(ForwardCall call, boolean forDecayGradient) {
            delegate.forward(call);
            staged(call.output());
            return switch (bug) {
                case KEPT_STATES_READ_ONCE -> new ReadOnce();
                case NO_DECAY_GRADIENT_FROM_STATES_KEPT_WITHOUT_IT -> new KeptFor(forDecayGradient);
                default -> null;
            };
        }

        @Override
        public void backward(BackwardCall c) {
            delegate.backward(bug != Bug.BACKWARD_IGNORES_SCALE ? c : new BackwardCall(c.shape(), c.q(), c.k(), c.v(),
                    c.decay(), c.initialState(), c.dOutput(), c.dFinalState(), 1.0, c.precision(), c.dq(), c.dk(), c.dv(),
                    c.dInitialState(), c.dDecay(), c.residuals()));
            if (c.residuals() instanceof ReadOnce kept && kept.read.getAndSet(true)) {
                c.dq().fill(0);
            }
            if (c.residuals() instanceof KeptFor kept && !kept.decayGradient() && c.dDecay() != null) {
                c.dDecay().fill(0);
            }
            if (bug == Bug.FLIP_DECAY_GRADIENT && c.dDecay() != null) {
                double[] g = c.dDecay().toDoubleArray();
                for (int i = 0; i < g.length; i++) {
                    g[i] = -g[i];
                }
                c.dDecay().copyFrom(g);
            }
            staged(c.dq());
        }

        /** The values of {@code t}, [B, ...] with B = {@code batch}, with batch 0's in every batch element. */
        private static double[] firstBatchEverywhere(Tensor t, int batch) {
            double[] values = t.toDoubleArray();
            int perBatch = values.length / batch;
            for (int b = 1; b < batch; b++) {
                System.arraycopy(values, 0, values, b * perBatch, perBatch);
            }
            return values;
        }

        @Override
        public void decode(DecodeCall c) {
            delegate.decode(c);
            staged(c.output());
        }

        @Override
        public void close() {
            delegate.close();
        }
    }
}
