package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.la2.api.AttentionOptions;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Issue "Reliability: bad input": random malformed calls to {@link Nd4jAttention} and to a network
 * with a {@link LightningAttentionLayer}. Every bad call must be refused with an exception that names
 * the bad argument, what it got and what was expected; the caller's arrays must be unchanged; and the
 * same adapter (or network) must afterwards compute exactly what it computed before. Non-dense views
 * must work (via a copy), and NaN/Inf in the data must reach the output instead of being masked.
 *
 * <p>Seeded from {@code -Dla2.seed} (default: the clock); the seed is in every assertion message.
 * Trial counts: {@code -Dla2.badInput.adapterTrials}, {@code -Dla2.badInput.layerTrials}.
 */
class BadInputPropertyTest {
    private static final long SEED = Long.getLong("la2.seed", System.nanoTime());
    private static final int ADAPTER_TRIALS = Integer.getInteger("la2.badInput.adapterTrials", 220);
    private static final int LAYER_TRIALS = Integer.getInteger("la2.badInput.layerTrials", 60);

    private static LightningAttention la;

    @BeforeAll
    static void open() {
        System.out.println("BadInputPropertyTest: seed " + SEED + " (replay with -Dla2.seed=" + SEED + "), backend "
                + TestData.backend());
        la = LightningAttention.open(TestData.backend());
    }

    @AfterAll
    static void close() {
        if (la != null) {
            la.close();
        }
    }

    // =================================================================== adapter

    /** A valid problem: the arrays a correct call takes. */
    private record Prob(SequenceFormat f, DataType t, int b, int h, int n, int d, int e, double scale,
                        INDArray q, INDArray k, INDArray v, INDArray decay, INDArray s0) {
        DataType st() {
            return stateType(t);
        }

        long[] seq(int features) {
            return seqShape(f, b, h, n, features);
        }

        long[] state() {
            return new long[] {b, h, d, e};
        }

        @Override
        public String toString() {
            return f + " " + t + " B=" + b + " H=" + h + " N=" + n + " D=" + d + " E=" + e + " scale=" + scale
                    + " decay=" + Arrays.toString(TestData.doubles(decay)) + " s0=" + (s0 != null);
        }
    }

    private enum Mode { FORWARD, FORWARD_INTO, BACKWARD, BACKWARD_INTO }

    /** One adapter call, every argument settable. */
    private static final class Call {
        Mode mode;
        SequenceFormat format;
        int heads;
        INDArray q;
        INDArray k;
        INDArray v;
        INDArray decay;
        INDArray s0;
        AttentionOptions options;
        INDArray out;
        INDArray fin;
        INDArray dOut;
        INDArray dFin;
        Nd4jAttention.Grads into;

        /** The results: [output, finalState] or [dq, dk, dv, dS0, dDecay] (nulls left out). */
        List<INDArray> run(Nd4jAttention a) {
            switch (mode) {
                case FORWARD -> {
                    Nd4jAttention.Result res = a.forward(format, heads, q, k, v, decay, s0, options);
                    return nonNull(res.output(), res.finalState());
                }
                case FORWARD_INTO -> {
                    a.forward(format, heads, q, k, v, decay, s0, options, out, fin);
                    return nonNull(out, fin);
                }
                case BACKWARD -> {
                    Nd4jAttention.Grads g = a.backward(format, heads, q, k, v, decay, s0, dOut, dFin, options);
                    return nonNull(g.dq(), g.dk(), g.dv(), g.dInitialState(), g.dDecay());
                }
                default -> {
                    a.backward(format, heads, q, k, v, decay, s0, dOut, dFin, options, into);
                    return nonNull(into.dq(), into.dk(), into.dv(), into.dInitialState(), into.dDecay());
                }
            }
        }

        /** Every array the caller hands over, to check none is changed by a refused call. */
        Map<String, INDArray> arrays() {
            Map<String, INDArray> m = new LinkedHashMap<>();
            m.put("q", q);
            m.put("k", k);
            m.put("v", v);
            m.put("decay", decay);
            m.put("initialState", s0);
            m.put("output", out);
            m.put("finalState", fin);
            m.put("dOutput", dOut);
            m.put("dFinalState", dFin);
            if (into != null) {
                m.put("into.dq", into.dq());
                m.put("into.dk", into.dk());
                m.put("into.dv", into.dv());
                m.put("into.dInitialState", into.dInitialState());
                m.put("into.dDecay", into.dDecay());
            }
            m.values().removeIf(x -> x == null);
            return m;
        }
    }

    /** What a bad call must be refused with: the argument, and text its "got" / "expected" parts must hold. */
    private record Bad(String what, String argument, String got, String expected) {
    }

    private static List<INDArray> nonNull(INDArray... a) {
        List<INDArray> out = new ArrayList<>();
        for (INDArray x : a) {
            if (x != null) {
                out.add(x);
            }
        }
        return out;
    }

    private static DataType stateType(DataType t) {
        return t == DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
    }

    private static long[] seqShape(SequenceFormat f, int b, int h, int n, int features) {
        return switch (f) {
            case BHND -> new long[] {b, h, n, features};
            case BNHD -> new long[] {b, n, h, features};
            case NCW -> new long[] {b, (long) h * features, n};
            case NWC -> new long[] {b, n, (long) h * features};
        };
    }

    /** 1 to max, 1 a third of the time: extents of 1 are where degenerate paths (vectors, scalars) hide. */
    private static int small(Random r, int max) {
        return r.nextInt(3) == 0 ? 1 : 1 + r.nextInt(max);
    }

