package dev.la2.nd4j;

import static dev.la2.nd4j.AdapterCall.poisoned;
import static dev.la2.nd4j.BadInputSupport.SEED;
import static dev.la2.nd4j.BadInputSupport.pick;
import static dev.la2.nd4j.BadInputSupport.values;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.la2.api.AttentionOptions;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.nd4j.AdapterCall.Mode;
import dev.la2.nd4j.AdapterCall.Prob;
import dev.la2.nd4j.AdapterCall.Refusal;
import dev.la2.nd4j.BadInputSupport.Snapshot;
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
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Random malformed calls to {@link Nd4jAttention} (built by {@link AdapterCorruptions}): every bad call
 * must be refused with an exception that names the bad argument, what it got and what was expected; the
 * caller's arrays must be unchanged; and the same adapter must afterwards compute exactly what it
 * computed before. Non-dense views must work (via a copy), and NaN/Inf in the data must reach the output
 * instead of being masked.
 *
 * <p>Seeded from {@code -Dla2.seed} (default: the clock); the seed is in every assertion message.
 * Trial count: {@code -Dla2.badInput.adapterTrials}.
 */
class AdapterBadInputTest {
    private static final int ADAPTER_TRIALS = Integer.getInteger("la2.badInput.adapterTrials", 220);

    private static LightningAttention la;

    @BeforeAll
    static void open() {
        System.out.println("AdapterBadInputTest: seed " + SEED + " (replay with -Dla2.seed=" + SEED + "), backend "
                + TestData.backend());
        la = LightningAttention.open(TestData.backend());
    }

    @AfterAll
    static void close() {
        if (la != null) {
            la.close();
        }
    }

    @Test
    void adapterRefusesMalformedCallsByNameAndKeepsWorking() {
        Random r = new Random(SEED ^ 0x5eedL);
        Map<String, Integer> seen = new TreeMap<>();
        for (int trial = 0; trial < ADAPTER_TRIALS; trial++) {
            Prob p = AdapterCall.randomProblem(r);
            Mode mode = Mode.values()[r.nextInt(Mode.values().length)];
            long dataSeed = r.nextLong();
            Nd4jAttention adapter = new Nd4jAttention(la, r.nextBoolean());
            String ctx = "seed " + SEED + ", trial " + trial + ", " + p + ", " + mode;

            List<INDArray> baseline = AdapterCall.valid(p, mode, r, dataSeed).run(adapter);
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
                AdapterCall bad = AdapterCall.valid(p, mode, r, dataSeed);
                Refusal expect = AdapterCorruptions.corrupt(r, p, bad);
                if (expect == null) {
                    seen.merge("not creatable: negative extent", 1, Integer::sum);
                } else {
                    seen.merge(expect.what().replaceAll("(?<![A-Z0-9.])-?\\d+(\\.\\d+)?", "#"), 1, Integer::sum);
                    refused(adapter, bad, expect, ctx + ", bad: " + expect.what());
                }
            }

            List<INDArray> again = AdapterCall.valid(p, mode, r, dataSeed).run(adapter);
            assertSameResults(again, baseline, ctx + ": the valid call after the bad one");
        }
        System.out.println("AdapterBadInputTest (seed " + SEED + "): " + seen);
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
    private static void refused(Nd4jAttention adapter, AdapterCall bad, Refusal expect, String ctx) {
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

    private static void checkNamed(Throwable thrown, Refusal expect, String ctx) {
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
        AdapterCall c = AdapterCall.valid(p, mode, r, dataSeed);
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
}
