package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.spi.AttentionBackend;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import dev.la2.spi.Residuals;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A {@link SavedForward} closed while a backward call reads it (SPEC.md section 7): the call runs to
 * its end on what was kept, the memory goes when it ends, and later calls are refused naming
 * {@code saved} before any work. The backward below closes it itself, as another thread could at
 * any moment after the call's checks.
 */
class SavedForwardTest {
    private final Random random = new Random(System.nanoTime());
    private final Holding backend = new Holding();
    private final LightningAttention la = new ValidatingAttention(backend);

    @AfterEach
    void release() {
        la.close();
    }

    /** What a forward kept: closed once, when the SavedForward lets it go. */
    private static final class Kept implements Residuals {
        boolean closed;

        @Override
        public long byteSize() {
            return 64;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /**
     * The test loop backend's forward, keeping a {@link Kept} per call; its backward runs
     * {@code during}, notes whether what the call was handed had been let go by then, and writes
     * zeros.
     */
    private static final class Holding implements AttentionBackend {
        private final TestProviders.LoopBackend loop = new TestProviders.LoopBackend();
        final List<Kept> kept = new ArrayList<>();
        boolean keeps = true;
        Runnable during = () -> { };
        final List<Boolean> closedDuring = new ArrayList<>();

        @Override
        public String name() {
            return "holding";
        }

        @Override
        public Set<DType> dtypes() {
            return loop.dtypes();
        }

        @Override
        public Set<Precision> precisions() {
            return loop.precisions();
        }

        @Override
        public Tensor allocate(DType dtype, Shape shape) {
            return loop.allocate(dtype, shape);
        }

        @Override
        public boolean owns(Tensor tensor) {
            return loop.owns(tensor);
        }

        @Override
        public void forward(ForwardCall call) {
            loop.forward(call);
        }

        @Override
        public Residuals forwardKeeping(ForwardCall call, boolean forDecayGradient) {
            loop.forward(call);
            if (!keeps) {
                return null;
            }
            Kept k = new Kept();
            kept.add(k);
            return k;
        }

        @Override
        public Tensor view(Tensor t, long elementOffset, Shape shape) {
            return ((HostTensor) t).view(elementOffset, shape);
        }

        @Override
        public void backward(BackwardCall call) {
            during.run();
            closedDuring.add(((Kept) call.residuals()).closed);
            for (Tensor g : new Tensor[] {call.dq(), call.dk(), call.dv(), call.dInitialState()}) {
                g.fill(0);
            }
        }

        @Override
        public void decode(DecodeCall call) {
            loop.decode(call);
        }

        @Override
        public void close() {
        }
    }

    private Tensor randoms(Shape shape) {
        return la.tensor(random.doubles(shape.elementCount(), -1, 1).toArray(), DType.FP32, shape);
    }

    @Test
    void aDenseBackwardEndsOnWhatItReadsAndTheMemoryGoesAfterIt() {
        int b = 1, h = 2, n = 5, d = 3, e = 4;
        AttentionOptions keep = AttentionOptions.defaults().withSaveForBackward(true);
        try (Tensor q = randoms(Shape.of(b, h, n, d)); Tensor k = randoms(Shape.of(b, h, n, d));
             Tensor v = randoms(Shape.of(b, h, n, e)); Tensor dO = randoms(Shape.of(b, h, n, e));
             Tensor decay = la.tensor(new double[] {0.1, 0.3}, DType.FP32, Shape.of(h))) {
            AttentionInputs in = AttentionInputs.of(q, k, v, decay);
            ForwardResult fwd = la.forward(in, keep);
            SavedForward saved = fwd.saved();
            assertThat(saved.holdsStates()).isTrue();
            backend.during = saved::close;
            la.backward(in, dO, null, keep, saved).close();
            assertThat(backend.closedDuring).containsExactly(false);
            assertThat(saved.isClosed()).isTrue();
            assertThat(backend.kept).singleElement().satisfies(kept -> assertThat(kept.closed).isTrue());

            backend.during = () -> { };
            assertThatThrownBy(() -> la.backward(in, dO, null, keep, saved))
                    .isInstanceOfSatisfying(La2ArgumentException.class, x -> assertThat(x.argument()).isEqualTo("saved"));
            assertThat(backend.closedDuring).hasSize(1);
            fwd.close();
        }
    }

    /** Three packed sequences of 3, 0 and 4 tokens, H = 2, D = 3, E = 4, and dO for them. */
    private record Packed(PackedInputs in, Tensor dO) implements AutoCloseable {
        static final int H = 2, D = 3, E = 4;

        @Override
        public void close() {
            for (Tensor x : new Tensor[] {in.q(), in.k(), in.v(), in.decay(), dO}) {
                x.close();
            }
        }
    }

    private Packed packed() {
        SequenceOffsets offsets = SequenceOffsets.ofLengths(3, 0, 4);
        int t = offsets.tokens(), h = Packed.H;
        return new Packed(PackedInputs.of(randoms(Shape.of(t, h, Packed.D)), randoms(Shape.of(t, h, Packed.D)),
                randoms(Shape.of(t, h, Packed.E)), la.tensor(new double[] {0.1, 0.3}, DType.FP32, Shape.of(h)), offsets),
                randoms(Shape.of(t, h, Packed.E)));
    }

    @Test
    void aPackedBackwardEndsOnWhatItReadsAndTheMemoryGoesAfterIt() {
        AttentionOptions keep = AttentionOptions.defaults().withSaveForBackward(true);
        try (Packed p = packed()) {
            PackedInputs in = p.in();
            Tensor dO = p.dO();
            ForwardResult fwd = la.forwardPacked(in, keep);
            SavedForward saved = fwd.saved();
            // the first sequence's backward closes it; the second still reads what was kept (the
            // empty sequence runs no call and keeps nothing)
            List<SavedForward> once = new ArrayList<>(List.of(saved));
            backend.during = () -> once.removeIf(s -> {
                s.close();
                return true;
            });
            la.backwardPacked(in, dO, null, keep, saved).close();
            assertThat(backend.closedDuring).containsExactly(false, false);
            assertThat(backend.kept).hasSize(2).allSatisfy(kept -> assertThat(kept.closed).isTrue());
            assertThatThrownBy(() -> la.backwardPacked(in, dO, null, keep, saved))
                    .isInstanceOfSatisfying(La2ArgumentException.class, x -> assertThat(x.argument()).isEqualTo("saved"));
            fwd.close();
        }
    }

    @Test
    void aPackedForwardHoldsNothingWhereItsCallsKeepNothingOrItReadAPool() {
        int h = Packed.H, d = Packed.D, e = Packed.E;
        AttentionOptions keep = AttentionOptions.defaults().withSaveForBackward(true);
        try (Packed p = packed(); Tensor out = la.allocate(DType.FP32, p.dO().shape());
             Tensor pool = la.tensor(new double[4 * h * d * e], DType.FP32, Shape.of(4, h, d, e))) {
            PackedInputs in = p.in();
            backend.keeps = false;
            try (ForwardResult fwd = la.forwardPacked(in, keep)) {
                assertThat(fwd.saved().holdsStates()).isFalse();
                assertThat(fwd.saved().byteSize()).isZero();
            }
            backend.keeps = true;
            try (SavedForward saved = la.forwardPacked(in, PoolSlots.of(pool, 2, 0, 3), keep, out)) {
                assertThat(saved.holdsStates()).isFalse();
                assertThat(saved.byteSize()).isEqualTo(3L * h * d * e * 4);
            }
            assertThat(backend.kept).isEmpty();
        }
    }
}