    private static Prob randomProblem(Random r) {
        SequenceFormat f = SequenceFormat.values()[r.nextInt(4)];
        DataType t = r.nextBoolean() ? DataType.FLOAT : DataType.DOUBLE;
        int b = small(r, 3);
        int h = small(r, 3);
        int n = small(r, 12);
        int d = small(r, 5);
        int e = small(r, 5);
        double[] rates = new double[h];
        for (int i = 0; i < h; i++) {
            rates[i] = r.nextInt(4) == 0 ? 0.0 : 2.0 * r.nextDouble();
        }
        // Decay as any floating array of H elements ([H] or [1, H]); the state type or the other float type.
        DataType decayType = r.nextInt(4) == 0 ? (stateType(t) == DataType.FLOAT ? DataType.DOUBLE : DataType.FLOAT) : stateType(t);
        INDArray decay = Nd4j.create(rates, r.nextInt(4) == 0 ? new long[] {1, h} : new long[] {h}, 'c').castTo(decayType);
        INDArray s0 = r.nextBoolean() ? TestData.normal(r, stateType(t), 0.5, b, h, d, e) : null;
        double scale = r.nextBoolean() ? 1.0 : 0.2 + r.nextDouble();
        return new Prob(f, t, b, h, n, d, e, scale,
                TestData.normal(r, t, 1 / Math.sqrt(d), seqShape(f, b, h, n, d)),
                TestData.normal(r, t, 1 / Math.sqrt(d), seqShape(f, b, h, n, d)),
                TestData.normal(r, t, 1.0, seqShape(f, b, h, n, e)),
                decay, s0);
    }

    private static INDArray poisoned(DataType t, long... shape) {
        return Nd4j.createUninitialized(t, shape, 'c').assign(Double.NaN);
    }

    /** A fresh valid call of the given mode; outputs (for the "into" modes) poisoned, dOutput fixed by the seed. */
    private static Call validCall(Prob p, Mode mode, Random r, long dataSeed) {
        Call c = new Call();
        c.mode = mode;
        c.format = p.f();
        c.heads = p.h();
        c.q = p.q();
        c.k = p.k();
        c.v = p.v();
        c.decay = p.decay();
        c.s0 = p.s0();
        boolean learnable = mode == Mode.BACKWARD || mode == Mode.BACKWARD_INTO;
        c.options = AttentionOptions.defaults().withScale(p.scale()).withFinalState(true).withLearnableDecay(learnable);
        if (mode == Mode.FORWARD_INTO) {
            c.out = poisoned(p.t(), p.seq(p.e()));
            c.fin = poisoned(p.st(), p.state());
        }
        if (learnable) {
            Random dr = new Random(dataSeed);
            c.dOut = TestData.normal(dr, p.t(), 1.0, p.seq(p.e()));
            c.dFin = dr.nextBoolean() ? TestData.normal(dr, p.st(), 1.0, p.state()) : null;
        }
        if (mode == Mode.BACKWARD_INTO) {
            c.into = new Nd4jAttention.Grads(poisoned(p.t(), p.seq(p.d())), poisoned(p.t(), p.seq(p.d())),
                    poisoned(p.t(), p.seq(p.e())), poisoned(p.st(), p.state()), poisoned(p.st(), p.h()));
        }
        return c;
    }

    /** The array's values in the reference's [B, H, N, F] order. */
    private static double[] canonical(Prob p, INDArray a, int features) {
        INDArray c = switch (p.f()) {
            case BHND -> a;
            case BNHD -> a.permute(0, 2, 1, 3);
            case NWC -> a.dup('c').reshape('c', p.b(), p.n(), p.h(), features).permute(0, 2, 1, 3);
            case NCW -> a.dup('c').reshape('c', p.b(), p.h(), features, p.n()).permute(0, 1, 3, 2);
        };
        return TestData.doubles(c);
    }

    /** Values as doubles (NaN-exact through Arrays.equals), or an empty array for an empty INDArray. */
    private static double[] values(INDArray a) {
        return a.isEmpty() ? new double[0] : TestData.doubles(a);
    }

    private record Snapshot(INDArray array, INDArray copy, long[] shape, long[] stride, DataType type, double[] data) {
        static Snapshot of(INDArray a) {
            return new Snapshot(a, a.isEmpty() ? null : a.dup(), a.shape().clone(), a.stride().clone(), a.dataType(),
                    values(a));
        }

        void assertUnchanged(String name, String ctx) {
            assertThat(array.shape()).as("%s: shape of caller's %s", ctx, name).containsExactly(shape);
            assertThat(array.stride()).as("%s: strides of caller's %s", ctx, name).containsExactly(stride);
            assertThat(array.dataType()).as("%s: data type of caller's %s", ctx, name).isEqualTo(type);
            assertThat(Arrays.equals(values(array), data))
                    .as("%s: caller's %s changed by a refused call", ctx, name).isTrue();
            if (copy != null) {
                assertThat(Arrays.equals(values(copy), data)).as("%s: dup() snapshot of %s", ctx, name).isTrue();
            }
        }
    }

    @Test
    void adapterRefusesMalformedCallsByNameAndKeepsWorking() {
        Random r = new Random(SEED ^ 0x5eedL);
        Map<String, Integer> seen = new TreeMap<>();
        for (int trial = 0; trial < ADAPTER_TRIALS; trial++) {
            Prob p = randomProblem(r);
            Mode mode = Mode.values()[r.nextInt(Mode.values().length)];
            long dataSeed = r.nextLong();
            Nd4jAttention adapter = new Nd4jAttention(la, r.nextBoolean());
            String ctx = "seed " + SEED + ", trial " + trial + ", " + p + ", " + mode;

            List<INDArray> baseline = validCall(p, mode, r, dataSeed).run(adapter);
            if (mode == Mode.FORWARD || mode == Mode.FORWARD_INTO) {
                checkAgainstReference(p, baseline, ctx);
            }

            int kind = r.nextInt(20);
            if (kind < 3) {
                String what = stridedCallWorks(r, p, mode, dataSeed, adapter, baseline, ctx);
                seen.merge("works: " + what, 1, Integer::sum);
            } else if (kind < 5) {
                String what = nonFinitePropagates(r, p, adapter, ctx);
                seen.merge("propagates: " + what, 1, Integer::sum);
            } else {
                Call bad = validCall(p, mode, r, dataSeed);
                Bad expect = corrupt(r, p, bad);
                if (expect == null) {
                    seen.merge("not creatable: negative extent", 1, Integer::sum);
                } else {
                    seen.merge(expect.what().replaceAll("(?<![A-Z0-9.])-?\\d+(\\.\\d+)?", "#"), 1, Integer::sum);
                    refused(adapter, bad, expect, ctx + ", bad: " + expect.what());
                }
            }

            List<INDArray> again = validCall(p, mode, r, dataSeed).run(adapter);
            assertSameResults(again, baseline, ctx + ": the valid call after the bad one");
        }
        System.out.println("BadInputPropertyTest adapter (seed " + SEED + "): " + seen);
    }

