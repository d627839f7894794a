package dev.la2.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiFunction;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Misuse across ranks is refused on every rank with {@link La2ArgumentException} naming the
 * argument, before any work; a rank failing while computing fails the others instead of leaving
 * them waiting.
 */
class MisuseTest {
    private static final int B = 1, H = 2, D = 4, E = 3;
    private static LightningAttention la;
    private final List<Tensor> made = new ArrayList<>();

    @BeforeAll
    static void open() {
        la = LightningAttention.open("reference");
    }

    @AfterAll
    static void close() {
        la.close();
    }

    private synchronized Tensor tensor(Shape shape) {
        Tensor t = la.tensor(new double[Math.toIntExact(shape.elementCount())], DType.FP32, shape);
        made.add(t);
        return t;
    }

    private AttentionInputs piece(int tokens, int keyDim) {
        return AttentionInputs.of(tensor(Shape.of(B, H, tokens, keyDim)), tensor(Shape.of(B, H, tokens, keyDim)),
                tensor(Shape.of(B, H, tokens, E)), tensor(Shape.of(H)));
    }

    /** Every rank's forward with the given piece; every rank must throw La2ArgumentException naming {@code argument}. */
    private void everyRankRefuses(List<Communicator> comms, BiFunction<Integer, Communicator, AttentionInputs> pieceOf,
                                  String argument) {
        everyRankRefuses(comms, pieceOf, AttentionOptions.defaults(), argument);
    }

    private void everyRankRefuses(List<Communicator> comms, BiFunction<Integer, Communicator, AttentionInputs> pieceOf,
                                  AttentionOptions options, String argument) {
        everyRankRefuses(Ranks.run(comms, (rank, comm) -> new SequenceParallel(la, comm).forward(pieceOf.apply(rank, comm), options)),
                argument);
    }

    private <T> void everyRankRefuses(List<Ranks.Outcome<T>> outcomes, String argument) {
        for (int r = 0; r < outcomes.size(); r++) {
            assertThat(outcomes.get(r).failure()).as("rank %d", r).isInstanceOf(La2ArgumentException.class);
            assertThat(((La2ArgumentException) outcomes.get(r).failure()).argument()).as("rank %d: %s", r, outcomes.get(r).failure())
                    .isEqualTo(argument);
        }
        made.forEach(Tensor::close);
    }

    /** As above, and every rank's message contains {@code message}. */
    private void everyRankRefuses(List<Communicator> comms, BiFunction<Integer, Communicator, AttentionInputs> pieceOf,
                                  String argument, String message) {
        List<Ranks.Outcome<PieceForward>> outcomes =
                Ranks.run(comms, (rank, comm) -> new SequenceParallel(la, comm).forward(pieceOf.apply(rank, comm), AttentionOptions.defaults()));
        everyRankRefuses(outcomes, argument);
        for (int r = 0; r < outcomes.size(); r++) {
            assertThat(outcomes.get(r).failure()).as("rank %d", r).hasMessageContaining(message);
        }
    }

    @Test
    void mismatchedKeyWidthAcrossRanks() {
        everyRankRefuses(new InProcessGroup(3).communicators(), (rank, comm) -> piece(5, rank == 1 ? D + 1 : D), "q");
    }

    @Test
    void initialStateOnALaterRank() {
        everyRankRefuses(new InProcessGroup(2).communicators(),
                (rank, comm) -> piece(5, D).withInitialState(rank == 1 ? tensor(Shape.of(B, H, D, E)) : null), "initialState");
    }

    @Test
    void differentDecayAcrossRanks() {
        everyRankRefuses(new InProcessGroup(2).communicators(), (rank, comm) -> {
            AttentionInputs p = piece(3, D);
            p.decay().copyFrom(new double[] {0.1, rank == 0 ? 0.2 : 0.3});
            return p;
        }, "decay", "got rate 0.3 for head 1 on rank 1; expected 0.2 as on rank 0");
    }

