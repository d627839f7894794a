package dev.la2.bench;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.Diagnostics;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SavedForward;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The serving modes of {@code la2 bench} (SPEC.md section 8), each timed beside its dense
 * counterpart in the same run: a packed forward (or forward+backward) of S sequences of lengths
 * drawn from 1 to L beside an equal-length batch of B = S sequences of N = round(T/S) tokens, the
 * same number of sequences and, up to rounding, of tokens, compared per token; a decode step by
 * pool slot beside the dense decode of the same S sequences, with the copy floor of the states it
 * reads and writes.
 */
public final class ServingBench {

    private ServingBench() {
    }

    /** Runs the comparison {@code c} names, telling {@code listener} the context, progress and the row. */
    public static ServingRow run(ServingConfig c, BenchListener listener) {
        Objects.requireNonNull(c, "config");
        Objects.requireNonNull(listener, "listener");
        BenchConfig b = c.base();
        try (LightningAttention la = LightningAttention.open(b.backend(), b.options())) {
            LengthSweep.requireDtype(b, la);
            CopyBandwidth bandwidth = CopyBandwidth.of(b, LengthSweep.computesOnHost(la));
            String skipped = "not run (serving modes compare with the dense call instead)";
            listener.context(new BenchContext(la.backendName(), false, skipped, skipped, null, skipped, Double.NaN,
                    bandwidth.gbs(), bandwidth.source()));
            List<Tensor> made = new ArrayList<>();
            try (Arena host = Arena.ofShared()) {
                Setup s = new Setup(c, la, Diagnostics.of(la), bandwidth, made, host, listener);
                ServingRow row = c.mode().packed() ? packed(s) : slotDecode(s);
                listener.serving(row);
                return row;
            } finally {
                made.forEach(Tensor::close);
            }
        }
    }

    /** What every comparison needs: the configuration, the library, and where tensors are tracked. */
    private record Setup(ServingConfig c, LightningAttention la, Diagnostics diagnostics, CopyBandwidth bandwidth,
                         List<Tensor> made, Arena host, BenchListener listener) {

        Tensor allocate(DType dtype, Shape shape) {
            return LengthSweep.track(made, la.allocate(dtype, shape));
        }

        Tensor decay() {
            BenchConfig b = c.base();
            return LengthSweep.track(made, la.tensor(DecaySlopes.alibi(b.heads()), b.dtype().stateType(),
                    Shape.of(b.heads())));
        }
    }

    /** Host values drawn once (SPEC.md section 3's distributions) for {@code tokens} tokens of H heads. */
    private record HostInputs(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment dOut) {

        static HostInputs draw(Setup s, long tokens, boolean backward) {
            BenchConfig b = s.c().base();
            SplittableRandom random = new SplittableRandom(b.seed());
            long keys = tokens * b.heads() * b.keyDim(), values = tokens * b.heads() * b.valueDim();
            double keyStd = 1 / Math.sqrt(b.keyDim());
            return new HostInputs(RandomInputs.tiled(s.host(), b.dtype(), keys, keyStd, random),
                    RandomInputs.tiled(s.host(), b.dtype(), keys, keyStd, random),
                    RandomInputs.tiled(s.host(), b.dtype(), values, 1, random),
                    backward ? RandomInputs.tiled(s.host(), b.dtype(), values, 1, random) : null);
        }
    }

    /**
     * One side of a comparison on the backend, inputs uploaded: q, k [.., H, D], v and the output
     * [.., H, E], states [S, H, D, E], and for a backward dO and the gradients.
     */
    private record Operands(Tensor q, Tensor k, Tensor v, Tensor out, Tensor states, Tensor dOut, Gradients grads) {

        static Operands of(Setup s, HostInputs from, Shape keys, Shape values, boolean backward) {
            BenchConfig b = s.c().base();
            DType dtype = b.dtype();
            Shape states = Shape.of(s.c().sequences(), b.heads(), b.keyDim(), b.valueDim());
            Tensor q = upload(s.allocate(dtype, keys), from.q());
            Tensor k = upload(s.allocate(dtype, keys), from.k());
            Tensor v = upload(s.allocate(dtype, values), from.v());
            Tensor out = s.allocate(dtype, values);
            Tensor fin = s.allocate(dtype.stateType(), states);
            fin.fill(0);
            if (!backward) {
                return new Operands(q, k, v, out, fin, null, null);
            }
            Tensor dOut = upload(s.allocate(dtype, values), from.dOut());
            Gradients grads = new Gradients(s.allocate(dtype, keys), s.allocate(dtype, keys), s.allocate(dtype, values),
                    s.allocate(dtype.stateType(), states), null);
            return new Operands(q, k, v, out, fin, dOut, grads);
        }

        private static Tensor upload(Tensor t, MemorySegment from) {
            t.copyFrom(from.asSlice(0, t.byteSize()));
            return t;
        }
    }