    private static void checkAgainstReference(Prob p, List<INDArray> res, String ctx) {
        ReferenceMath.Forward ref = ReferenceMath.forwardClosed(new Problem(p.b(), p.h(), p.n(), p.d(), p.e()),
                canonical(p, p.q(), p.d()), canonical(p, p.k(), p.d()), canonical(p, p.v(), p.e()),
                TestData.doubles(p.decay()), p.s0() == null ? null : TestData.doubles(p.s0()), p.scale());
        double tol = p.t() == DataType.DOUBLE ? 1e-12 : 1e-5;
        assertThat(TestData.relativeError(canonical(p, res.get(0), p.e()), ref.output()))
                .as("%s: output vs the float64 reference", ctx).isLessThanOrEqualTo(tol);
        assertThat(TestData.relativeError(TestData.doubles(res.get(1)), ref.finalState()))
                .as("%s: final state vs the float64 reference", ctx).isLessThanOrEqualTo(tol);
    }

    private static void assertSameResults(List<INDArray> got, List<INDArray> want, String ctx) {
        assertThat(got).as(ctx).hasSameSizeAs(want);
        for (int i = 0; i < want.size(); i++) {
            assertThat(got.get(i).shape()).as("%s: result %d shape", ctx, i).containsExactly(want.get(i).shape());
            assertThat(got.get(i).dataType()).as("%s: result %d type", ctx, i).isEqualTo(want.get(i).dataType());
            assertThat(Arrays.equals(values(got.get(i)), values(want.get(i))))
                    .as("%s: result %d differs from the earlier valid result:%n%s%nvs%n%s", ctx, i, got.get(i), want.get(i))
                    .isTrue();
        }
    }

    /** Runs the bad call, checks the exception and that no caller array changed. */
    private static void refused(Nd4jAttention adapter, Call bad, Bad expect, String ctx) {
        Map<String, Snapshot> before = new LinkedHashMap<>();
        Map<INDArray, Boolean> distinct = new IdentityHashMap<>();
        bad.arrays().forEach((name, a) -> {
            if (distinct.put(a, Boolean.TRUE) == null) {
                before.put(name, Snapshot.of(a));
            }
        });
        Throwable thrown = null;
        try {
            bad.run(adapter);
        } catch (Throwable t) {
            thrown = t;
        }
        if (thrown == null) {
            fail(ctx + ": the call was accepted; expected it refused naming '" + expect.argument() + "'");
        }
        checkNamed(thrown, expect, ctx);
        before.forEach((name, s) -> s.assertUnchanged(name, ctx));
    }

    private static void checkNamed(Throwable thrown, Bad expect, String ctx) {
        if (thrown instanceof La2ArgumentException e) {
            assertThat(e.argument()).as("%s: argument() of %s", ctx, e).isEqualTo(expect.argument());
            assertThat(e.got()).as("%s: got() of %s", ctx, e).isNotBlank();
            assertThat(e.expected()).as("%s: expected() of %s", ctx, e).isNotBlank();
            assertThat(e.getMessage()).as("%s: message", ctx).contains(e.argument(), e.got(), e.expected());
            if (expect.got() != null) {
                assertThat(e.got()).as("%s: got() of %s", ctx, e).contains(expect.got());
            }
            if (expect.expected() != null) {
                assertThat(e.expected()).as("%s: expected() of %s", ctx, e).contains(expect.expected());
            }
        } else if (thrown instanceof IllegalArgumentException e) {
            assertThat(e.getMessage()).as("%s: message of %s", ctx, e).isNotNull()
                    .containsPattern("\\b" + Pattern.quote(expect.argument()) + "\\b").contains("got", "expected");
            if (expect.got() != null) {
                assertThat(e.getMessage()).as("%s: message of %s", ctx, e).contains(expect.got());
            }
            if (expect.expected() != null) {
                assertThat(e.getMessage()).as("%s: message of %s", ctx, e).contains(expect.expected());
            }
        } else {
            throw new AssertionError(ctx + ": expected an IllegalArgumentException naming '" + expect.argument()
                    + "', got " + thrown, thrown);
        }
    }

    private static String shape(INDArray a) {
        return Arrays.toString(a.shape());
    }

    private static String shape(long... s) {
        return Arrays.toString(s);
    }

    private static <T> T pick(Random r, List<T> options) {
        return options.get(r.nextInt(options.size()));
    }

    /** A different extent >= lowest. */
    private static int other(Random r, int x, int lowest) {
        return x == lowest || r.nextBoolean() ? x + 1 + r.nextInt(2) : Math.max(lowest, x - 1 - r.nextInt(2));
    }

    private static DataType otherFloat(Random r, DataType t) {
        List<DataType> o = new ArrayList<>(List.of(DataType.FLOAT, DataType.DOUBLE, DataType.HALF, DataType.BFLOAT16));
        o.remove(t);
        return pick(r, o);
    }

    private static DataType nonFloat(Random r) {
        return pick(r, List.of(DataType.INT, DataType.LONG, DataType.SHORT, DataType.BYTE, DataType.UBYTE,
                DataType.BOOL));
    }