    /** Rates are compared themselves, not a digest of them: these two sets have the same Arrays.hashCode. */
    @Test
    void differentDecayWithTheSameHashAcrossRanks() {
        double[] first = {0.1f, 0.3f};
        double[] second = {0.08981854f, 9.999904f};
        assertThat(Arrays.hashCode(first)).isEqualTo(Arrays.hashCode(second));
        everyRankRefuses(new InProcessGroup(2).communicators(), (rank, comm) -> {
            AttentionInputs p = piece(3, D);
            p.decay().copyFrom(rank == 0 ? first : second);
            return p;
        }, "decay", "got rate 0.08981854 for head 0 on rank 1; expected 0.1 as on rank 0");
    }

    @Test
    void differentOptionsAcrossRanks() {
        List<Communicator> comms = new InProcessGroup(2).communicators();
        everyRankRefuses(Ranks.run(comms, (rank, comm) -> new SequenceParallel(la, comm).forward(piece(3, D),
                AttentionOptions.defaults().withFiniteCheck(rank == 0))), "options");
    }

    @Test
    void wrongRankCount() {
        // Two ranks take part, but each communicator claims a group of three.
        List<Communicator> comms = new InProcessGroup(2).communicators().stream().<Communicator>map(c -> new Resized(c, 3)).toList();
        everyRankRefuses(comms, (rank, comm) -> piece(4, D), "communicator");
    }

    @Test
    void dFinalStateOnlyOnTheLastRank() {
        List<Ranks.Outcome<Object>> outcomes = Ranks.run(new InProcessGroup(2).communicators(), (rank, comm) -> {
            SequenceParallel sp = new SequenceParallel(la, comm);
            AttentionInputs p = piece(3, D);
            try (PieceForward f = sp.forward(p, AttentionOptions.defaults())) {
                return sp.backward(p, tensor(Shape.of(B, H, 3, E)), rank == 0 ? tensor(Shape.of(B, H, D, E)) : null,
                        AttentionOptions.defaults(), f);
            }
        });
        for (Ranks.Outcome<Object> o : outcomes) {
            assertThat(o.failure()).isInstanceOf(La2ArgumentException.class);
            assertThat(((La2ArgumentException) o.failure()).argument()).isEqualTo("dFinalState");
        }
        made.forEach(Tensor::close);
    }

    @Test
    void aFailureWhileComputingFailsTheOtherRanks() {
        // A q of another instance of the same backend passes the ranks' own checks and the agreement;
        // the backend refuses it on rank 1.
        LightningAttention other = LightningAttention.open("reference");
        List<Ranks.Outcome<PieceForward>> outcomes = Ranks.run(new InProcessGroup(3, Duration.ofSeconds(30)).communicators(), (rank, comm) -> {
            AttentionInputs p = piece(4, D);
            if (rank == 1) {
                p = new AttentionInputs(other.allocate(DType.FP32, p.q().shape()), p.k(), p.v(), p.decay(), null);
            }
            return new SequenceParallel(la, comm).forward(p, AttentionOptions.defaults());
        });
        other.close();
        assertThat(outcomes.get(1).failure()).isInstanceOf(La2ArgumentException.class);
        assertThat(outcomes.get(0).failure()).isInstanceOf(CommunicationException.class).hasMessageContaining("rank 1 of 3 failed");
        assertThat(outcomes.get(2).failure()).isInstanceOf(CommunicationException.class).hasMessageContaining("rank 1 of 3 failed");
        made.forEach(Tensor::close);
    }

