package dev.la2.nd4j;

import static dev.la2.nd4j.BadInputSupport.small;

import dev.la2.api.AttentionOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One {@link Nd4jAttention} call with every argument settable, as {@link AdapterBadInputTest} builds it
 * valid from a random {@link Prob problem} and {@link AdapterCorruptions} then breaks it; {@link Refusal}
 * is how a broken call must be refused.
 */
final class AdapterCall {
    /** A valid problem: the arrays a correct call takes. */
    record Prob(SequenceFormat f, DataType t, int b, int h, int n, int d, int e, double scale,
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

    /** Which entry point is called: forward or backward, returning new arrays or writing into given ones. */
    enum Mode { FORWARD, FORWARD_INTO, BACKWARD, BACKWARD_INTO }

    /** What a bad call must be refused with: the argument, and text its "got" / "expected" parts must hold. */
    record Refusal(String what, String argument, String got, String expected) {
    }

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

    /** The input named q, k, v or decay. */
    INDArray get(String name) {
        return switch (name) {
            case "q" -> q;
            case "k" -> k;
            case "v" -> v;
            case "decay" -> decay;
            default -> throw new IllegalArgumentException(name);
        };
    }

    void set(String name, INDArray a) {
        switch (name) {
            case "q" -> q = a;
            case "k" -> k = a;
            case "v" -> v = a;
            case "decay" -> decay = a;
            default -> throw new IllegalArgumentException(name);
        }
    }

    /** A random valid problem of small extents, any format, FLOAT or DOUBLE. */
    static Prob randomProblem(Random r) {
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

    /** A fresh valid call of the given mode; outputs (for the "into" modes) poisoned, dOutput fixed by the seed. */
    static AdapterCall valid(Prob p, Mode mode, Random r, long dataSeed) {
        AdapterCall c = new AdapterCall();
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

    /** An output array filled with NaN, so anything the call leaves unwritten shows. */
    static INDArray poisoned(DataType t, long... shape) {
        return Nd4j.createUninitialized(t, shape, 'c').assign(Double.NaN);
    }

    static DataType stateType(DataType t) {
        return t == DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
    }

    static long[] seqShape(SequenceFormat f, int b, int h, int n, int features) {
        return switch (f) {
            case BHND -> new long[] {b, h, n, features};
            case BNHD -> new long[] {b, n, h, features};
            case NCW -> new long[] {b, (long) h * features, n};
            case NWC -> new long[] {b, n, (long) h * features};
        };
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
}