    /** Same values, a rank one higher (trailing 1) or one lower (last two axes merged). */
    private static INDArray otherRank(Random r, INDArray a) {
        long[] s = a.shape();
        if (s.length > 1 && r.nextBoolean()) {
            long[] t = Arrays.copyOf(s, s.length - 1);
            t[t.length - 1] *= s[s.length - 1];
            return a.dup('c').reshape('c', t);
        }
        long[] t = Arrays.copyOf(s, s.length + 1);
        t[s.length] = 1;
        return r.nextBoolean() ? a.dup('c').reshape('c', t) : a.dup('c').reshape('c', prepend1(s));
    }

    private static long[] prepend1(long[] s) {
        long[] t = new long[s.length + 1];
        t[0] = 1;
        System.arraycopy(s, 0, t, 1, s.length);
        return t;
    }

    /**
     * Applies one random corruption to a valid call and says how it must be refused; null when the
     * corruption (a negative extent) cannot even be created as an INDArray.
     */
    private static Bad corrupt(Random r, Prob p, Call c) {
        boolean dl4j = p.f() == SequenceFormat.NCW || p.f() == SequenceFormat.NWC;
        switch (r.nextInt(13)) {
            case 0 -> { // an empty axis in q, k or v, or a sequence of length 0 everywhere
                String target = pick(r, List.of("q", "k", "v", "all"));
                if (target.equals("all")) {
                    c.q = Nd4j.create(p.t(), seqShape(p.f(), p.b(), p.h(), 0, p.d()));
                    c.k = Nd4j.create(p.t(), seqShape(p.f(), p.b(), p.h(), 0, p.d()));
                    c.v = Nd4j.create(p.t(), seqShape(p.f(), p.b(), p.h(), 0, p.e()));
                    return new Bad("N=0 in q, k and v", "q", shape(c.q), null);
                }
                long[] s = (target.equals("v") ? c.v : c.q).shape().clone();
                s[r.nextInt(s.length)] = 0;
                INDArray z = Nd4j.create(p.t(), s);
                set(c, target, z);
                return new Bad("empty axis in " + target, target, shape(z), null);
            }
            case 1 -> { // a negative extent: ND4J itself refuses to make such an array
                long[] s = c.q.shape().clone();
                s[r.nextInt(s.length)] = -1 - r.nextInt(3);
                INDArray neg;
                try {
                    neg = Nd4j.create(p.t(), s);
                } catch (RuntimeException notCreatable) {
                    return null;
                }
                c.q = neg;
                return new Bad("negative extent in q", "q", null, null);
            }
            case 2 -> { // k disagrees with q in B, H, N or D
                int b = p.b(), h = p.h(), n = p.n(), d = p.d();
                String axis = pick(r, List.of("B", "H", "N", "D"));
                switch (axis) {
                    case "B" -> b = other(r, b, 1);
                    case "H" -> h = other(r, h, 1);
                    case "N" -> n = other(r, n, 1);
                    default -> d = other(r, d, 1);
                }
                c.k = TestData.normal(r, p.t(), 0.5, seqShape(p.f(), b, h, n, d));
                return new Bad("k " + axis + " mismatch", "k", shape(c.k), shape(c.q));
            }
            case 3 -> { // v disagrees with q in B, H or N
                String axis = pick(r, List.of("B", "H", "N"));
                long[] s;
                String expected = shape(p.seq(p.e()));
                String got = null;
                if (axis.equals("H") && dl4j) {
                    if (p.h() == 1) {
                        axis = "N";
                        s = seqShape(p.f(), p.b(), p.h(), other(r, p.n(), 1), p.e());
                    } else {
                        s = seqShape(p.f(), p.b(), 1, p.n(), p.h() * p.e() + 1);
                        got = String.valueOf(p.h() * p.e() + 1);
                        expected = "multiple of heads=" + p.h();
                    }
                } else {
                    s = switch (axis) {
                        case "B" -> seqShape(p.f(), other(r, p.b(), 1), p.h(), p.n(), p.e());
                        case "H" -> seqShape(p.f(), p.b(), other(r, p.h(), 1), p.n(), p.e());
                        default -> seqShape(p.f(), p.b(), p.h(), other(r, p.n(), 1), p.e());
                    };
                }
                c.v = TestData.normal(r, p.t(), 1.0, s);
                return new Bad("v " + axis + " mismatch", "v", got != null ? got : shape(s), expected);
            }
            case 4 -> { // decay with H' != H elements (possibly none)
                int h = other(r, p.h(), 0);
                c.decay = Nd4j.zeros(c.decay.dataType(), h);
                return new Bad("decay of " + h + " rates for H=" + p.h(), "decay", shape(c.decay), p.h() + " elements");
            }
            case 5 -> { // initial state of the wrong shape
                long[] s = p.state();
                String how = pick(r, List.of("B", "H", "D", "E", "DE swapped", "rank"));
                switch (how) {
                    case "B" -> s[0] = other(r, p.b(), 0);
                    case "H" -> s[1] = other(r, p.h(), 0);
                    case "D" -> s[2] = other(r, p.d(), 0);
                    case "E" -> s[3] = other(r, p.e(), 0);
                    case "DE swapped" -> {
                        if (p.d() == p.e()) {
                            s[3]++;
                        } else {
                            s = new long[] {p.b(), p.h(), p.e(), p.d()};
                        }
                    }
                    default -> s = r.nextBoolean() ? new long[] {p.b(), p.h(), (long) p.d() * p.e()}
                            : new long[] {p.b(), p.h(), p.d(), p.e(), 1};
                }
                c.s0 = Arrays.stream(s).anyMatch(x -> x == 0) ? Nd4j.create(p.st(), s) : TestData.normal(r, p.st(), 0.5, s);
                return new Bad("initialState " + how, "initialState", shape(s), shape(p.state()));
            }
            case 6 -> { // q, k or v of the wrong rank
                String target = pick(r, List.of("q", "k", "v"));
                INDArray a = otherRank(r, get(c, target));
                set(c, target, a);
                return new Bad("rank " + a.rank() + " " + target, target, shape(a), "rank " + p.f().rank());
            }
            case 7 -> { // wrong data types
                String target = pick(r, List.of("q", "all", "k", "v", "decay", "initialState"));
                switch (target) {
                    case "q", "all" -> {
                        DataType t = nonFloat(r);
                        c.q = c.q.castTo(t);
                        if (target.equals("all")) {
                            c.k = c.k.castTo(t);
                            c.v = c.v.castTo(t);
                        }
                        return new Bad(t + " " + target, "q", t.toString(), null);
                    }
                    case "k", "v" -> {
                        DataType t = r.nextBoolean() ? otherFloat(r, p.t()) : nonFloat(r);
                        set(c, target, get(c, target).castTo(t));
                        return new Bad(t + " " + target + " with " + p.t() + " q", target, t.toString(), p.t().toString());
                    }
                    case "decay" -> {
                        DataType t = nonFloat(r);
                        c.decay = c.decay.castTo(t);
                        return new Bad(t + " decay", "decay", t.toString(), null);
                    }
                    default -> {
                        DataType t = nonFloat(r);
                        c.s0 = TestData.normal(r, p.st(), 0.5, p.state()).castTo(t);
                        return new Bad(t + " initialState", "initialState", t.toString(), null);
                    }
                }
            }
            case 8 -> { // NaN, infinite or negative decay rate
                double bad = pick(r, List.of(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY,
                        -1e-3 - r.nextDouble()));
                INDArray d = c.decay.dup();
                d.putScalar(r.nextInt(p.h()), bad);
                c.decay = d;
                String got = Double.isNaN(bad) ? "NaN" : Double.isInfinite(bad) ? String.valueOf(bad) : "-";
                return new Bad("decay rate " + bad, "decay", got, ">= 0");
            }
            case 9 -> { // null arguments
                String target = pick(r, List.of("format", "options", "q", "k", "v", "decay"));
                switch (target) {
                    case "format" -> c.format = null;
                    case "options" -> c.options = null;
                    default -> set(c, target, null);
                }
                return new Bad("null " + target, target, "null", null);
            }
            case 10 -> { // the heads argument of the DL4J formats
                if (!dl4j) {
                    c.k = TestData.normal(r, p.t(), 0.5, seqShape(p.f(), p.b(), p.h(), p.n() + 1, p.d()));
                    return new Bad("k N mismatch", "k", shape(c.k), shape(c.q));
                }
                int heads = pick(r, List.of(0, -1 - r.nextInt(3), p.h() * p.d() + 1));
                c.heads = heads;
                return heads < 1 ? new Bad("heads=" + heads, "heads", String.valueOf(heads), ">= 1")
                        : new Bad("heads=" + heads + " not dividing H*D=" + p.h() * p.d(), "q",
                                String.valueOf(p.h() * p.d()), "multiple of heads=" + heads);
            }
            case 11 -> { // the output arrays of a forward call
                c.mode = Mode.FORWARD_INTO;
                c.out = poisoned(p.t(), p.seq(p.e()));
                c.fin = poisoned(p.st(), p.state());
                switch (r.nextInt(5)) {
                    case 0 -> {
                        c.out = poisoned(p.t(), p.seq(p.e() + 1));
                        return new Bad("output E mismatch", "output", shape(c.out), shape(p.seq(p.e())));
                    }
                    case 1 -> {
                        DataType t = otherFloat(r, p.t());
                        c.out = poisoned(t, p.seq(p.e()));
                        return new Bad(t + " output", "output", t.toString(), p.t().toString());
                    }
                    case 2 -> {
                        c.out = null;
                        return new Bad("null output", "output", "null", null);
                    }
                    case 3 -> {
                        long[] s = {p.b(), p.h(), p.e(), p.d()};
                        c.fin = poisoned(p.st(), p.d() == p.e() ? new long[] {p.b(), p.h(), p.d()} : s);
                        return new Bad("finalState shape", "finalState", shape(c.fin), shape(p.state()));
                    }
                    default -> {
                        DataType t = otherFloat(r, p.st());
                        c.fin = poisoned(t, p.state());
                        return new Bad(t + " finalState", "finalState", t.toString(), p.st().toString());
                    }
                }
            }
            default -> { // the gradient arguments of a backward call
                boolean intoMode = r.nextBoolean();
                Call v = validCall(p, intoMode ? Mode.BACKWARD_INTO : Mode.BACKWARD, r, r.nextLong());
                c.mode = v.mode;
                c.options = v.options;
                c.dOut = v.dOut;
                c.dFin = v.dFin;
                c.into = v.into;
                switch (intoMode ? r.nextInt(6) : r.nextInt(3)) {
                    case 0 -> {
                        c.dOut = TestData.normal(r, p.t(), 1.0, seqShape(p.f(), p.b(), p.h(), other(r, p.n(), 1), p.e()));
                        return new Bad("dOutput N mismatch", "dOutput", shape(c.dOut), shape(p.seq(p.e())));
                    }
                    case 1 -> {
                        c.dOut = null;
                        return new Bad("null dOutput", "dOutput", "null", null);
                    }
                    case 2 -> {
                        c.dFin = TestData.normal(r, p.st(), 1.0, p.b(), p.h(), p.d() + 1, p.e());
                        return new Bad("dFinalState shape", "dFinalState", shape(c.dFin), shape(p.state()));
                    }
                    case 3 -> {
                        c.into = new Nd4jAttention.Grads(poisoned(p.t(), p.seq(p.d() + 1)), c.into.dk(), c.into.dv(),
                                c.into.dInitialState(), c.into.dDecay());
                        return new Bad("into.dq shape", "into.dq", shape(c.into.dq()), shape(p.seq(p.d())));
                    }
                    case 4 -> {
                        c.into = new Nd4jAttention.Grads(c.into.dq(), c.into.dk(), null, c.into.dInitialState(),
                                c.into.dDecay());
                        return new Bad("null into.dv", "into.dv", "null", null);
                    }
                    default -> {
                        c.into = new Nd4jAttention.Grads(c.into.dq(), c.into.dk(), c.into.dv(),
                                c.into.dInitialState(), poisoned(p.st(), p.h() + 1));
                        return new Bad("into.dDecay length", "into.dDecay", shape(p.h() + 1L), p.h() + " elements");
                    }
                }
            }
        }
    }

