package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SavedForward;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.spi.HostTensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Tensors wrapping memory of {@code Arena.ofConfined()}, which no thread but the caller's may
 * touch: on a backend of two threads every call that takes caller tensors still works, and gives
 * the bits it gives over shared memory, and the instance says once why such calls use one thread.
 */
class CpuConfinedMemoryTest {
    /** Short blocks and segments, so that every call has several tasks for the pool. */
    private static final Map<String, String> SEGMENTED = Map.of("cpu.blockSize", "8", "cpu.segmentTokens", "24");
    private static final double SCALE = 0.7;

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "FP64", "BF16"})
    void forwardAndBackwardOverConfinedMemoryGiveTheSharedBits(DType dtype) {
        assertSameBits("dense " + dtype, (la, mem, rng) -> dense(la, mem, rng, dtype));
    }

    /** fp32 states of 4.5 MiB, so the fp32 step is split in two tasks; the fp64 step has a task per sequence. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "FP64"})
    void decodeOverConfinedMemoryGivesTheSharedBits(DType dtype) {
        assertSameBits("decode " + dtype, (la, mem, rng) -> decode(mem, rng, dtype));
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "FP64"})
    void packedAndSlotCallsOverConfinedMemoryGiveTheSharedBits(DType dtype) {
        assertSameBits("packed " + dtype, (la, mem, rng) -> packed(la, mem, rng, dtype));
    }

    /** Callers on confined memory run inline while others, at the same time, use the workers. */
    @Test
    void concurrentCallersOnConfinedAndSharedMemoryShareOneInstance() throws Exception {
        Scenario scenario = (la, mem, rng) -> dense(la, mem, rng, DType.FP32);
        long seed = Fixture.random("concurrent").nextLong();
        try (LightningAttention la = Fixture.open(2, SEGMENTED)) {
            long[] expected = bits(la, Arena::ofShared, scenario, seed);
            ExecutorService callers = Executors.newFixedThreadPool(4);
            try {
                List<Future<long[]>> results = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    Supplier<Arena> arenas = i % 2 == 0 ? Arena::ofConfined : Arena::ofShared;
                    results.add(callers.submit(() -> bits(la, arenas, scenario, seed)));
                }
                for (Future<long[]> f : results) {
                    assertThat(f.get(120, TimeUnit.SECONDS)).as(Fixture.seed()).isEqualTo(expected);
                }
            } finally {
                callers.shutdownNow();
            }
        }
    }

    @Test
    void theFirstConfinedCallOfAnInstanceWarnsOnceNamingTheSharedArenas() {
        List<String> warnings = new ArrayList<>();
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            Tensor mine = HostTensor.wrap(this, "cpu", confined.allocate(4), DType.FP32, Shape.of(1));
            Tensor anyone = HostTensor.wrap(this, "cpu", shared.allocate(4), DType.FP32, Shape.of(1));
            Tensor auto = HostTensor.wrap(this, "cpu", Arena.ofAuto().allocate(4), DType.FP32, Shape.of(1));
            ThreadConfinement two = new ThreadConfinement(2, warnings::add);
            assertThat(two.confined(anyone, null, auto)).isFalse();
            assertThat(two.confined(anyone, mine)).isTrue();
            assertThat(two.confined(mine)).isTrue();
            assertThat(new ThreadConfinement(1, warnings::add).confined(mine)).as("one thread runs on the caller anyway")
                    .isFalse();
        }
        assertThat(warnings).singleElement().asString().contains("Arena.ofConfined()", "Arena.ofShared()",
                "Arena.ofAuto()", "Arena.global()", "2 threads");
    }

    private interface Scenario {
        /** Runs calls on tensors of {@code mem} and returns every output they wrote. */
        List<Tensor> run(LightningAttention la, Memory mem, SplittableRandom rng);
    }

    private static void assertSameBits(String name, Scenario scenario) {
        long seed = Fixture.random(name).nextLong();
        try (LightningAttention la = Fixture.open(2, SEGMENTED)) {
            long[] shared = bits(la, Arena::ofShared, scenario, seed);
            long[] confined = bits(la, Arena::ofConfined, scenario, seed);
            assertThat(confined).as(name + ", " + Fixture.seed()).isEqualTo(shared);
        }
    }

    private static long[] bits(LightningAttention la, Supplier<Arena> arenas, Scenario scenario, long seed) {
        try (Arena arena = arenas.get()) {
            List<Tensor> outputs = scenario.run(la, new Memory(la, arena), new SplittableRandom(seed));
            return outputs.stream().flatMapToDouble(t -> Arrays.stream(t.toDoubleArray()))
                    .mapToLong(Double::doubleToRawLongBits).toArray();
        }
    }

    /** Tensors wrapping memory of one arena. */
    private record Memory(LightningAttention la, Arena arena) {
        Tensor of(double[] data, DType dtype, Shape shape) {
            Tensor t = la.wrap(arena.allocate(shape.elementCount() * dtype.byteSize()), dtype, shape).orElseThrow();
            t.copyFrom(data);
            return t;
        }

        Tensor random(SplittableRandom rng, double std, DType dtype, Shape shape) {
            return of(Fixture.gaussian(rng, (int) shape.elementCount(), std, dtype), dtype, shape);
        }

        /** An output, NaN until the call writes it. */
        Tensor out(DType dtype, Shape shape) {
            Tensor t = la.wrap(arena.allocate(shape.elementCount() * dtype.byteSize()), dtype, shape).orElseThrow();
            t.fill(Double.NaN);
            return t;
        }

        Gradients gradients(DType dtype, Shape keys, Shape values, Shape states, int heads) {
            DType st = dtype.stateType();
            return new Gradients(out(dtype, keys), out(dtype, keys), out(dtype, values), out(st, states),
                    out(st, Shape.of(heads)));
        }
    }

    /** A forward, a forward keeping states and the backward using them, with states and a learnable decay. */
    private static List<Tensor> dense(LightningAttention la, Memory mem, SplittableRandom rng, DType dtype) {
        int b = 2, h = 2, n = 77, d = 12, e = 9;
        DType st = dtype.stateType();
        Shape keys = Shape.of(b, h, n, d), values = Shape.of(b, h, n, e), states = Shape.of(b, h, d, e);
        AttentionInputs in = new AttentionInputs(mem.random(rng, 0.3, dtype, keys), mem.random(rng, 0.3, dtype, keys),
                mem.random(rng, 1, dtype, values), mem.of(Fixture.decay(rng, h, st), st, Shape.of(h)),
                mem.random(rng, 0.5, st, states));
        Tensor dOut = mem.random(rng, 1, dtype, values), dFinal = mem.random(rng, 0.5, st, states);
        AttentionOptions options = AttentionOptions.defaults().withScale(SCALE).withLearnableDecay(true);
        Tensor out = mem.out(dtype, values), fin = mem.out(st, states);
        la.forward(in, options, out, fin);
        Tensor keptOut = mem.out(dtype, values), keptFin = mem.out(st, states);
        Gradients g = mem.gradients(dtype, keys, values, states, h);
        try (SavedForward saved = la.forward(in, options.withSaveForBackward(true), keptOut, keptFin)) {
            la.backward(in, dOut, dFinal, options, saved, g);
        }
        return List.of(out, fin, keptOut, keptFin, g.dq(), g.dk(), g.dv(), g.dInitialState(), g.dDecay());
    }

    /** Two steps of B sequences advancing their states in place. */
    private static List<Tensor> decode(Memory mem, SplittableRandom rng, DType dtype) {
        int b = 2, h = 4, d = dtype == DType.FP32 ? 384 : 16, e = d;
        Shape keys = Shape.of(b, h, d), values = Shape.of(b, h, e);
        Tensor decay = mem.of(Fixture.decay(rng, h, dtype), dtype, Shape.of(h));
        Tensor state = mem.random(rng, 1, dtype, Shape.of(b, h, d, e));
        Tensor first = mem.out(dtype, values), second = mem.out(dtype, values);
        for (Tensor out : List.of(first, second)) {
            mem.la().decode(mem.random(rng, 0.1, dtype, keys), mem.random(rng, 0.1, dtype, keys),
                    mem.random(rng, 1, dtype, values), decay, state, SCALE, out);
        }
        return List.of(first, second, state);
    }

    /** A packed forward keeping states and its backward, then a slot decode, a draft and a commit on a pool. */
    private static List<Tensor> packed(LightningAttention la, Memory mem, SplittableRandom rng, DType dtype) {
        int h = 2, d = 8, e = 12, drafts = 3;
        SequenceOffsets offsets = SequenceOffsets.ofLengths(5, 40, 0, 77);
        int s = offsets.sequences(), t = offsets.tokens();
        DType st = dtype.stateType();
        Shape keys = Shape.of(t, h, d), values = Shape.of(t, h, e), states = Shape.of(s, h, d, e);
        Tensor decay = mem.of(Fixture.decay(rng, h, st), st, Shape.of(h));
        PackedInputs in = new PackedInputs(mem.random(rng, 0.3, dtype, keys), mem.random(rng, 0.3, dtype, keys),
                mem.random(rng, 1, dtype, values), decay, offsets, mem.random(rng, 0.5, st, states));
        AttentionOptions options = AttentionOptions.defaults().withScale(SCALE).withLearnableDecay(true);
        Tensor out = mem.out(dtype, values), fin = mem.out(st, states);
        Gradients g = mem.gradients(dtype, keys, values, states, h);
        try (SavedForward saved = la.forwardPacked(in, options.withSaveForBackward(true), out, fin)) {
            la.backwardPacked(in, mem.random(rng, 1, dtype, values), mem.random(rng, 0.5, st, states), options, saved, g);
        }
        Tensor pool = mem.random(rng, 0.5, st, Shape.of(4, h, d, e));
        PoolSlots slots = PoolSlots.of(pool, 2, -1, 0);
        Tensor stepOut = mem.out(dtype, Shape.of(3, h, e));
        la.decodeSlots(mem.random(rng, 0.3, dtype, Shape.of(3, h, d)), mem.random(rng, 0.3, dtype, Shape.of(3, h, d)),
                mem.random(rng, 1, dtype, Shape.of(3, h, e)), decay, slots, SCALE, stepOut);
        Function<Integer, Shape> draftShape = f -> Shape.of(3, drafts, h, f);
        Tensor dk = mem.random(rng, 0.3, dtype, draftShape.apply(d)), dv = mem.random(rng, 1, dtype, draftShape.apply(e));
        Tensor draftOut = mem.out(dtype, draftShape.apply(e));
        la.draft(mem.random(rng, 0.3, dtype, draftShape.apply(d)), dk, dv, decay, slots, SCALE, draftOut);
        la.commit(dk, dv, decay, slots, new int[] {1, 0, 3});
        return List.of(out, fin, g.dq(), g.dk(), g.dv(), g.dInitialState(), g.dDecay(), stepOut, draftOut, pool);
    }
}