    private static ServingRow packed(Setup s) {
        ServingConfig c = s.c();
        BenchConfig b = c.base();
        boolean backward = c.mode().backward();
        int h = b.heads(), d = b.keyDim(), e = b.valueDim(), sequences = c.sequences();
        SequenceOffsets offsets = SequenceOffsets.ofLengths(c.lengths());
        int t = offsets.tokens();
        int n = (int) Math.max(1, Math.round((double) t / sequences));
        HostInputs host = HostInputs.draw(s, Math.max(t, (long) sequences * n), backward);
        Tensor decay = s.decay();
        AttentionOptions options = AttentionOptions.defaults().withPrecision(b.precision());
        AttentionOptions training = options.withSaveForBackward(b.call().keepStates());

        Operands p = Operands.of(s, host, Shape.of(t, h, d), Shape.of(t, h, e), backward);
        PackedInputs packedIn = PackedInputs.of(p.q(), p.k(), p.v(), decay, offsets);
        Runnable packed = backward ? () -> {
            try (SavedForward saved = s.la().forwardPacked(packedIn, training, p.out(), p.states())) {
                s.la().backwardPacked(packedIn, p.dOut(), null, options, saved, p.grads());
            }
        } : () -> s.la().forwardPacked(packedIn, options, p.out(), p.states());

        Layout layout = Layout.BNHD;
        Operands eq = Operands.of(s, host, layout.shape(sequences, h, n, d), layout.shape(sequences, h, n, e), backward);
        AttentionInputs denseIn = AttentionInputs.of(eq.q(), eq.k(), eq.v(), decay);
        AttentionOptions denseOptions = options.withLayout(layout);
        AttentionOptions denseTraining = training.withLayout(layout);
        Runnable dense = backward ? () -> {
            try (SavedForward saved = s.la().forward(denseIn, denseTraining, eq.out(), eq.states())) {
                s.la().backward(denseIn, eq.dOut(), null, denseOptions, saved, eq.grads());
            }
        } : () -> s.la().forward(denseIn, denseOptions, eq.out(), eq.states());

        Pair times = timePair(s, packed, dense, "packed S=" + sequences + " T=" + t, "dense B=" + sequences + " N=" + n);
        double perToken = times.serving().median() / t * 1e6;
        double densePerToken = times.dense().median() / ((long) sequences * n) * 1e6;
        double floor = s.bandwidth().floorMillis(new BenchProblem(1, h, t, d, e).floorBytes(b.dtype(), backward));
        return new ServingRow(s.la().backendName(), b.dtype(), b.precision(), c.mode(), sequences, t, c.maxLength(),
                h, d, e, b.warmup(), b.warmupSeconds(true), b.warmupSeconds(false),
                times.serving(), perToken, sequences, n, times.dense(), densePerToken,
                perToken / densePerToken, floor);
    }

    private static ServingRow slotDecode(Setup s) {
        ServingConfig c = s.c();
        BenchConfig b = c.base();
        int h = b.heads(), d = b.keyDim(), e = b.valueDim(), sequences = c.sequences();
        HostInputs host = HostInputs.draw(s, sequences, false);
        Tensor decay = s.decay();
        double scale = AttentionOptions.defaults().scale();
        // The dense decode advances Operands' states [S, H, D, E]; the slot decode a pool of as many slots.
        Operands o = Operands.of(s, host, Shape.of(sequences, h, d), Shape.of(sequences, h, e), false);
        Tensor pool = s.allocate(b.dtype().stateType(), o.states().shape());
        pool.fill(0);
        PoolSlots slots = PoolSlots.of(pool, c.slots());
        Runnable bySlot = () -> s.la().decodeSlots(o.q(), o.k(), o.v(), decay, slots, scale, o.out());
        Runnable dense = () -> s.la().decode(o.q(), o.k(), o.v(), decay, o.states(), scale, o.out());

        Pair times = timePair(s, bySlot, dense, "decode by slot S=" + sequences, "dense decode B=" + sequences);
        long stateBytes = o.states().byteSize();
        long tokenBytes = o.q().byteSize() + o.k().byteSize() + o.v().byteSize() + o.out().byteSize();
        double floor = s.bandwidth().floorMillis(2.0 * stateBytes + tokenBytes);
        double perToken = times.serving().median() / sequences * 1e6;
        double densePerToken = times.dense().median() / sequences * 1e6;
        return new ServingRow(s.la().backendName(), b.dtype(), b.precision(), c.mode(), sequences, sequences, 1,
                h, d, e, b.warmup(), b.warmupSeconds(true), b.warmupSeconds(false),
                times.serving(), perToken, sequences, 1, times.dense(), densePerToken,
                perToken / densePerToken, floor);
    }

    private record Pair(Stats serving, Stats dense) {
    }

    /**
     * Warms both calls up, then times them in blocks ordered serving, dense, dense, serving of
     * about half the repeats each, so that a shared machine's drift weighs on both alike. Each
     * block is {@link Diagnostics#timeMillis(Runnable, int)}'s calls queued back to back.
     */
    private static Pair timePair(Setup s, Runnable serving, Runnable dense, String servingStage, String denseStage) {
        BenchConfig b = s.c().base();
        Diagnostics diagnostics = s.diagnostics();
        int half = (b.repeats() + 1) / 2;
        long total = 2L * b.warmup() + 4L * half;
        long[] done = {0};
        // The serving call comes first: its warm-up also waits for the JIT, as a sweep's first size's.
        LengthSweep.warmUp(b, () -> diagnostics.timeMillis(serving), b.warmupSeconds(true), servingStage,
                s.listener(), done, total);
        LengthSweep.warmUp(b, () -> diagnostics.timeMillis(dense), b.warmupSeconds(false), denseStage,
                s.listener(), done, total);
        double[][] blocks = new double[4][];
        Runnable[] order = {serving, dense, dense, serving};
        String[] stages = {servingStage, denseStage, denseStage, servingStage};
        for (int i = 0; i < 4; i++) {
            blocks[i] = diagnostics.timeMillis(order[i], half);
            done[0] += half;
            s.listener().progress(stages[i], done[0], total);
        }
        return new Pair(Stats.of(concat(blocks[0], blocks[3])), Stats.of(concat(blocks[1], blocks[2])));
    }

    private static double[] concat(double[] a, double[] b) {
        double[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