    private static INDArray get(Call c, String name) {
        return switch (name) {
            case "q" -> c.q;
            case "k" -> c.k;
            case "v" -> c.v;
            case "decay" -> c.decay;
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static void set(Call c, String name, INDArray a) {
        switch (name) {
            case "q" -> c.q = a;
            case "k" -> c.k = a;
            case "v" -> c.v = a;
            case "decay" -> c.decay = a;
            default -> throw new IllegalArgumentException(name);
        }
    }

    /** The same values as a non-dense array: column-major, or every other element of a bigger array. */
    private static INDArray strided(Random r, INDArray a) {
        if (r.nextBoolean()) {
            return a.dup('f');
        }
        long[] s = a.shape();
        long[] big = s.clone();
        big[big.length - 1] *= 2;
        INDArray holder = Nd4j.createUninitialized(a.dataType(), big, 'c').assign(Double.NaN);
        INDArrayIndex[] idx = new INDArrayIndex[s.length];
        for (int i = 0; i < s.length - 1; i++) {
            idx[i] = NDArrayIndex.all();
        }
        idx[s.length - 1] = NDArrayIndex.interval(0, 2, big[big.length - 1]);
        INDArray view = holder.get(idx);
        view.assign(a);
        return view;
    }

    /** Non-dense views of the inputs (and outputs) must work, through a copy, and give the same numbers. */
    private static String stridedCallWorks(Random r, Prob p, Mode mode, long dataSeed, Nd4jAttention adapter,
                                           List<INDArray> baseline, String ctx) {
        Call c = validCall(p, mode, r, dataSeed);
        List<String> which = new ArrayList<>();
        if (r.nextBoolean()) {
            c.q = strided(r, c.q);
            which.add("q");
        }
        if (r.nextBoolean()) {
            c.k = strided(r, c.k);
            which.add("k");
        }
        if (which.isEmpty() || r.nextBoolean()) {
            c.v = strided(r, c.v);
            which.add("v");
        }
        if (r.nextInt(3) == 0) {
            c.decay = strided(r, c.decay);
            which.add("decay");
        }
        if (c.s0 != null && r.nextInt(3) == 0) {
            c.s0 = strided(r, c.s0);
            which.add("initialState");
        }
        if (c.dOut != null && r.nextBoolean()) {
            c.dOut = strided(r, c.dOut);
            which.add("dOutput");
        }
        INDArray outHolderView = null;
        if (mode == Mode.FORWARD_INTO && r.nextBoolean()) {
            outHolderView = strided(r, poisoned(p.t(), p.seq(p.e())));
            c.out = outHolderView;
            which.add("output");
        }
        Map<String, Snapshot> before = new LinkedHashMap<>();
        c.arrays().forEach((name, a) -> {
            if (!name.equals("output") && !name.equals("finalState") && !name.startsWith("into.")) {
                before.put(name, Snapshot.of(a));
            }
        });
        List<INDArray> res = c.run(adapter);
        assertSameResults(res, baseline, ctx + ", strided " + which);
        before.forEach((name, s) -> s.assertUnchanged(name, ctx + ", strided " + which));
        return "strided " + (which.size() == 1 ? which.get(0) : "inputs");
    }

    /** NaN or Inf in q, k or v reaches the output of its own token: never masked, never an exception. */
    private static String nonFinitePropagates(Random r, Prob p, Nd4jAttention adapter, String ctx) {
        String target = pick(r, List.of("q", "q", "k", "v"));
        double bad = pick(r, List.of(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY));
        int b = r.nextInt(p.b()), h = r.nextInt(p.h()), t = r.nextInt(p.n());
        int features = target.equals("v") ? p.e() : p.d();
        int f = r.nextInt(features);
        INDArray a = switch (target) {
            case "q" -> p.q().dup();
            case "k" -> p.k().dup();
            default -> p.v().dup();
        };
        a.putScalar(index(p, b, h, t, f, features), bad);
        // A value that cannot cancel: q.k for the token itself is nonzero unless q or k is exactly 0 there.
        INDArray q = target.equals("q") ? a : p.q();
        INDArray k = target.equals("k") ? a : p.k();
        INDArray v = target.equals("v") ? a : p.v();
        Nd4jAttention.Result res = adapter.forward(p.f(), p.h(), q, k, v, p.decay(), p.s0(),
                AttentionOptions.defaults().withScale(p.scale()));
        double[] out = canonical(p, res.output(), p.e());
        int row = ((b * p.h() + h) * p.n() + t) * p.e();
        String where = target + "[b=" + b + ", h=" + h + ", t=" + t + ", f=" + f + "] = " + bad;
        for (int e = 0; e < p.e(); e++) {
            double o = out[row + e];
            if (target.equals("v") && e != f) {
                continue; // only value feature f carries the bad number
            }
            assertThat(Double.isFinite(o)).as("%s: %s; output[b=%d, h=%d, t=%d, e=%d] = %s should be non-finite",
                    ctx, where, b, h, t, e, o).isFalse();
        }
        if (!target.equals("q")) {
            double[] fin = TestData.doubles(res.finalState());
            boolean anyBad = Arrays.stream(fin, (b * p.h() + h) * p.d() * p.e(), (b * p.h() + h + 1) * p.d() * p.e())
                    .anyMatch(x -> !Double.isFinite(x));
            assertThat(anyBad).as("%s: %s; the final state of that head should hold non-finite values", ctx, where).isTrue();
        }
        return (Double.isNaN(bad) ? "NaN" : "Inf") + " in " + target;
    }

    /** The physical index of (b, h, t, f) in a sequence array of the problem's format. */
    private static long[] index(Prob p, int b, int h, int t, int f, int features) {
        return switch (p.f()) {
            case BHND -> new long[] {b, h, t, f};
            case BNHD -> new long[] {b, t, h, f};
            case NCW -> new long[] {b, (long) h * features + f, t};
            case NWC -> new long[] {b, t, (long) h * features + f};
        };
    }

    // =================================================================== DL4J layer

    private record NetSpec(RNNFormat format, DataType type, int nIn, int heads, int headSize, int valueSize,
                           int nOut, boolean headNorm, int classes) {
        long[] input(int batch, int steps, int features) {
            return format == RNNFormat.NCW ? new long[] {batch, features, steps} : new long[] {batch, steps, features};
        }
    }

    private static NetSpec randomNet(Random r) {
        return new NetSpec(r.nextBoolean() ? RNNFormat.NCW : RNNFormat.NWC,
                r.nextBoolean() ? DataType.FLOAT : DataType.DOUBLE,
                small(r, 6), small(r, 3), small(r, 4), small(r, 4), small(r, 5),
                r.nextBoolean(), 2 + r.nextInt(3));
    }

    private static MultiLayerNetwork network(NetSpec s, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(s.type())
                .updater(new Adam(1e-2)).weightInit(WeightInit.XAVIER)
                .list()
                .layer(new LightningAttentionLayer.Builder().nIn(s.nIn()).nOut(s.nOut()).nHeads(s.heads())
                        .headSize(s.headSize()).valueSize(s.valueSize()).decayScale(1.5).headNorm(s.headNorm())
                        .backend(TestData.backend()).rnnDataFormat(s.format()).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .dataFormat(s.format()).nOut(s.classes()).build())
                .setInputType(InputType.recurrent(s.nIn(), s.format()))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static INDArray labels(Random r, NetSpec s, int batch, int steps) {
        INDArray l = Nd4j.zeros(s.type(), batch, s.classes(), steps);
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < steps; t++) {
                l.putScalar(b, r.nextInt(s.classes()), t, 1.0);
            }
        }
        return s.format() == RNNFormat.NCW ? l : l.permute(0, 2, 1).dup('c');
    }

    /** Every message in the cause chain (and suppressed exceptions), one per line. */
    private static String chain(Throwable t) {
        StringBuilder sb = new StringBuilder();
        Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        List<Throwable> todo = new ArrayList<>(List.of(t));
        while (!todo.isEmpty()) {
            Throwable x = todo.remove(0);
            if (x == null || seen.put(x, Boolean.TRUE) != null) {
                continue;
            }
            sb.append(x.getClass().getName()).append(": ").append(x.getMessage()).append('\n');
            StackTraceElement[] st = x.getStackTrace();
            for (int i = 0; i < Math.min(4, st.length); i++) {
                sb.append("    at ").append(st[i]).append('\n');
            }
            todo.add(x.getCause());
            todo.addAll(Arrays.asList(x.getSuppressed()));
        }
        return sb.toString();
    }

    private static Throwable thrownBy(Supplier<?> call, String ctx) {
        try {
            call.get();
        } catch (Throwable t) {
            if (t instanceof OutOfMemoryError || t instanceof StackOverflowError) {
                throw new AssertionError(ctx + ": " + t, t);
            }
            return t;
        }
        throw new AssertionError(ctx + ": the call was accepted; expected an exception");
    }

    private static void assertExactlyEqual(INDArray got, INDArray want, String what) {
        assertThat(got.shape()).as(what).containsExactly(want.shape());
        assertThat(Arrays.equals(values(got), values(want)))
                .as("%s: differs (exact comparison)%n%s%nvs%n%s", what, got, want).isTrue();
    }

    @Test
    void layerRefusesMalformedInputsClearlyAndKeepsWorking() {
        Random r = new Random(SEED ^ 0x1a7e4L);
        Map<String, Integer> seen = new TreeMap<>();
        for (int trial = 0; trial < LAYER_TRIALS; trial++) {
            NetSpec s = randomNet(r);
            MultiLayerNetwork net = network(s, SEED + trial);
            int batch = small(r, 3);
            int steps = small(r, 7);
            INDArray x = TestData.normal(r, s.type(), 1.0, s.input(batch, steps, s.nIn()));
            INDArray goodMask = Nets.mask(s.type(), batch, steps, Math.min(1, steps - 1));
            String ctx = "seed " + SEED + ", layer trial " + trial + ", " + s + ", batch " + batch + ", steps " + steps;

            INDArray before = net.output(x).dup();
            INDArray beforeMasked = net.output(x, false, goodMask, null).dup();
            INDArray params = net.params().dup();
            String what;
            switch (r.nextInt(7)) {
                case 0 -> { // wrong feature size
                    int nIn = other(r, s.nIn(), 1);
                    INDArray bad = TestData.normal(r, s.type(), 1.0, s.input(batch, steps, nIn));
                    what = "features " + nIn + " for nIn " + s.nIn();
                    expectClearFailure(() -> net.output(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                }
                case 1 -> { // rank 2 where rank 3 is expected
                    INDArray bad = TestData.normal(r, s.type(), 1.0, batch, s.nIn() * (long) steps);
                    what = "rank 2 input";
                    expectClearFailure(() -> net.output(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                }
                case 2 -> { // rank 4
                    long[] sh = s.input(batch, steps, s.nIn());
                    INDArray bad = TestData.normal(r, s.type(), 1.0, sh[0], sh[1], sh[2], 1);
                    what = "rank 4 input";
                    expectClearFailure(() -> net.output(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                }
                case 3 -> { // a mask of the wrong shape
                    List<long[]> shapes = new ArrayList<>(List.of(new long[] {batch, steps + 1},
                            new long[] {batch + 1, steps}, new long[] {batch, steps, 1}));
                    if (batch != steps) {
                        shapes.add(new long[] {steps, batch});
                    }
                    long[] ms = pick(r, shapes);
                    INDArray mask = Nd4j.ones(s.type(), ms);
                    what = "mask " + shape(ms);
                    expectClearFailure(() -> net.output(x, false, mask, null), x, mask, shape(ms),
                            "expected[^\\n]*(" + Pattern.quote(shape(new long[] {batch, steps})) + "|\\[minibatch, T\\])", ctx + ", " + what);
                }
                case 4 -> { // NaN or Inf in the input propagates through the layer
                    double badValue = r.nextBoolean() ? Double.NaN : Double.POSITIVE_INFINITY;
                    int b = r.nextInt(batch), t = r.nextInt(steps), f = r.nextInt(s.nIn());
                    INDArray bad = x.dup();
                    bad.putScalar(s.format() == RNNFormat.NCW ? new long[] {b, f, t} : new long[] {b, t, f}, badValue);
                    what = badValue + " input";
                    INDArray snap = bad.dup();
                    // The attention layer's own activations: DL4J's softmax after it may turn an all-NaN row
                    // into a uniform distribution (seen with nOut=1), which is not this layer's doing.
                    INDArray out = net.feedForward(bad, false).get(1);
                    net.output(bad); // the whole network must not crash either
                    assertExactlyEqual(bad, snap, ctx + ", " + what + ": the caller's input");
                    for (int c = 0; c < s.nOut(); c++) {
                        double o = s.format() == RNNFormat.NCW ? out.getDouble(b, c, t) : out.getDouble(b, t, c);
                        assertThat(Double.isFinite(o)).as("%s, %s at [b=%d, t=%d, f=%d]: layer output %d = %s should be non-finite",
                                ctx, what, b, t, f, c, o).isFalse();
                    }
                    for (int ob = 0; ob < batch; ob++) {
                        if (ob != b) {
                            INDArray other = out.get(NDArrayIndex.point(ob), NDArrayIndex.all(), NDArrayIndex.all());
                            assertThat(other.isInfinite().any() || other.isNaN().any())
                                    .as("%s, %s: example %d has no bad input but non-finite layer output", ctx, what, ob).isFalse();
                        }
                    }
                }
                case 5 -> { // fit on features of the wrong size: refused, parameters untouched
                    int nIn = other(r, s.nIn(), 1);
                    INDArray bad = TestData.normal(r, s.type(), 1.0, s.input(batch, steps, nIn));
                    INDArray y = labels(r, s, batch, steps);
                    what = "fit with features " + nIn + " for nIn " + s.nIn();
                    expectClearFailure(() -> {
                        net.fit(new DataSet(bad, y));
                        return null;
                    }, bad, null, shape(bad), "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                    assertExactlyEqual(net.params(), params, ctx + ", " + what + ": parameters after the refused fit");
                }
                default -> { // rnnTimeStep with a bad step keeps the stored state
                    INDArray x2 = TestData.normal(r, s.type(), 1.0, s.input(batch, 1 + r.nextInt(3), s.nIn()));
                    net.rnnClearPreviousState();
                    net.rnnTimeStep(x);
                    INDArray expected = net.rnnTimeStep(x2).dup();
                    net.rnnClearPreviousState();
                    net.rnnTimeStep(x);
                    int nIn = other(r, s.nIn(), 1);
                    INDArray bad = TestData.normal(r, s.type(), 1.0, s.input(batch, 1, nIn));
                    what = "rnnTimeStep with features " + nIn + " for nIn " + s.nIn();
                    expectClearFailure(() -> net.rnnTimeStep(bad), bad, null, shape(bad),
                            "expected[^\\n]*\\b" + s.nIn() + "\\b", ctx + ", " + what);
                    assertExactlyEqual(net.rnnTimeStep(x2), expected,
                            ctx + ", " + what + ": the next step after the refused one");
                    net.rnnClearPreviousState();
                }
            }
            seen.merge(what.replaceAll("(?<![A-Z0-9.])-?\\d+", "#"), 1, Integer::sum);
            assertExactlyEqual(net.params(), params, ctx + ", " + what + ": parameters");
            assertExactlyEqual(net.output(x), before, ctx + ", " + what + ": output on the valid input afterwards");
            assertExactlyEqual(net.output(x, false, goodMask, null), beforeMasked,
                    ctx + ", " + what + ": masked output on the valid input afterwards");
        }
        System.out.println("BadInputPropertyTest layer (seed " + SEED + "): " + seen);
    }

    /**
     * The call must fail without touching the caller's arrays, and the message chain must show the actual
     * shape ({@code gotText}) and what was expected ({@code expectedRegex}).
     */
    private static void expectClearFailure(Supplier<?> call, INDArray input, INDArray mask, String gotText,
                                           String expectedRegex, String ctx) {
        INDArray inSnap = input.dup();
        INDArray maskSnap = mask == null ? null : mask.dup();
        Throwable t = thrownBy(call, ctx);
        String messages = chain(t);
        assertThat(messages).as("%s: exception chain%n%s", ctx, messages).contains(gotText);
        assertThat(Pattern.compile(expectedRegex).matcher(messages).find())
                .as("%s: exception chain should say what was expected (/%s/):%n%s", ctx, expectedRegex, messages)
                .isTrue();
        assertExactlyEqual(input, inSnap, ctx + ": the caller's input");
        if (mask != null) {
            assertExactlyEqual(mask, maskSnap, ctx + ": the caller's mask");
        }
    }
}
