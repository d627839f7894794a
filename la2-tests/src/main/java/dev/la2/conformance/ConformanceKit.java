package dev.la2.conformance;

import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendInfo;
import dev.la2.api.Backends;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.conformance.Case.Decay;
import dev.la2.reference.ReferenceMath;
import dev.la2.api.BackendOptions;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
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
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class ConformanceKit {
    /** System property that replays a run's random inputs. */
    public static final String SEED_PROPERTY = "la2.seed";

    private LightningAttention la;
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
     * The backend opens and describes itself consistently. A missing or unavailable backend makes
     * this case abort with the reason (and every other case vanish): build tools report a per-case
     * skip, whereas a whole class aborted before its first case can show as "0 tests run".
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
    }

    @AfterAll
    protected final void closeBackend() {
        if (la != null) {
            la.close();
            la = null;
        }
        skipReason = null;
        openFailure = null;
    }

    // ------------------------------------------------------------------------------ the cases

    /** Outputs and final states against the reference, over boundary and random sizes. */
    @TestFactory
    public Stream<DynamicNode> forward() {
        return perConfiguration("forward", Cases.forward(random("forward cases")), this::checkForward);
    }

    /** dq, dk, dv, dInitialState and (when learnable) dDecay, with and without dFinalState. */
    @TestFactory
    public Stream<DynamicNode> backward() {
        return perConfiguration("backward", Cases.backward(random("backward cases")), this::checkBackward);
    }

    /**
     * A forward that keeps states for its backward ({@link AttentionOptions#saveForBackward()}): its
     * outputs, and the backward that reads what it kept, against the reference (where the backend
     * keeps nothing, the same calls through the recomputing backward).
     */
    @TestFactory
    public Stream<DynamicNode> savedForward() {
        return perConfiguration("saved forward", Cases.backward(random("saved forward cases")), this::checkSaved);
    }

    /** Two calls chained through the state equal one call, forward and backward (SPEC.md section 1). */
    @TestFactory
    public Stream<DynamicNode> chaining() {
        return perConfiguration("chaining", Cases.chaining(random("chaining cases")), this::checkChaining);
    }

    /** Decode steps from an initial state equal a forward over the same tokens. */
    @TestFactory
    public Stream<DynamicNode> decode() {
        return perConfiguration("decode", Cases.decode(random("decode cases")), this::checkDecode);
    }

    /**
     * NaN and infinity in q, k and v reach exactly the outputs and states they touch: nothing is
     * masked, and nothing leaks into earlier tokens through a masked tile (0 * NaN). One small case
     * and one with 128-wide heads and several blocks, which runs the fast paths (tensor cores, the
     * widest CPU kernels).
     */
    @TestFactory
    public Stream<DynamicNode> nonFiniteInputs() {
        return perConfiguration("non-finite q, k, v", List.of(Case.of(2, 3, 70, 8, 6, Layout.BNHD, 0.9, Decay.MIXED, true),
                Case.of(1, 3, 200, 128, 128, Layout.BHND, 1.0, Decay.MIXED, true)), this::checkNonFinite);
    }

    /** forward and backward that allocate their own results (decode's is part of {@link #decode()}). */
    @TestFactory
    public Stream<DynamicNode> allocatingOverloads() {
        return perConfiguration("allocating overloads",
                List.of(Case.of(1, 3, 33, 6, 10, Layout.BNHD, 0.75, Decay.MIXED, true).withGradients(false, true)),
                this::checkAllocating);
    }

    /** Bad arguments fail naming the argument, change nothing, and leave the instance usable. */
    @TestFactory
    public Stream<DynamicNode> misuse() {
        if (la == null) {
            return Stream.empty();
        }
        Case base = Case.of(2, 3, 7, 4, 5, Layout.BHND, 1.0, Decay.MIXED, true);
        return configurations().stream().map(cfg -> dynamicContainer(cfg.toString(),
                misuses(cfg).stream().map(m -> dynamicTest(m.name() + " -> " + m.argument(),
                        () -> guarded("misuse: " + m.name(), cfg, base, (rng, context) -> checkMisuse(cfg, base, m, rng, context))))));
    }

    // ------------------------------------------------------------------------------ machinery

    /** A storage type and, for FP32, a precision: the kit runs every case once per configuration. */
    record Configuration(DType dtype, Precision precision) {
        @Override
        public String toString() {
            return dtype == DType.FP32 ? dtype + "/" + precision : dtype.toString();
        }
    }

    @FunctionalInterface
    interface CaseCheck {
        void run(Configuration cfg, Case c, SplittableRandom rng, String context) throws Exception;
    }

    @FunctionalInterface
    interface Body {
        void run(SplittableRandom rng, String context) throws Exception;
    }

    List<Configuration> configurations() {
        List<Configuration> out = new ArrayList<>();
        for (DType dtype : la.dtypes().stream().sorted().toList()) {
            if (dtype == DType.FP32) {
                for (Precision p : la.precisions().stream().sorted().toList()) {
                    out.add(new Configuration(dtype, p));
                }
            } else {
                out.add(new Configuration(dtype, Precision.STRICT));
            }
        }
        return out;
    }

    private Stream<DynamicNode> perConfiguration(String kind, List<Case> cases, CaseCheck check) {
        if (la == null) {
            return Stream.empty(); // backendOpens() reports why
        }
        return configurations().stream().map(cfg -> dynamicContainer(cfg.toString(),
                cases.stream().map(c -> dynamicTest(c.toString(),
                        () -> guarded(kind, cfg, c, (rng, context) -> check.run(cfg, c, rng, context))))));
    }

    /**
     * Runs one case with its own random stream and turns anything the backend throws into a
     * failure that names the case, the backend and the seed.
     */
    private void guarded(String kind, Configuration cfg, Case c, Body body) {
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

    private Fixture fixture(Configuration cfg, Case c, SplittableRandom rng) {
        return Fixture.random(la, cfg.dtype(), cfg.precision(), c, rng);
    }

    // ------------------------------------------------------------------------------ checks

    private void checkForward(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = fixture(cfg, c, rng)) {
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(c.valueDim()));
            Tensor fin = c.finalState() ? f.poisoned(cfg.dtype().stateType(), f.stateShape()) : null;
            la.forward(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = f.oracle();
            Check.close("output", f.held(out, c.valueDim()), ref.output(), f.tolerance(), context);
            if (fin != null) {
                Check.close("final state", fin.toDoubleArray(), ref.finalState(), f.tolerance(), context);
            }
            f.assertInputsUnchanged(context);
        }
    }

    /** What a backward call got, in canonical order, with the tensors it wrote. */
    private record Grads(Gradients into, double[] dq, double[] dk, double[] dv, double[] dInitialState, double[] dDecay) {
    }

    private Grads runBackward(Fixture f, Tensor dOut, Tensor dFinal) {
        return runBackward(f, dOut, dFinal, null);
    }

    private Grads runBackward(Fixture f, Tensor dOut, Tensor dFinal, SavedForward saved) {
        Case c = f.c;
        DType state = f.dtype.stateType();
        Gradients into = new Gradients(f.poisoned(f.dtype, f.sequenceShape(c.keyDim())),
                f.poisoned(f.dtype, f.sequenceShape(c.keyDim())), f.poisoned(f.dtype, f.sequenceShape(c.valueDim())),
                f.poisoned(state, f.stateShape()), c.learnableDecay() ? f.poisoned(state, Shape.of(c.heads())) : null);
        la.backward(f.inputs(), dOut, dFinal, f.options(), saved, into);
        return new Grads(into, f.held(into.dq(), c.keyDim()), f.held(into.dk(), c.keyDim()),
                f.held(into.dv(), c.valueDim()), into.dInitialState().toDoubleArray(),
                into.dDecay() == null ? null : into.dDecay().toDoubleArray());
    }

    private static void checkGradients(double[] dq, double[] dk, double[] dv, double[] ds0, double[] dDecay,
                                       ReferenceMath.Backward ref, double tolerance, String context) {
        Check.close("dq", dq, ref.dq(), tolerance, context);
        Check.close("dk", dk, ref.dk(), tolerance, context);
        Check.close("dv", dv, ref.dv(), tolerance, context);
        Check.close("dInitialState", ds0, ref.dInitialState(), tolerance, context);
        if (dDecay != null) {
            Check.closeConditioned("dDecay", dDecay, ref.dDecay(), ref.dDecayScale(), tolerance, context);
        }
    }

    private void checkBackward(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = fixture(cfg, c, rng)) {
            checkBackwardOf(f, null, rng, context);
        }
    }

    private void checkSaved(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = fixture(cfg, c, rng)) {
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(c.valueDim()));
            Tensor fin = f.poisoned(cfg.dtype().stateType(), f.stateShape());
            try (SavedForward saved = keep(la, f.inputs(), f.options(), out, fin)) {
                ReferenceMath.Forward fwd = f.oracle();
                Check.close("output of a keeping forward", f.held(out, c.valueDim()), fwd.output(), f.tolerance(), context);
                Check.close("final state of a keeping forward", fin.toDoubleArray(), fwd.finalState(), f.tolerance(), context);
                checkBackwardOf(f, saved, rng, context + " (backward from kept states)");
            }
        }
    }

    /**
     * A backward of {@code f}'s call (given what its forward kept, or null) with a fresh dOutput, and
     * a dFinalState when the case has one, against the reference; inputs and upstream gradients unchanged.
     */
    private void checkBackwardOf(Fixture f, SavedForward saved, SplittableRandom rng, String context) {
        Case c = f.c;
        Tensor dOut = f.sequence(Fixture.gaussian(rng, f.valueCount(), 1), c.valueDim());
        double[] dOutHeld = f.held(dOut, c.valueDim());
        Tensor dFinal = c.finalGradient()
                ? f.track(la.tensor(Fixture.gaussian(rng, f.stateCount(), 1), f.dtype.stateType(), f.stateShape()))
                : null;
        double[] dFinalHeld = dFinal == null ? null : dFinal.toDoubleArray();
        Grads got = runBackward(f, dOut, dFinal, saved);
        ReferenceMath.Backward ref = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld,
                f.s0Held, dOutHeld, dFinalHeld, c.scale());
        checkGradients(got.dq(), got.dk(), got.dv(), got.dInitialState(), got.dDecay(), ref, f.tolerance(), context);
        f.assertInputsUnchanged(context);
        Fixture.unchanged("dOutput", f.held(dOut, c.valueDim()), dOutHeld, context);
        if (dFinal != null) {
            Fixture.unchanged("dFinalState", dFinal.toDoubleArray(), dFinalHeld, context);
        }
    }

    /** What a keeping forward of {@code inputs} returns, into an output {@code f} closes. */
    private static SavedForward keep(LightningAttention la, Fixture f, AttentionInputs inputs, AttentionOptions options) {
        Tensor out = f.track(la.allocate(f.dtype, options.layout().shape(f.c.batch(), f.c.heads(), f.c.tokens(), f.c.valueDim())));
        return keep(la, inputs, options, out, null);
    }

    /** A keeping forward into {@code out} (and {@code fin}, may be null); it must return what it kept. */
    private static SavedForward keep(LightningAttention la, AttentionInputs inputs, AttentionOptions options, Tensor out,
                                     Tensor fin) {
        SavedForward saved = la.forward(inputs, options.withSaveForBackward(true), out, fin);
        if (saved == null) {
            throw new AssertionError("forward with saveForBackward returned nothing to pass to the backward");
        }
        return saved;
    }

    /** {@code f}'s backward (zero dOutput) given {@code saved}. */
    private static void backwardWith(LightningAttention la, Fixture f, SavedForward saved) {
        Tensor dOut = f.track(zeros(la, f.dtype, f.sequenceShape(f.c.valueDim())));
        la.backward(f.inputs(), dOut, null, f.options(), saved).close();
    }

    private void checkChaining(Configuration cfg, Case c, SplittableRandom rng, String context) {
        int n = c.tokens();
        int m = c.split();
        int seqs = c.batch() * c.heads();
        int d = c.keyDim();
        int e = c.valueDim();
        DType state = cfg.dtype().stateType();
        try (Fixture f = fixture(cfg, c, rng);
             Fixture first = new Fixture(la, cfg.dtype(), cfg.precision(), c.withTokens(m, c.initialState()));
             Fixture second = new Fixture(la, cfg.dtype(), cfg.precision(), c.withTokens(n - m, true))) {
            first.upload(Fixture.tokens(f.qHeld, seqs, n, d, 0, m), Fixture.tokens(f.kHeld, seqs, n, d, 0, m),
                    Fixture.tokens(f.vHeld, seqs, n, e, 0, m), f.decayHeld, f.s0Held);
            Tensor out1 = first.poisoned(cfg.dtype(), first.sequenceShape(e));
            Tensor fin1 = first.poisoned(state, first.stateShape());
            la.forward(first.inputs(), first.options(), out1, fin1);

            // The second call starts from the first call's final state, as the backend holds it.
            second.upload(Fixture.tokens(f.qHeld, seqs, n, d, m, n), Fixture.tokens(f.kHeld, seqs, n, d, m, n),
                    Fixture.tokens(f.vHeld, seqs, n, e, m, n), f.decayHeld, null);
            second.s0 = fin1;
            second.s0Held = fin1.toDoubleArray();
            Tensor out2 = second.poisoned(cfg.dtype(), second.sequenceShape(e));
            Tensor fin2 = second.poisoned(state, second.stateShape());
            la.forward(second.inputs(), second.options(), out2, fin2);

            Tensor outAll = f.poisoned(cfg.dtype(), f.sequenceShape(e));
            Tensor finAll = f.poisoned(state, f.stateShape());
            la.forward(f.inputs(), f.options(), outAll, finAll);

            double[] chained = new double[f.valueCount()];
            Fixture.place(first.held(out1, e), chained, seqs, n, e, 0, m);
            Fixture.place(second.held(out2, e), chained, seqs, n, e, m, n);
            ReferenceMath.Forward ref = f.oracle();
            double tol = f.tolerance();
            Check.close("chained output vs reference", chained, ref.output(), tol, context);
            Check.close("chained final state vs reference", fin2.toDoubleArray(), ref.finalState(), tol, context);
            Check.close("chained output vs one call", chained, f.held(outAll, e), tol, context);
            Check.close("chained final state vs one call", fin2.toDoubleArray(), finAll.toDoubleArray(), tol, context);

            // Backward through the chain: the second part's dInitialState is the first part's dFinalState.
            Tensor dOut = f.sequence(Fixture.gaussian(rng, f.valueCount(), 1), e);
            double[] dOutHeld = f.held(dOut, e);
            Tensor dFinal = c.finalGradient()
                    ? f.track(la.tensor(Fixture.gaussian(rng, f.stateCount(), 1), state, f.stateShape())) : null;
            double[] dFinalHeld = dFinal == null ? null : dFinal.toDoubleArray();
            Grads g2 = runBackward(second, second.sequence(Fixture.tokens(dOutHeld, seqs, n, e, m, n), e), dFinal);
            Grads g1 = runBackward(first, first.sequence(Fixture.tokens(dOutHeld, seqs, n, e, 0, m), e),
                    g2.into().dInitialState());
            double[] dq = new double[f.keyCount()];
            double[] dk = new double[f.keyCount()];
            double[] dv = new double[f.valueCount()];
            Fixture.place(g1.dq(), dq, seqs, n, d, 0, m);
            Fixture.place(g2.dq(), dq, seqs, n, d, m, n);
            Fixture.place(g1.dk(), dk, seqs, n, d, 0, m);
            Fixture.place(g2.dk(), dk, seqs, n, d, m, n);
            Fixture.place(g1.dv(), dv, seqs, n, e, 0, m);
            Fixture.place(g2.dv(), dv, seqs, n, e, m, n);
            double[] dDecay = null;
            if (c.learnableDecay()) {
                dDecay = new double[c.heads()];
                for (int h = 0; h < c.heads(); h++) {
                    dDecay[h] = g1.dDecay()[h] + g2.dDecay()[h];
                }
            }
            ReferenceMath.Backward ref2 = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld,
                    f.s0Held, dOutHeld, dFinalHeld, c.scale());
            checkGradients(dq, dk, dv, g1.dInitialState(), dDecay, ref2, tol, context + " (backward chained)");
        }
    }

    private void checkDecode(Configuration cfg, Case c, SplittableRandom rng, String context) {
        int b = c.batch();
        int h = c.heads();
        int steps = c.tokens();
        int d = c.keyDim();
        int e = c.valueDim();
        int seqs = b * h;
        try (Fixture f = fixture(cfg, c, rng)) {
            DType stateType = cfg.dtype().stateType();
            Tensor state = f.track(la.tensor(f.s0Held != null ? f.s0Held : new double[f.stateCount()], stateType,
                    f.stateShape()));
            Tensor out = f.poisoned(cfg.dtype(), Shape.of(b, h, e));
            double[] outputs = new double[f.valueCount()];
            for (int t = 0; t < steps; t++) {
                try (Tensor qt = la.tensor(Fixture.tokens(f.qHeld, seqs, steps, d, t, t + 1), cfg.dtype(), Shape.of(b, h, d));
                     Tensor kt = la.tensor(Fixture.tokens(f.kHeld, seqs, steps, d, t, t + 1), cfg.dtype(), Shape.of(b, h, d));
                     Tensor vt = la.tensor(Fixture.tokens(f.vHeld, seqs, steps, e, t, t + 1), cfg.dtype(), Shape.of(b, h, e))) {
                    double[] qBefore = qt.toDoubleArray();
                    double[] kBefore = kt.toDoubleArray();
                    double[] vBefore = vt.toDoubleArray();
                    double[] step;
                    if (t % 2 == 1) {
                        // Every other step through the allocating overload.
                        try (Tensor o = la.decode(qt, kt, vt, f.decay, state, c.scale())) {
                            step = o.toDoubleArray();
                        }
                    } else {
                        out.fill(Double.NaN);
                        la.decode(qt, kt, vt, f.decay, state, c.scale(), out);
                        step = out.toDoubleArray();
                    }
                    Fixture.place(step, outputs, seqs, steps, e, t, t + 1);
                    Fixture.unchanged("q", qt.toDoubleArray(), qBefore, context + " step " + t);
                    Fixture.unchanged("k", kt.toDoubleArray(), kBefore, context + " step " + t);
                    Fixture.unchanged("v", vt.toDoubleArray(), vBefore, context + " step " + t);
                }
            }
            ReferenceMath.Forward ref = f.oracle();
            double tol = f.tolerance();
            Check.close("decode outputs vs reference", outputs, ref.output(), tol, context);
            Check.close("state after the decode steps (updated in place) vs reference", state.toDoubleArray(),
                    ref.finalState(), tol, context);
            Tensor outAll = f.poisoned(cfg.dtype(), f.sequenceShape(e));
            la.forward(f.inputs(), f.options(), outAll, null);
            Check.close("decode outputs vs the backend's forward", outputs, f.held(outAll, e), tol, context);
            Fixture.unchanged("decay", f.decay.toDoubleArray(), f.decayHeld, context);
        }
    }

    private void checkNonFinite(Configuration cfg, Case c, SplittableRandom rng, String context) {
        int n = c.tokens();
        int d = c.keyDim();
        int e = c.valueDim();
        int lastB = c.batch() - 1, lastH = c.heads() - 1;
        try (Fixture f = new Fixture(la, cfg.dtype(), cfg.precision(), c)) {
            double std = 1 / Math.sqrt(d);
            double[] q = Fixture.gaussian(rng, f.keyCount(), std);
            double[] k = Fixture.gaussian(rng, f.keyCount(), std);
            double[] v = Fixture.gaussian(rng, f.valueCount(), 1);
            // q: a NaN inside the first block, an infinity near the start of another sequence. k and
            // v: a NaN and an infinity in the middle of a sequence, so every token before them (in
            // the same block and in earlier ones) must stay finite.
            q[(Math.min(1, lastH) * n + Math.min(40, n - 1)) * d + 2 % d] = Double.NaN;
            q[((lastB * c.heads() + lastH) * n + Math.min(3, n - 1)) * d] = Double.POSITIVE_INFINITY;
            v[(n / 2) * e + e / 2] = Double.NaN;
            k[((lastB * c.heads() + lastH) * n + n / 2 + 1 - n % 2) * d + d - 1] = Double.NEGATIVE_INFINITY;
            f.upload(q, k, v, c.rates(rng), Fixture.gaussian(rng, f.stateCount(), 1));
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(e));
            Tensor fin = f.poisoned(cfg.dtype().stateType(), f.stateShape());
            la.forward(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = f.oracle();
            propagates("output", f.held(out, e), ref.output(), e, n, c.heads(), f.tolerance(), context);
            propagates("final state", fin.toDoubleArray(), ref.finalState(), e, d, c.heads(), f.tolerance(), context);
        }
    }

    /**
     * Non-finite exactly where the reference is non-finite, and within tolerance elsewhere. Rows of
     * {@code width} elements, {@code rows} rows per sequence, for the failure message.
     */
    private static void propagates(String what, double[] got, double[] ref, int width, int rows, int heads,
                                   double tolerance, String context) {
        List<Double> finiteGot = new ArrayList<>();
        List<Double> finiteRef = new ArrayList<>();
        for (int i = 0; i < got.length; i++) {
            if (Double.isFinite(ref[i])) {
                finiteGot.add(got[i]);
                finiteRef.add(ref[i]);
            } else if (Double.isFinite(got[i])) {
                int row = i / width;
                throw new AssertionError(context + ": " + what + " element " + (i % width) + " of row " + (row % rows)
                        + " (b=" + row / rows / heads + ", h=" + row / rows % heads + ") is " + got[i]
                        + " where the reference is " + ref[i] + ": non-finite inputs must propagate");
            }
        }
        if (finiteRef.size() == got.length) {
            throw new AssertionError(context + ": the reference's " + what + " is finite everywhere: the non-finite inputs were not placed");
        }
        Check.close(what + " where the reference is finite", unbox(finiteGot), unbox(finiteRef), tolerance, context);
    }

    private void checkAllocating(Configuration cfg, Case c, SplittableRandom rng, String context) {
        try (Fixture f = fixture(cfg, c, rng)) {
            ReferenceMath.Forward ref = f.oracle();
            double tol = f.tolerance();
            try (ForwardResult r = la.forward(f.inputs(), f.options().withFinalState(true))) {
                Check.close("output", f.held(r.output(), c.valueDim()), ref.output(), tol, context);
                if (r.finalState() == null) {
                    throw new AssertionError(context + ": forward with returnFinalState=true returned no final state");
                }
                Check.close("final state", r.finalState().toDoubleArray(), ref.finalState(), tol, context);
            }
            try (ForwardResult r = la.forward(f.inputs(), f.options().withFinalState(false))) {
                Check.close("output without final state", f.held(r.output(), c.valueDim()), ref.output(), tol, context);
                if (r.finalState() != null) {
                    throw new AssertionError(context + ": forward with returnFinalState=false returned a final state");
                }
            }
            Tensor dOut = f.sequence(Fixture.gaussian(rng, f.valueCount(), 1), c.valueDim());
            ReferenceMath.Backward g = ReferenceMath.backward(f.problem, f.qHeld, f.kHeld, f.vHeld, f.decayHeld, f.s0Held,
                    f.held(dOut, c.valueDim()), null, c.scale());
            try (Gradients got = la.backward(f.inputs(), dOut, null, f.options().withLearnableDecay(true))) {
                if (got.dDecay() == null) {
                    throw new AssertionError(context + ": backward with learnable decay returned no decay gradient");
                }
                checkGradients(f.held(got.dq(), c.keyDim()), f.held(got.dk(), c.keyDim()), f.held(got.dv(), c.valueDim()),
                        got.dInitialState().toDoubleArray(), got.dDecay().toDoubleArray(), g, tol, context);
            }
            try (Gradients got = la.backward(f.inputs(), dOut, null, f.options().withLearnableDecay(false))) {
                if (got.dDecay() != null) {
                    throw new AssertionError(context + ": backward without learnable decay returned a decay gradient");
                }
                checkGradients(f.held(got.dq(), c.keyDim()), f.held(got.dk(), c.keyDim()), f.held(got.dv(), c.valueDim()),
                        got.dInitialState().toDoubleArray(), null, g, tol, context);
            }
        }
    }

    // ------------------------------------------------------------------------------ misuse

    /** One bad call: its name, the argument the exception must name, and the call itself. */
    record Misuse(String name, String argument, MisuseCall call) {
    }

    @FunctionalInterface
    interface MisuseCall {
        void run(LightningAttention la, Fixture f, Tensor out, Tensor fin);
    }

    private List<Misuse> misuses(Configuration cfg) {
        DType dt = cfg.dtype();
        DType st = dt.stateType();
        List<Misuse> list = new ArrayList<>();
        list.add(new Misuse("q of rank 3", "q", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.track(zeros(la, dt, Shape.of(2, 3, 7))), f.k, f.v, f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("k with another key width", "k", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.track(zeros(la, dt, Shape.of(2, 3, 7, 5))), f.v, f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("v with another length", "v", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.track(zeros(la, dt, Shape.of(2, 3, 8, 5))), f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("v in the other layout", "v", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.track(zeros(la, dt, Shape.of(2, 7, 3, 5))), f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("decay of the wrong length", "decay", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.v, f.track(la.tensor(new double[] {0.1, 0.2, 0.3, 0.4}, st, Shape.of(4))), f.s0),
                f.options(), out, fin)));
        for (double bad : new double[] {-0.25, Double.NaN, Double.POSITIVE_INFINITY}) {
            list.add(new Misuse("decay rate " + bad, "decay", (la, f, out, fin) -> la.forward(
                    new AttentionInputs(f.q, f.k, f.v, f.track(la.tensor(new double[] {0.1, bad, 0.3}, st, Shape.of(3))), f.s0),
                    f.options(), out, fin)));
        }
        list.add(new Misuse("initial state with D and E swapped", "initialState", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.v, f.decay, f.track(zeros(la, st, Shape.of(2, 3, 5, 4)))), f.options(), out, fin)));
        Optional<DType> other = otherDType(dt);
        other.ifPresent(o -> list.add(new Misuse("k stored as " + o, "k", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.track(zeros(la, o, Shape.of(2, 3, 7, 4))), f.v, f.decay, f.s0), f.options(), out, fin))));
        list.add(new Misuse("null q", "q", (la, f, out, fin) -> la.forward(
                new AttentionInputs(null, f.k, f.v, f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("null inputs", "inputs", (la, f, out, fin) -> la.forward(null, f.options(), out, fin)));
        list.add(new Misuse("null options", "options", (la, f, out, fin) -> la.forward(f.inputs(), null, out, fin)));
        list.add(new Misuse("closed v", "v", (la, f, out, fin) -> {
            Tensor closed = zeros(la, dt, Shape.of(2, 3, 7, 5));
            closed.close();
            la.forward(new AttentionInputs(f.q, f.k, closed, f.decay, f.s0), f.options(), out, fin);
        }));
        list.add(new Misuse("output of the wrong shape", "output", (la, f, out, fin) -> la.forward(
                f.inputs(), f.options(), f.track(zeros(la, dt, Shape.of(2, 3, 7, 4))), fin)));
        list.add(new Misuse("final state aliasing the initial state", "finalState",
                (la, f, out, fin) -> la.forward(f.inputs(), f.options(), out, f.s0)));
        list.add(new Misuse("dOutput of the wrong shape", "dOutput", (la, f, out, fin) -> la.backward(
                f.inputs(), f.track(zeros(la, dt, Shape.of(2, 3, 6, 5))), null, f.options())));
        list.add(new Misuse("a NaN in k under the finite check", "k", (la, f, out, fin) -> {
            double[] x = f.k.toDoubleArray();
            x[x.length / 2] = Double.NaN;
            la.forward(new AttentionInputs(f.q, f.track(la.tensor(x, dt, f.k.shape())), f.v, f.decay, f.s0),
                    f.options().withFiniteCheck(true), out, fin);
        }));
        list.add(new Misuse("an infinity in dOutput under the finite check", "dOutput", (la, f, out, fin) -> {
            double[] x = f.v.toDoubleArray();
            x[x.length - 1] = Double.POSITIVE_INFINITY;
            la.backward(f.inputs(), f.track(la.tensor(x, dt, f.v.shape())), null, f.options().withFiniteCheck(true));
        }));
        list.add(new Misuse("decay gradient requested without learnable decay", "into.dDecay", (la, f, out, fin) -> la.backward(
                f.inputs(), f.track(zeros(la, dt, Shape.of(2, 3, 7, 5))), null, f.options(),
                new Gradients(f.track(zeros(la, dt, Shape.of(2, 3, 7, 4))), f.track(zeros(la, dt, Shape.of(2, 3, 7, 4))),
                        f.track(zeros(la, dt, Shape.of(2, 3, 7, 5))), f.track(zeros(la, st, Shape.of(2, 3, 4, 5))),
                        f.track(zeros(la, st, Shape.of(3)))))));
        // What a forward kept, handed to a backward it does not belong to.
        list.add(new Misuse("saved kept for another length", "saved", (la, f, out, fin) -> {
            // What was kept holds no reference to the inputs, so they may go first.
            try (Fixture longer = Fixture.random(la, f.dtype, f.precision, f.c.withTokens(f.c.tokens() + 1, true),
                    new SplittableRandom(1)); SavedForward saved = keep(la, longer, longer.inputs(), longer.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved kept with another scale", "saved", (la, f, out, fin) -> {
            try (SavedForward saved = keep(la, f, f.inputs(), f.options().withScale(2 * f.c.scale()))) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved kept for other decay rates", "saved", (la, f, out, fin) -> {
            Tensor decay = f.track(la.tensor(new double[] {0.7, 0.8, 0.9}, st, Shape.of(3)));
            try (SavedForward saved = keep(la, f, new AttentionInputs(f.q, f.k, f.v, decay, f.s0), f.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved kept without the initial state", "saved", (la, f, out, fin) -> {
            try (SavedForward saved = keep(la, f, new AttentionInputs(f.q, f.k, f.v, f.decay, null), f.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved closed", "saved", (la, f, out, fin) -> {
            SavedForward saved = keep(la, f, f.inputs(), f.options());
            saved.close();
            backwardWith(la, f, saved);
        }));
        list.add(new Misuse("saved kept by another instance", "saved", (la, f, out, fin) -> {
            try (LightningAttention second = LightningAttention.open(backendName(), backendOptions());
                 Fixture there = Fixture.random(second, f.dtype, f.precision, f.c, new SplittableRandom(2));
                 SavedForward saved = keep(second, there, there.inputs(), there.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("decode state of the wrong shape", "state", (la, f, out, fin) -> la.decode(
                f.track(zeros(la, dt, Shape.of(2, 3, 4))), f.track(zeros(la, dt, Shape.of(2, 3, 4))),
                f.track(zeros(la, dt, Shape.of(2, 3, 5))), f.decay, f.track(zeros(la, st, Shape.of(2, 3, 5, 4))), 1.0,
                f.track(zeros(la, dt, Shape.of(2, 3, 5))))));
        list.add(new Misuse("decode scale NaN", "scale", (la, f, out, fin) -> la.decode(
                f.track(zeros(la, dt, Shape.of(2, 3, 4))), f.track(zeros(la, dt, Shape.of(2, 3, 4))),
                f.track(zeros(la, dt, Shape.of(2, 3, 5))), f.decay, f.track(zeros(la, st, Shape.of(2, 3, 4, 5))), Double.NaN,
                f.track(zeros(la, dt, Shape.of(2, 3, 5))))));
        list.add(new Misuse("q made by another instance of the backend", "q", (la, f, out, fin) -> {
            try (LightningAttention second = LightningAttention.open(backendName(), backendOptions());
                 Tensor foreign = zeros(second, dt, Shape.of(2, 3, 7, 4))) {
                la.forward(new AttentionInputs(foreign, f.k, f.v, f.decay, f.s0), f.options(), out, fin);
            }
        }));
        return list;
    }

    /** A storage type the backend can allocate that differs from {@code dtype}, if any. */
    private Optional<DType> otherDType(DType dtype) {
        EnumSet<DType> allocatable = EnumSet.noneOf(DType.class);
        for (DType t : la.dtypes()) {
            allocatable.add(t);
            allocatable.add(t.stateType());
        }
        allocatable.remove(dtype);
        return allocatable.stream().findFirst();
    }

    private static Tensor zeros(LightningAttention la, DType dtype, Shape shape) {
        Tensor t = la.allocate(dtype, shape);
        t.fill(0);
        return t;
    }

    private void checkMisuse(Configuration cfg, Case base, Misuse m, SplittableRandom rng, String context) {
        try (Fixture f = fixture(cfg, base, rng)) {
            Tensor out = f.poisoned(cfg.dtype(), f.sequenceShape(base.valueDim()));
            Tensor fin = f.poisoned(cfg.dtype().stateType(), f.stateShape());
            La2ArgumentException thrown = null;
            try {
                m.call().run(la, f, out, fin);
            } catch (La2ArgumentException e) {
                thrown = e;
            } catch (RuntimeException e) {
                throw new AssertionError(context + ": expected La2ArgumentException naming '" + m.argument()
                        + "', got " + e, e);
            }
            if (thrown == null) {
                throw new AssertionError(context + ": the call was accepted; expected La2ArgumentException naming '"
                        + m.argument() + "'");
            }
            if (!m.argument().equals(thrown.argument()) || !thrown.getMessage().contains(m.argument())) {
                throw new AssertionError(context + ": the exception names '" + thrown.argument() + "' (message: "
                        + thrown.getMessage() + "); expected '" + m.argument() + "'");
            }
            f.assertInputsUnchanged(context + ", after the rejected call");
            // The rejected call must leave the instance as it was: the same call done right still works.
            out.fill(Double.NaN);
            fin.fill(Double.NaN);
            la.forward(f.inputs(), f.options(), out, fin);
            ReferenceMath.Forward ref = f.oracle();
            Check.close("output after the rejected call", f.held(out, base.valueDim()), ref.output(), f.tolerance(), context);
            Check.close("final state after the rejected call", fin.toDoubleArray(), ref.finalState(), f.tolerance(), context);
        }
    }

    private static double[] unbox(List<Double> values) {
        double[] a = new double[values.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = values.get(i);
        }
        return a;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + backendName().toLowerCase(Locale.ROOT) + "]";
    }
}