    /**
     * Misuse a backend call would find (negative or NaN rates, wrong dtypes, closed tensors, an
     * unholdable scale, NaN under the finite check) is refused on every rank before any work, not
     * on one rank mid-call while the others return or fail with CommunicationException.
     */
    @Test
    void misuseTheBackendWouldFindIsRefusedOnEveryRank() {
        everyRankRefuses(new InProcessGroup(3).communicators(), (rank, comm) -> {
            AttentionInputs p = piece(3, D);
            p.decay().copyFrom(new double[] {-0.1, 0.2});
            return p;
        }, "decay");
        everyRankRefuses(new InProcessGroup(3).communicators(), (rank, comm) -> {
            AttentionInputs p = piece(3, D);
            return new AttentionInputs(p.q(), p.k(), p.v(), track(la.tensor(new double[H], DType.FP64, Shape.of(H))), null);
        }, "decay");
        everyRankRefuses(new InProcessGroup(3).communicators(), (rank, comm) -> piece(3, D),
                AttentionOptions.defaults().withScale(1e-40), "scale");
        everyRankRefuses(new InProcessGroup(3).communicators(), (rank, comm) -> {
            AttentionInputs p = piece(3, D);
            if (rank == 2) {
                p.q().close();
            }
            return p;
        }, "q");
        everyRankRefuses(new InProcessGroup(3).communicators(), (rank, comm) -> {
            AttentionInputs p = piece(3, D);
            if (rank == 2) {
                double[] x = p.v().toDoubleArray();
                x[5] = Double.NaN;
                p.v().copyFrom(x);
            }
            return p;
        }, AttentionOptions.defaults().withFiniteCheck(true), "v");
    }

