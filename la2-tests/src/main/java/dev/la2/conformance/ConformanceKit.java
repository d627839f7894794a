package dev.la2.conformance;

import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendInfo;
import dev.la2.api.BackendOptions;
import dev.la2.api.Backends;
import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.conformance.Case.Decay;
import dev.la2.reference.ReferenceMath;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;
import org.opentest4j.TestAbortedException;

/**
 * The conformance kit: every backend's tests extend this class and name their backend. It holds the
 * backend to SPEC.md against the float64 reference ({@link ReferenceMath}), for every storage type
 * the backend offers and, for FP32, every precision, with SPEC.md section 3's tolerances.
 *
 * <pre>{@code
 * class CpuConformanceTest extends ConformanceKit {
 *     protected String backendName() { return "cpu"; }
 * }
 * }</pre>
 *
 * <p>A backend that is missing from the class path or whose probe says it cannot run here is
 * skipped with the reason ({@link #backendOpens()} aborts), never passed. Inputs are drawn fresh each run from
 * a seed printed in every failure; {@code -Dla2.seed=<seed>} replays a run. Every output is
 * poisoned with NaN before the call, so an element the backend does not write fails.
 *
 * <p>A third-party backend that throws {@link UnsupportedOperationException} for a feature has that
 * case reported as aborted (skipped, with the message), not passed.
 *
 * <p>This class opens the backend, lays every family of cases out per {@code Configuration} and
 * turns failures into messages that name the case and the seed. The families' checks live beside
 * it: {@code ForwardChecks}, {@code GradientChecks}, {@code KeptStateChecks}, {@code ChainingCheck},
 * {@code DecodeCheck}, {@code AllocatingCheck}, {@code GuardedOutputCheck} and the
 * {@code MisuseCatalogue}; their sizes in {@code Cases}. The serving calls (SPEC.md section 8)
 * have {@code PackedChecks}, {@code SlotChecks} and {@code PackedMisuses}, sized in
 * {@code PackedCases}. {@code ConcurrentCallsCheck} runs several of those checks on the one
 * instance from several threads at once.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class ConformanceKit {
    /** System property that replays a run's random inputs. */
    public static final String SEED_PROPERTY = "la2.seed";

    private LightningAttention la;
    /** A second instance with more worker threads than the {@link #manyThreads()} cases have sequences; opened there. */
    private LightningAttention manyThreaded;
    /** What discovery reported about the backend under test, or null where it was not found. */
    private BackendInfo discovered;
    private long seed;
    /** Why the backend is not tested here (missing or unavailable), or null. */
    private String skipReason;
    private RuntimeException openFailure;

    /** The provider name of the backend under test, for example "cpu". */
    protected abstract String backendName();

    /** Options the backend is opened with. */
    protected BackendOptions backendOptions() {
        return BackendOptions.defaults();
    }

    /** The backend instance under test, open while the kit runs, for subclasses that add cases. */
    protected final LightningAttention attention() {
        return la;
    }

    /** This run's seed. */
    protected final long seed() {
        return seed;
    }

    @BeforeAll
    protected final void openBackend() {
        seed = Long.getLong(SEED_PROPERTY, System.nanoTime());
        String name = backendName();
        if (name == null || name.isBlank()) {
            skipReason = "la2 conformance: no backend name given";
            return;
        }
        Optional<BackendInfo> info = Backends.discover().stream()
                .filter(i -> i.name().equalsIgnoreCase(name.strip())).findFirst();
        discovered = info.orElse(null);
        if (info.isEmpty()) {
            skipReason = "la2 conformance: backend '" + name + "' skipped: no provider of that name on the class path;"
                    + " providers found:\n" + Backends.describe();
        } else if (!info.get().availability().isAvailable()) {
            skipReason = "la2 conformance: backend '" + name + "' skipped: " + info.get().availability();
        } else {
            try {
                la = LightningAttention.open(name, backendOptions());
            } catch (RuntimeException e) {
                openFailure = e;
            }
        }
    }

    /**
     * The backend opens and describes itself consistently: it offers Precision.STRICT, allocates
     * every storage type it offers, and offers exactly the types its provider reported to discovery.
     * A missing or unavailable backend makes this case abort with the reason (and every other case
     * vanish): build tools report a per-case skip, whereas a whole class aborted before its first
     * case can show as "0 tests run".
     */
    @Test
    public void backendOpens() {
        if (skipReason != null) {
            Assumptions.abort(skipReason);
        }
        if (openFailure != null) {
            throw new AssertionError("la2 conformance: backend '" + backendName() + "' probed available but failed to"
                    + " open: " + openFailure, openFailure);
        }
        String context = "backend '" + backendName() + "'";
        if (la.dtypes().isEmpty()) {
            throw new AssertionError(context + " offers no storage types");
        }
        if (!la.precisions().contains(Precision.STRICT)) {
            throw new AssertionError(context + " does not offer Precision.STRICT (the SPI requires it): " + la.precisions());
        }
        for (DType dtype : la.dtypes()) {
            try (Tensor t = la.allocate(dtype, Shape.of(2, 3)); Tensor s = la.allocate(dtype.stateType(), Shape.of(2))) {
                if (t.dtype() != dtype || !t.shape().equals(Shape.of(2, 3)) || s.dtype() != dtype.stateType()) {
                    throw new AssertionError(context + " allocated " + t + " and " + s + " for " + dtype);
                }
            }
        }
        // Callers choose a backend by what discovery reports (Backends.choose, la2 backends): an
        // instance must store exactly the types its provider promised.
        if (!discovered.dtypes().equals(la.dtypes())) {
            throw new AssertionError(context + " stores " + sorted(la.dtypes()) + " (LightningAttention.dtypes()) but its"
                    + " provider reports " + sorted(discovered.dtypes()) + " (BackendProvider.dtypes(), as"
                    + " Backends.discover() lists them); the two must be equal");
        }
    }

    private static List<DType> sorted(Set<DType> types) {
        return types.stream().sorted().toList();
    }

    @AfterAll
    protected final void closeBackend() {
        if (la != null) {
            la.close();
            la = null;
        }
        if (manyThreaded != null) {
            manyThreaded.close();
            manyThreaded = null;
        }
        discovered = null;
        skipReason = null;
        openFailure = null;
    }

    // ------------------------------------------------------------------------------ the cases

    /** Outputs and final states against the reference, over boundary and random sizes. */
    @TestFactory
    public Stream<DynamicNode> forward() {
        return perConfiguration("forward", Cases.forward(random("forward cases")), new ForwardChecks(la)::forward);
    }

    /** dq, dk, dv, dInitialState and (when learnable) dDecay, with and without dFinalState. */
    @TestFactory
    public Stream<DynamicNode> backward() {
        return perConfiguration("backward", Cases.backward(random("backward cases")), new GradientChecks(la)::backward);
    }

    /**
     * A forward that keeps states for its backward ({@link AttentionOptions#saveForBackward()}): its
     * outputs, and the backward that reads what it kept, against the reference (where the backend
     * keeps nothing, the same calls through the recomputing backward).
     */
    @TestFactory
    public Stream<DynamicNode> savedForward() {
        return perConfiguration("saved forward", Cases.backward(random("saved forward cases")),
                new KeptStateChecks(la)::savedForward);
    }

    /** Two calls chained through the state equal one call, forward and backward (SPEC.md section 1). */
    @TestFactory
    public Stream<DynamicNode> chaining() {
        return perConfiguration("chaining", Cases.chaining(random("chaining cases")), new ChainingCheck(la)::chaining);
    }

    /** Decode steps from an initial state equal a forward over the same tokens. */
    @TestFactory
    public Stream<DynamicNode> decode() {
        return perConfiguration("decode", Cases.decode(random("decode cases")), new DecodeCheck(la)::decode);
    }

    /**
     * NaN and infinity in q, k, v and the initial state reach exactly the outputs and states they
     * touch: nothing is masked, and nothing leaks into earlier tokens through a masked tile
     * (0 * NaN). NaN and infinity in dOutput and dFinalState reach every gradient the reference's
     * do, and no other sequence. One small case and one with 128-wide heads and several blocks,
     * which runs the fast paths (tensor cores, the widest CPU kernels).
     */
    @TestFactory
    public Stream<DynamicNode> nonFiniteInputs() {
        List<Case> cases = List.of(Case.of(2, 3, 70, 8, 6, Layout.BNHD, 0.9, Decay.MIXED, true),
                Case.of(1, 3, 200, 128, 128, Layout.BHND, 1.0, Decay.MIXED, true));
        return Stream.concat(perConfiguration("non-finite q, k, v, initial state", cases, new ForwardChecks(la)::nonFinite),
                perConfiguration("non-finite dOutput, dFinalState", cases.stream().map(c -> c.withGradients(true, true)).toList(),
                        new GradientChecks(la)::nonFinite));
    }

    /** forward and backward that allocate their own results (decode's is part of {@link #decode()}). */
    @TestFactory
    public Stream<DynamicNode> allocatingOverloads() {
        return perConfiguration("allocating overloads",
                List.of(Case.of(1, 3, 33, 6, 10, Layout.BNHD, 0.75, Decay.MIXED, true).withGradients(false, true)),
                new AllocatingCheck(la)::allocating);
    }

    /**
     * Forward, backward and decode, and the packed forward, a pooled forward and a decode by slot,
     * into caller memory between guard bands write nothing outside their outputs; left out for
     * backends that cannot wrap caller memory.
     */
    @TestFactory
    public Stream<DynamicNode> outputsInCallerMemory() {
        if (la == null || !GuardedOutputCheck.applies(la)) {
            return Stream.empty();
        }
        return Stream.concat(perConfiguration("outputs in caller memory",
                List.of(Case.of(2, 3, 70, 17, 9, Layout.BNHD, 0.5, Decay.MIXED, true).withGradients(false, true)),
                new GuardedOutputCheck(la)::outputs), perConfiguration("packed outputs and a pool in caller memory",
                List.of(PackedCase.of(3, 9, 5, 0.75, false, 70, 0, 9)), new GuardedOutputCheck(la)::packed));
    }

    /**
     * Sequences fewer than the worker threads of an instance opened with {@link Cases#MANY_THREADS}
     * of them: a CPU backend that cuts a sequence between threads and joins the pieces' states runs
     * those joins here whatever the host's core count (the other families' B*H sequences keep every
     * thread busy on small hosts). Slow ALiBi decay, so that a power of lambda off by one token at a
     * join shows; forward, backward, kept states and packed calls.
     */
    @TestFactory
    public Stream<DynamicNode> manyThreads() {
        if (la == null) {
            return Stream.empty();
        }
        manyThreaded = LightningAttention.open(backendName(), backendOptions().withThreads(Cases.MANY_THREADS));
        SplittableRandom rng = random("many threads cases");
        List<Case> cases = Cases.manyThreads();
        List<PackedCase> packed = PackedCases.manyThreads(rng);
        return Stream.of(
                dynamicContainer("forward", perConfiguration("forward on many threads", cases,
                        new ForwardChecks(manyThreaded)::forward)),
                dynamicContainer("backward", perConfiguration("backward on many threads", cases,
                        new GradientChecks(manyThreaded)::backward)),
                dynamicContainer("saved forward", perConfiguration("saved forward on many threads", cases,
                        new KeptStateChecks(manyThreaded)::savedForward)),
                dynamicContainer("packed", perConfiguration("packed on many threads", packed,
                        new PackedChecks(manyThreaded)::forward)),
                dynamicContainer("packed backward", perConfiguration("packed backward on many threads", packed,
                        new PackedChecks(manyThreaded)::backward)));
    }

    /** Bad arguments fail naming the argument, change nothing, and leave the instance usable. */
    @TestFactory
    public Stream<DynamicNode> misuse() {
        if (la == null) {
            return Stream.empty();
        }
        Case base = Case.of(2, 3, 7, 4, 5, Layout.BHND, 1.0, Decay.MIXED, true);
        return Configuration.of(la).stream().map(cfg -> dynamicContainer(cfg.toString(),
                MisuseCatalogue.of(cfg, la.dtypes(), this::openAnother).stream().map(m -> dynamicTest(
                        m.name() + " -> " + m.argument(), () -> guarded("misuse: " + m.name(), cfg, base,
                                (rng, context) -> m.check(la, cfg, base, rng, context))))));
    }

    /** Packed sequences with dense states equal the same sequences one by one (SPEC.md section 8). */
    @TestFactory
    public Stream<DynamicNode> packed() {
        return perConfiguration("packed", PackedCases.forward(random("packed cases")), new PackedChecks(la)::forward);
    }

    /** The packed backward, recomputing and from a kept forward, against the reference. */
    @TestFactory
    public Stream<DynamicNode> packedBackward() {
        SplittableRandom rng = random("packed backward cases");
        return Stream.concat(perConfiguration("packed backward", PackedCases.backward(rng), new PackedChecks(la)::backward),
                perConfiguration("pooled backward", PackedCases.pooledBackward(), new SlotChecks(la)::pooledBackward));
    }

    /** Packed calls through a state pool: permuted and padded slots, a prefill in two pieces, fresh sequences. */
    @TestFactory
    public Stream<DynamicNode> pooled() {
        return Stream.concat(perConfiguration("pooled", PackedCases.pooled(random("pooled cases")), new SlotChecks(la)::pooled),
                Stream.concat(perConfiguration("prefill in pieces", PackedCases.pieces(), new SlotChecks(la)::pieces),
                        perConfiguration("fresh sequences in used slots", PackedCases.pooled(random("fresh cases")),
                                new SlotChecks(la)::fresh)));
    }

    /** Decode by slot, and draft plus commit, equal the forward. */
    @TestFactory
    public Stream<DynamicNode> slotDecode() {
        return Stream.concat(perConfiguration("decode by slot", PackedCases.decode(), new SlotChecks(la)::decode),
                perConfiguration("draft and commit", PackedCases.draft(), new SlotChecks(la)::draft));
    }

    /** Bad packed and slot calls fail naming the argument and change nothing. */
    @TestFactory
    public Stream<DynamicNode> packedMisuse() {
        return perConfiguration("packed misuse", PackedMisuses.all(),
                (cfg, m, rng, context) -> PackedMisuses.check(la, m, cfg, rng, context));
    }

    /**
     * The one instance called from several threads at once (the SPI's "safe for concurrent calls"):
     * overlapping forward, backward, keeping, decode and packed calls, each against the reference.
     */
    @TestFactory
    public Stream<DynamicNode> concurrentCalls() {
        return perConfiguration("concurrent calls", List.of(ConcurrentCallsCheck.SCHEDULE),
                new ConcurrentCallsCheck(la)::concurrent);
    }

    // ------------------------------------------------------------------------------ machinery

    @FunctionalInterface
    interface CaseCheck<C> {
        void run(Configuration cfg, C c, SplittableRandom rng, String context) throws Exception;
    }

    @FunctionalInterface
    interface Body {
        void run(SplittableRandom rng, String context) throws Exception;
    }

    /** A second instance of the backend under test, opened as the first was. */
    private LightningAttention openAnother() {
        return LightningAttention.open(backendName(), backendOptions());
    }

    private <C> Stream<DynamicNode> perConfiguration(String kind, List<C> cases, CaseCheck<C> check) {
        if (la == null) {
            return Stream.empty(); // backendOpens() reports why
        }
        return Configuration.of(la).stream().map(cfg -> dynamicContainer(cfg.toString(),
                cases.stream().map(c -> dynamicTest(c.toString(),
                        () -> guarded(kind, cfg, c, (rng, context) -> check.run(cfg, c, rng, context))))));
    }

    /**
     * Runs one case with its own random stream and turns anything the backend throws into a
     * failure that names the case, the backend and the seed.
     */
    private void guarded(String kind, Configuration cfg, Object c, Body body) {
        String context = kind + " " + cfg + " " + c + " [backend '" + la.backendName() + "', seed " + seed
                + ": replay with -D" + SEED_PROPERTY + "=" + seed + "]";
        SplittableRandom rng = random(kind + "|" + cfg + "|" + c);
        try {
            body.run(rng, context);
        } catch (AssertionError | TestAbortedException e) {
            throw e;
        } catch (UnsupportedOperationException e) {
            Assumptions.abort(context + ": not supported by the backend: " + e.getMessage());
        } catch (Exception e) {
            throw new AssertionError(context + ": the backend threw " + e, e);
        }
    }

    private SplittableRandom random(String salt) {
        long h = seed ^ (0x9E3779B97F4A7C15L * salt.hashCode());
        h = (h ^ (h >>> 33)) * 0xFF51AFD7ED558CCDL;
        h = (h ^ (h >>> 33)) * 0xC4CEB9FE1A85EC53L;
        return new SplittableRandom(h ^ (h >>> 33));
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + backendName().toLowerCase(Locale.ROOT) + "]";
    }
}
