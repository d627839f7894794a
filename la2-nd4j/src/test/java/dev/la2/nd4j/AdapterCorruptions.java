package dev.la2.nd4j;

import static dev.la2.nd4j.AdapterCall.poisoned;
import static dev.la2.nd4j.AdapterCall.seqShape;
import static dev.la2.nd4j.BadInputSupport.other;
import static dev.la2.nd4j.BadInputSupport.pick;
import static dev.la2.nd4j.BadInputSupport.shape;

import dev.la2.nd4j.AdapterCall.Mode;
import dev.la2.nd4j.AdapterCall.Prob;
import dev.la2.nd4j.AdapterCall.Refusal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The ways {@link AdapterBadInputTest} breaks a valid {@link AdapterCall}: empty, negative or mismatched
 * extents, wrong ranks and data types, bad decay rates, nulls, a bad {@code heads}, and bad output or
 * gradient arrays; each with the {@link Refusal} the adapter must answer it with.
 */
final class AdapterCorruptions {
    private AdapterCorruptions() {
    }

    /**
     * Applies one random corruption to a valid call and says how it must be refused; null when the
     * corruption (a negative extent) cannot even be created as an INDArray.
     */
    static Refusal corrupt(Random r, Prob p, AdapterCall c) {
        boolean dl4j = p.f() == SequenceFormat.NCW || p.f() == SequenceFormat.NWC;
        switch (r.nextInt(13)) {
            case 0 -> { // an empty axis in q, k or v, or a sequence of length 0 everywhere
                String target = pick(r, List.of("q", "k", "v", "all"));
                if (target.equals("all")) {
                    c.q = Nd4j.create(p.t(), seqShape(p.f(), p.b(), p.h(), 0, p.d()));
                    c.k = Nd4j.create(p.t(), seqShape(p.f(), p.b(), p.h(), 0, p.d()));
                    c.v = Nd4j.create(p.t(), seqShape(p.f(), p.b(), p.h(), 0, p.e()));
                    return new Refusal("N=0 in q, k and v", "q", shape(c.q), null);
                }
                long[] s = (target.equals("v") ? c.v : c.q).shape().clone();
                s[r.nextInt(s.length)] = 0;
                INDArray z = Nd4j.create(p.t(), s);
                c.set(target, z);
                return new Refusal("empty axis in " + target, target, shape(z), null);
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
                return new Refusal("negative extent in q", "q", null, null);
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
                return new Refusal("k " + axis + " mismatch", "k", shape(c.k), shape(c.q));
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
                return new Refusal("v " + axis + " mismatch", "v", got != null ? got : shape(s), expected);
            }
            case 4 -> { // decay with H' != H elements (possibly none)
                int h = other(r, p.h(), 0);
                c.decay = Nd4j.zeros(c.decay.dataType(), h);
                return new Refusal("decay of " + h + " rates for H=" + p.h(), "decay", shape(c.decay), p.h() + " elements");
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
                return new Refusal("initialState " + how, "initialState", shape(s), shape(p.state()));
            }
            case 6 -> { // q, k or v of the wrong rank
                String target = pick(r, List.of("q", "k", "v"));
                INDArray a = otherRank(r, c.get(target));
                c.set(target, a);
                return new Refusal("rank " + a.rank() + " " + target, target, shape(a), "rank " + p.f().rank());
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
                        return new Refusal(t + " " + target, "q", t.toString(), null);
                    }
                    case "k", "v" -> {
                        DataType t = r.nextBoolean() ? otherFloat(r, p.t()) : nonFloat(r);
                        c.set(target, c.get(target).castTo(t));
                        return new Refusal(t + " " + target + " with " + p.t() + " q", target, t.toString(), p.t().toString());
                    }
                    case "decay" -> {
                        DataType t = nonFloat(r);
                        c.decay = c.decay.castTo(t);
                        return new Refusal(t + " decay", "decay", t.toString(), null);
                    }
                    default -> {
                        DataType t = nonFloat(r);
                        c.s0 = TestData.normal(r, p.st(), 0.5, p.state()).castTo(t);
                        return new Refusal(t + " initialState", "initialState", t.toString(), null);
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
                return new Refusal("decay rate " + bad, "decay", got, ">= 0");
            }
            case 9 -> { // null arguments
                String target = pick(r, List.of("format", "options", "q", "k", "v", "decay"));
                switch (target) {
                    case "format" -> c.format = null;
                    case "options" -> c.options = null;
                    default -> c.set(target, null);
                }
                return new Refusal("null " + target, target, "null", null);
            }
            case 10 -> { // the heads argument of the DL4J formats
                if (!dl4j) {
                    c.k = TestData.normal(r, p.t(), 0.5, seqShape(p.f(), p.b(), p.h(), p.n() + 1, p.d()));
                    return new Refusal("k N mismatch", "k", shape(c.k), shape(c.q));
                }
                int heads = pick(r, List.of(0, -1 - r.nextInt(3), p.h() * p.d() + 1));
                c.heads = heads;
                return heads < 1 ? new Refusal("heads=" + heads, "heads", String.valueOf(heads), ">= 1")
                        : new Refusal("heads=" + heads + " not dividing H*D=" + p.h() * p.d(), "q",
                                String.valueOf(p.h() * p.d()), "multiple of heads=" + heads);
            }
            case 11 -> { // the output arrays of a forward call
                c.mode = Mode.FORWARD_INTO;
                c.out = poisoned(p.t(), p.seq(p.e()));
                c.fin = poisoned(p.st(), p.state());
                switch (r.nextInt(5)) {
                    case 0 -> {
                        c.out = poisoned(p.t(), p.seq(p.e() + 1));
                        return new Refusal("output E mismatch", "output", shape(c.out), shape(p.seq(p.e())));
                    }
                    case 1 -> {
                        DataType t = otherFloat(r, p.t());
                        c.out = poisoned(t, p.seq(p.e()));
                        return new Refusal(t + " output", "output", t.toString(), p.t().toString());
                    }
                    case 2 -> {
                        c.out = null;
                        return new Refusal("null output", "output", "null", null);
                    }
                    case 3 -> {
                        long[] s = {p.b(), p.h(), p.e(), p.d()};
                        c.fin = poisoned(p.st(), p.d() == p.e() ? new long[] {p.b(), p.h(), p.d()} : s);
                        return new Refusal("finalState shape", "finalState", shape(c.fin), shape(p.state()));
                    }
                    default -> {
                        DataType t = otherFloat(r, p.st());
                        c.fin = poisoned(t, p.state());
                        return new Refusal(t + " finalState", "finalState", t.toString(),
                                p.st() + " (states and dDecay of " + p.t() + " inputs)");
                    }
                }
            }
            default -> { // the gradient arguments of a backward call
                boolean intoMode = r.nextBoolean();
                AdapterCall v = AdapterCall.valid(p, intoMode ? Mode.BACKWARD_INTO : Mode.BACKWARD, r, r.nextLong());
                c.mode = v.mode;
                c.options = v.options;
                c.dOut = v.dOut;
                c.dFin = v.dFin;
                c.into = v.into;
                switch (intoMode ? r.nextInt(6) : r.nextInt(3)) {
                    case 0 -> {
                        c.dOut = TestData.normal(r, p.t(), 1.0, seqShape(p.f(), p.b(), p.h(), other(r, p.n(), 1), p.e()));
                        return new Refusal("dOutput N mismatch", "dOutput", shape(c.dOut), shape(p.seq(p.e())));
                    }
                    case 1 -> {
                        c.dOut = null;
                        return new Refusal("null dOutput", "dOutput", "null", null);
                    }
                    case 2 -> {
                        c.dFin = TestData.normal(r, p.st(), 1.0, p.b(), p.h(), p.d() + 1, p.e());
                        return new Refusal("dFinalState shape", "dFinalState", shape(c.dFin), shape(p.state()));
                    }
                    case 3 -> {
                        c.into = new Nd4jAttention.Grads(poisoned(p.t(), p.seq(p.d() + 1)), c.into.dk(), c.into.dv(),
                                c.into.dInitialState(), c.into.dDecay());
                        return new Refusal("into.dq shape", "into.dq", shape(c.into.dq()), shape(p.seq(p.d())));
                    }
                    case 4 -> {
                        c.into = new Nd4jAttention.Grads(c.into.dq(), c.into.dk(), null, c.into.dInitialState(),
                                c.into.dDecay());
                        return new Refusal("null into.dv", "into.dv", "null", null);
                    }
                    default -> {
                        c.into = new Nd4jAttention.Grads(c.into.dq(), c.into.dk(), c.into.dv(),
                                c.into.dInitialState(), poisoned(p.st(), p.h() + 1));
                        return new Refusal("into.dDecay length", "into.dDecay", shape(p.h() + 1L), p.h() + " elements");
                    }
                }
            }
        }
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
}