    @Test
    void backwardMisuseTheBackendWouldFindIsRefusedOnEveryRank() {
        AttentionOptions options = AttentionOptions.defaults().withFiniteCheck(true);
        // Rank 1's forward result closed, rank 2's final-state gradient in the wrong dtype, rank 0's dOutput not finite.
        for (int bad = 0; bad < 3; bad++) {
            int faulty = bad;
            everyRankRefuses(Ranks.run(new InProcessGroup(3).communicators(), (rank, comm) -> {
                SequenceParallel sp = new SequenceParallel(la, comm);
                AttentionInputs p = piece(3, D);
                PieceForward f = sp.forward(p, options);
                Tensor dOut = tensor(Shape.of(B, H, 3, E));
                Tensor dFinal = null;
                if (rank == faulty && faulty == 0) {
                    dOut.copyFrom(new double[] {Double.POSITIVE_INFINITY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
                } else if (rank == faulty && faulty == 1) {
                    f.close();
                } else if (rank == faulty) {
                    dFinal = track(la.tensor(new double[B * H * D * E], DType.FP64, Shape.of(B, H, D, E)));
                }
                try {
                    return sp.backward(p, dOut, dFinal, options, f);
                } finally {
                    f.close();
                }
            }), List.of("dOutput", "forward", "dFinalState").get(faulty));
        }
    }

    /**
     * With several faulty ranks, each names its own argument and the others the first faulty rank's;
     * a refusal leaves the group usable.
     */
    @Test
    @Timeout(30)
    void eachFaultyRankNamesItsOwnArgument() {
        List<Communicator> comms = new InProcessGroup(3, Duration.ofSeconds(10)).communicators();
        List<Ranks.Outcome<PieceForward>> outcomes = Ranks.run(comms, (rank, comm) -> {
            AttentionInputs p = piece(3, D);
            if (rank == 0) {
                p.q().close();
            } else if (rank == 1) {
                p.v().close();
            }
            return new SequenceParallel(la, comm).forward(p, AttentionOptions.defaults());
        });
        List<String> named = outcomes.stream().map(o -> ((La2ArgumentException) o.failure()).argument()).toList();
        assertThat(named).containsExactly("q", "v", "q");
        assertThat(outcomes.get(2).failure()).hasMessageContaining("on rank 0");
        for (PieceForward f : Ranks.values(Ranks.run(comms, (rank, comm) -> new SequenceParallel(la, comm).forward(piece(3, D),
                AttentionOptions.defaults())))) {
            f.close();
        }
        made.forEach(Tensor::close);
    }

    /**
     * A forward result whose incoming state is of another dtype or backend than the backward's piece
     * is refused on every rank before any work, not by the backend on that rank alone.
     */
    @Test
    @Timeout(30)
    void aForwardOfAnotherDtypeOrBackendIsRefusedOnEveryRank() {
        try (LightningAttention cpu = LightningAttention.open("cpu")) {
            for (boolean otherBackend : new boolean[] {false, true}) {
                everyRankRefuses(Ranks.run(new InProcessGroup(2, Duration.ofSeconds(10)).communicators(), (rank, comm) -> {
                    SequenceParallel sp = new SequenceParallel(la, comm);
                    AttentionInputs p = piece(3, D);
                    try (PieceForward f = sp.forward(p, AttentionOptions.defaults())) {
                        Shape state = Shape.of(B, H, D, E);
                        Tensor stale = otherBackend ? cpu.allocate(DType.FP32, state) : track(la.allocate(DType.FP64, state));
                        try (PieceForward passed = rank == 1 ? new PieceForward(f.output(), null, stale, new double[H], DType.FP32, AttentionOptions.defaults()) : f) {
                            return sp.backward(p, tensor(Shape.of(B, H, 3, E)), null, AttentionOptions.defaults(), passed);
                        }
                    }
                }), "forward");
            }
        }
    }

    /**
     * A backward whose rates or scale differ from its forward's is refused on every rank: the
     * incoming states were computed with the forward's. Every rank changes them alike, so the ranks
     * agree with each other and each rank's own forward result tells.
     */
    @Test
    @Timeout(30)
    void aForwardOfOtherRatesOrScaleIsRefusedOnEveryRank() {
        for (boolean rates : new boolean[] {true, false}) {
            List<Ranks.Outcome<Gradients>> outcomes = Ranks.run(new InProcessGroup(2, Duration.ofSeconds(10)).communicators(),
                    (rank, comm) -> {
                        SequenceParallel sp = new SequenceParallel(la, comm);
                        AttentionInputs p = piece(3, D);
                        try (PieceForward f = sp.forward(p, AttentionOptions.defaults())) {
                            AttentionOptions options = AttentionOptions.defaults();
                            if (rates) {
                                p.decay().copyFrom(new double[] {0.5, 0.0});
                            } else {
                                options = options.withScale(0.25);
                            }
                            return sp.backward(p, tensor(Shape.of(B, H, 3, E)), null, options, f);
                        }
                    });
            everyRankRefuses(outcomes, "forward");
            String expected = rates ? "got a result of decay rate 0.0 for head 0; expected 0.5 as in piece.decay()"
                    : "got a result of scale 1.0 and precision";
            for (int r = 0; r < outcomes.size(); r++) {
                assertThat(outcomes.get(r).failure()).as("rank %d", r).hasMessageContaining(expected);
            }
        }
    }

    /** -0.0 and 0.0 are the same rate (no decay): ranks holding one or the other agree. */
    @Test
    @Timeout(30)
    void signedZeroRatesAgree() {
        List<PieceForward> results = Ranks.values(Ranks.run(new InProcessGroup(2, Duration.ofSeconds(10)).communicators(),
                (rank, comm) -> {
                    AttentionInputs p = piece(3, D);
                    p.decay().copyFrom(new double[] {rank == 0 ? 0.0 : -0.0, 0.2});
                    return new SequenceParallel(la, comm).forward(p, AttentionOptions.defaults());
                }));
        results.forEach(PieceForward::close);
        made.forEach(Tensor::close);
    }

    private synchronized Tensor track(Tensor t) {
        made.add(t);
        return t;
    }

    @Test
    void constructorRefusesNulls() {
        Communicator comm = new InProcessGroup(1).communicators().get(0);
        assertThatThrownBy(() -> new SequenceParallel(null, comm)).isInstanceOfSatisfying(La2ArgumentException.class,
                e -> assertThat(e.argument()).isEqualTo("attention"));
        assertThatThrownBy(() -> new SequenceParallel(la, null)).isInstanceOfSatisfying(La2ArgumentException.class,
                e -> assertThat(e.argument()).isEqualTo("communicator"));
    }

    /** A communicator claiming another group size. */
    private record Resized(Communicator inner, int size) implements Communicator {
        @Override
        public int rank() {
            return inner.rank();
        }

        @Override
        public double[] allGather(double[] local) {
            return inner.allGather(local);
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
