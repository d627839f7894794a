package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Caller memory handed to {@code wrap}, {@code tensor} and {@code copyFrom/copyTo} (SPEC.md section
 * 5): read-only segments serve as inputs, but a call that would write one (an output, a decode
 * state, a pool) is refused by the argument's name before any work, as is memory whose arena was
 * closed, before or after the wrap; the caller's data and every other tensor stay as they were.
 */
class CallerMemoryTest {
    private static final int B = 1, H = 2, N = 5, D = 4, E = 3, P = 3;
    private static final Shape KEYS = Shape.of(B, H, N, D), VALUES = Shape.of(B, H, N, E), STATE = Shape.of(B, H, D, E);
    private static final float SENTINEL = 7f;

    private final Random random = new Random(11);
    /** Every tensor with memory of its own, closed after each case so none is left to the Cleaner. */
    private final List<Tensor> made = new ArrayList<>();

    @AfterEach
    void closeTensors() {
        made.forEach(Tensor::close);
        made.clear();
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "reference"})
    void readOnlyMemoryServesAsEveryInput(String backend) {
        try (LightningAttention la = LightningAttention.open(backend)) {
            float[] q = floats(KEYS), k = floats(KEYS), v = floats(VALUES), s0 = floats(STATE), dOut = floats(VALUES);
            float[] decay = {0.1f, 0.7f};
            AttentionOptions options = AttentionOptions.defaults().withFinalState(true);
            AttentionInputs copied = AttentionInputs.of(track(la.tensor(q, DType.FP32, KEYS)), track(la.tensor(k, DType.FP32, KEYS)),
                    track(la.tensor(v, DType.FP32, VALUES)), track(la.tensor(decay, DType.FP32, Shape.of(H))))
                    .withInitialState(track(la.tensor(s0, DType.FP32, STATE)));
            AttentionInputs readOnly = AttentionInputs.of(readOnly(la, q, KEYS), readOnly(la, k, KEYS),
                    readOnly(la, v, VALUES), readOnly(la, decay, Shape.of(H))).withInitialState(readOnly(la, s0, STATE));
            try (ForwardResult want = la.forward(copied, options); ForwardResult got = la.forward(readOnly, options);
                 Gradients wantG = la.backward(copied, track(la.tensor(dOut, DType.FP32, VALUES)), null, options);
                 Gradients gotG = la.backward(readOnly, readOnly(la, dOut, VALUES), null, options)) {
                assertThat(got.output().toFloatArray()).containsExactly(want.output().toFloatArray());
                assertThat(got.finalState().toFloatArray()).containsExactly(want.finalState().toFloatArray());
                assertThat(gotG.dq().toFloatArray()).containsExactly(wantG.dq().toFloatArray());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "reference"})
    void aReadOnlyOutputOrStateIsRefusedByNameBeforeAnyWork(String backend) {
        try (LightningAttention la = LightningAttention.open(backend)) {
            AttentionInputs in = AttentionInputs.of(random(la, KEYS), random(la, KEYS), random(la, VALUES), decay(la));
            Tensor output = sentinel(la, VALUES), finalState = sentinel(la, STATE);
            refused(() -> la.forward(in, AttentionOptions.defaults(), readOnly(la, sentinels(VALUES), VALUES), finalState),
                    "output");
            refused(() -> la.forward(in, AttentionOptions.defaults(), output, readOnly(la, sentinels(STATE), STATE)),
                    "finalState");
            Tensor dq = sentinel(la, KEYS);
            refused(() -> la.backward(in, random(la, VALUES), null, AttentionOptions.defaults(), new Gradients(dq,
                    readOnly(la, sentinels(KEYS), KEYS), track(la.allocate(DType.FP32, VALUES)), track(la.allocate(DType.FP32, STATE)),
                    null)), "into.dk");

            Shape token = Shape.of(B, H, D), tokenValue = Shape.of(B, H, E);
            Tensor q1 = random(la, token), k1 = random(la, token), v1 = random(la, tokenValue);
            // The decode updates the state in place before it writes the output: a read-only output
            // found part way would leave the state advanced.
            Tensor state = sentinel(la, STATE), decodeOut = sentinel(la, tokenValue);
            refused(() -> la.decode(q1, k1, v1, in.decay(), readOnly(la, sentinels(STATE), STATE), 1.0, decodeOut), "state");
            refused(() -> la.decode(q1, k1, v1, in.decay(), state, 1.0, readOnly(la, sentinels(tokenValue), tokenValue)),
                    "output");
            for (Tensor untouched : new Tensor[] {output, finalState, dq, state, decodeOut}) {
                assertThat(untouched.toFloatArray()).as("%s after a refused call", untouched).containsOnly(SENTINEL);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "reference"})
    void aReadOnlyPoolIsRefusedWhereTheCallWritesIt(String backend) {
        try (LightningAttention la = LightningAttention.open(backend)) {
            Shape poolShape = Shape.of(P, H, D, E);
            Tensor pool = readOnly(la, sentinels(poolShape), poolShape);
            Tensor decay = decay(la);
            Shape packedKeys = Shape.of(N, H, D), packedValues = Shape.of(N, H, E);
            PackedInputs packed = PackedInputs.of(random(la, packedKeys), random(la, packedKeys), random(la, packedValues),
                    decay, SequenceOffsets.of(0, 2, N));
            Tensor output = sentinel(la, packedValues);
            refused(() -> la.forwardPacked(packed, PoolSlots.of(pool, 0, 2), AttentionOptions.defaults(), output), "pool");
            Shape token = Shape.of(2, H, D), tokenValue = Shape.of(2, H, E);
            Tensor q1 = random(la, token), k1 = random(la, token), v1 = random(la, tokenValue);
            refused(() -> la.decodeSlots(q1, k1, v1, decay, PoolSlots.of(pool, 1, 2), 1.0, sentinel(la, tokenValue)), "pool");
            Shape drafts = Shape.of(2, 2, H, D), draftValues = Shape.of(2, 2, H, E);
            Tensor dk = random(la, drafts), dv = random(la, draftValues);
            refused(() -> la.commit(dk, dv, decay, PoolSlots.of(pool, 0, 1), new int[] {1, 2}), "pool");
            assertThat(output.toFloatArray()).containsOnly(SENTINEL);
            assertThat(pool.toFloatArray()).containsOnly(SENTINEL);
            // A draft only reads the pool.
            Tensor draftOut = sentinel(la, draftValues);
            la.draft(random(la, drafts), dk, dv, decay, PoolSlots.of(pool, 0, 1), 1.0, draftOut);
            assertThat(draftOut.toFloatArray()).doesNotContain(SENTINEL);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "reference"})
    void memoryWhoseArenaIsClosedIsRefusedByName(String backend) {
        try (LightningAttention la = LightningAttention.open(backend)) {
            long bytes = KEYS.elementCount() * 4;
            Arena closedFirst = Arena.ofShared();
            MemorySegment dead = closedFirst.allocate(bytes);
            closedFirst.close();
            refused(() -> la.wrap(dead, DType.FP32, KEYS), "memory");
            refused(() -> la.tensor(dead, DType.FP32, KEYS), "data");
            Tensor q = random(la, KEYS);
            refused(() -> q.copyFrom(dead), "src");
            refused(() -> q.copyTo(dead), "dst");

            Arena closedAfter = Arena.ofShared();
            Tensor wrapped = la.wrap(closedAfter.allocate(bytes), DType.FP32, KEYS).orElseThrow();
            Arena stateArena = Arena.ofShared();
            Tensor wrappedState = la.wrap(stateArena.allocate(STATE.elementCount() * 4), DType.FP32, STATE).orElseThrow();
            closedAfter.close();
            stateArena.close();
            assertThat(wrapped.isClosed()).isTrue();
            Tensor output = sentinel(la, VALUES);
            assertThatThrownBy(() -> la.forward(AttentionInputs.of(q, wrapped, random(la, VALUES), decay(la)),
                    AttentionOptions.defaults(), output, null)).isInstanceOf(La2ArgumentException.class)
                    .hasMessage("k: got a view of memory whose arena is closed (FP32 [1, 2, 5, 4]); expected an open tensor");
            Tensor decodeOut = sentinel(la, Shape.of(B, H, E));
            refused(() -> la.decode(random(la, Shape.of(B, H, D)), random(la, Shape.of(B, H, D)),
                    random(la, Shape.of(B, H, E)), decay(la), wrappedState, 1.0, decodeOut), "state");
            assertThat(output.toFloatArray()).containsOnly(SENTINEL);
            assertThat(decodeOut.toFloatArray()).containsOnly(SENTINEL);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "reference"})
    void memoryConfinedToAnotherThreadIsRefusedByName(String backend) throws Exception {
        ExecutorService owner = Executors.newSingleThreadExecutor();
        try (LightningAttention la = LightningAttention.open(backend)) {
            Shape token = Shape.of(B, H, D), tokenValue = Shape.of(B, H, E);
            MemorySegment elsewhere = owner.submit(() -> Arena.ofConfined().allocate(tokenValue.elementCount() * 4)).get();
            // Wrapping touches no memory, so it is allowed; a call from this thread is not.
            Tensor output = la.wrap(elsewhere, DType.FP32, tokenValue).orElseThrow();
            Tensor state = sentinel(la, STATE);
            // The decode updates the state before it writes the output: found there, the step
            // would have advanced the state of a call that failed.
            refused(() -> la.decode(random(la, token), random(la, token), random(la, tokenValue), decay(la), state, 1.0,
                    output), "output");
            assertThat(state.toFloatArray()).containsOnly(SENTINEL);
            refused(() -> la.tensor(elsewhere, DType.FP32, tokenValue), "data");
            Tensor v = random(la, tokenValue);
            refused(() -> v.copyTo(elsewhere), "dst");
            refused(() -> v.copyFrom(elsewhere), "src");
        } finally {
            owner.shutdown();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "reference"})
    void copiesNeverWriteReadOnlyMemory(String backend) {
        try (LightningAttention la = LightningAttention.open(backend)) {
            Tensor q = random(la, KEYS);
            float[] held = sentinels(KEYS);
            refused(() -> q.copyTo(MemorySegment.ofArray(held).asReadOnly()), "dst");
            Tensor view = readOnly(la, held, KEYS);
            refused(() -> view.copyFrom(q.toFloatArray()), "tensor");
            refused(() -> view.fill(0), "tensor");
            assertThat(held).containsOnly(SENTINEL);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "reference"})
    void aShapeWhoseByteCountOverflowsIsRefusedForAnySegment(String backend) {
        try (LightningAttention la = LightningAttention.open(backend)) {
            // 5 * 2147418113 * 429509837 = 2^62 + 1 elements: 4 * that wraps around to 4 bytes.
            Shape huge = Shape.of(5, 2147418113, 429509837, 1);
            MemorySegment oneFloat = MemorySegment.ofArray(new float[1]);
            refused(() -> la.wrap(oneFloat, DType.FP32, huge), "shape");
            refused(() -> la.tensor(oneFloat, DType.FP32, huge), "shape");
        }
    }

    private static void refused(ThrowingCallable call, String argument) {
        assertThatThrownBy(call).isInstanceOf(La2ArgumentException.class)
                .satisfies(e -> assertThat(((La2ArgumentException) e).argument()).isEqualTo(argument));
    }

    private static Tensor readOnly(LightningAttention la, float[] data, Shape shape) {
        return la.wrap(MemorySegment.ofArray(data).asReadOnly(), DType.FP32, shape).orElseThrow();
    }

    private static float[] sentinels(Shape shape) {
        float[] a = new float[Math.toIntExact(shape.elementCount())];
        Arrays.fill(a, SENTINEL);
        return a;
    }

    private Tensor sentinel(LightningAttention la, Shape shape) {
        return track(la.tensor(sentinels(shape), DType.FP32, shape));
    }

    private float[] floats(Shape shape) {
        float[] a = new float[Math.toIntExact(shape.elementCount())];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) random.nextGaussian();
        }
        return a;
    }

    private Tensor random(LightningAttention la, Shape shape) {
        return track(la.tensor(floats(shape), DType.FP32, shape));
    }

    private Tensor decay(LightningAttention la) {
        return track(la.tensor(new float[] {0.1f, 0.7f}, DType.FP32, Shape.of(H)));
    }

    private Tensor track(Tensor t) {
        made.add(t);
        return t;
    }
}
