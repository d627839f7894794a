package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class Nd4jAttentionTest {
    // Extents that divide nothing (odd N, D != E) so layout mistakes cannot cancel out.
    private static final int B = 2;
    private static final int H = 3;
    private static final int N = 37;
    private static final int D = 5;
    private static final int E = 7;

    private static LightningAttention la;

    @BeforeAll
    static void open() {
        la = LightningAttention.open(TestData.backend());
    }

    @AfterAll
    static void close() {
        la.close();
    }

    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SequenceFormat f : SequenceFormat.values()) {
            for (DataType t : new DataType[] {DataType.FLOAT, DataType.DOUBLE, DataType.BFLOAT16, DataType.HALF}) {
                out.add(Arguments.of(f, t));
            }
        }
        return out;
    }

    /** Physical shape of a sequence array of F features per head. */
    private static long[] shape(SequenceFormat f, int features) {
        return switch (f) {
            case BHND -> new long[] {B, H, N, features};
            case BNHD -> new long[] {B, N, H, features};
            case NCW -> new long[] {B, (long) H * features, N};
            case NWC -> new long[] {B, N, (long) H * features};
        };
    }

    /** The array's values in the reference's canonical [B, H, N, F] order. */
    private static double[] canonical(INDArray a, SequenceFormat f, int features) {
        INDArray c = switch (f) {
            case BHND -> a;
            case BNHD -> a.permute(0, 2, 1, 3);
            case NWC -> a.reshape('c', B, N, H, features).permute(0, 2, 1, 3);
            case NCW -> a.reshape('c', B, H, features, N).permute(0, 1, 3, 2);
        };
        return TestData.doubles(c);
    }

    private record Inputs(INDArray q, INDArray k, INDArray v, INDArray decay, INDArray s0) {
    }

    private static Inputs inputs(Random r, SequenceFormat f, DataType t) {
        DataType st = t == DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
        INDArray decay = Nd4j.create(new double[] {0.0, 0.05 + 0.3 * r.nextDouble(), 1.5 * r.nextDouble()}, new long[] {H}, 'c').castTo(st);
        return new Inputs(TestData.normal(r, t, 1 / Math.sqrt(D), shape(f, D)),
                TestData.normal(r, t, 1 / Math.sqrt(D), shape(f, D)),
                TestData.normal(r, t, 1.0, shape(f, E)),
                decay,
                TestData.normal(r, st, 0.5, B, H, D, E));
    }

    /** SPEC.md section 3; 16-bit arrays keep fp32 states and decay, so only their outputs are rounded. */
    private static double tolerance(DataType t) {
        return switch (t) {
            case DOUBLE -> 1e-12;
            case FLOAT -> 1e-5;
            default -> 2e-2;
        };
    }

    private static INDArray poisoned(DataType t, long... shape) {
        return Nd4j.createUninitialized(t, shape, 'c').assign(Double.NaN);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void forwardMatchesOracleAndIsTheSameWithOrWithoutCopies(SequenceFormat f, DataType t) {
        Inputs in = inputs(TestData.random("fwd" + f + t), f, t);
        double scale = 0.8;
        AttentionOptions opts = AttentionOptions.defaults().withScale(scale);
        DataType st = in.s0().dataType();

        INDArray out = poisoned(t, shape(f, E));
        INDArray fin = poisoned(st, B, H, D, E);
        new Nd4jAttention(la).forward(f, H, in.q(), in.k(), in.v(), in.decay(), in.s0(), opts, out, fin);
        INDArray outCopied = poisoned(t, shape(f, E));
        INDArray finCopied = poisoned(st, B, H, D, E);
        new Nd4jAttention(la, false).forward(f, H, in.q(), in.k(), in.v(), in.decay(), in.s0(), opts, outCopied, finCopied);

        ReferenceMath.Forward ref = ReferenceMath.forwardClosed(new Problem(B, H, N, D, E),
                canonical(in.q(), f, D), canonical(in.k(), f, D), canonical(in.v(), f, E),
                TestData.doubles(in.decay()), TestData.doubles(in.s0()), scale);
        assertThat(TestData.relativeError(canonical(out, f, E), ref.output())).isLessThanOrEqualTo(tolerance(t));
        assertThat(TestData.relativeError(TestData.doubles(fin), ref.finalState())).isLessThanOrEqualTo(tolerance(t));
        assertThat(outCopied).isEqualTo(out);
        assertThat(finCopied).isEqualTo(fin);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void backwardMatchesOracleAndIsTheSameWithOrWithoutCopies(SequenceFormat f, DataType t) {
        Random r = TestData.random("bwd" + f + t);
        Inputs in = inputs(r, f, t);
        DataType st = in.s0().dataType();
        INDArray dOut = TestData.normal(r, t, 1.0, shape(f, E));
        INDArray dFin = TestData.normal(r, st, 1.0, B, H, D, E);
        double scale = 1.3;
        AttentionOptions opts = AttentionOptions.defaults().withScale(scale).withLearnableDecay(true);

        Nd4jAttention.Grads g = grads(t, st, f);
        new Nd4jAttention(la).backward(f, H, in.q(), in.k(), in.v(), in.decay(), in.s0(), dOut, dFin, opts, g);
        Nd4jAttention.Grads copied = new Nd4jAttention(la, false).backward(f, H, in.q(), in.k(), in.v(), in.decay(),
                in.s0(), dOut, dFin, opts);

        ReferenceMath.Backward ref = ReferenceMath.backward(new Problem(B, H, N, D, E),
                canonical(in.q(), f, D), canonical(in.k(), f, D), canonical(in.v(), f, E),
                TestData.doubles(in.decay()), TestData.doubles(in.s0()), canonical(dOut, f, E),
                TestData.doubles(dFin), scale);
        double tol = tolerance(t);
        assertThat(TestData.relativeError(canonical(g.dq(), f, D), ref.dq())).isLessThanOrEqualTo(tol);
        assertThat(TestData.relativeError(canonical(g.dk(), f, D), ref.dk())).isLessThanOrEqualTo(tol);
        assertThat(TestData.relativeError(canonical(g.dv(), f, E), ref.dv())).isLessThanOrEqualTo(tol);
        assertThat(TestData.relativeError(TestData.doubles(g.dInitialState()), ref.dInitialState())).isLessThanOrEqualTo(tol);
        assertThat(TestData.relativeError(TestData.doubles(g.dDecay()), ref.dDecay())).isLessThanOrEqualTo(tol);
        assertThat(copied.dq()).isEqualTo(g.dq());
        assertThat(copied.dk()).isEqualTo(g.dk());
        assertThat(copied.dv()).isEqualTo(g.dv());
        assertThat(copied.dInitialState()).isEqualTo(g.dInitialState());
        assertThat(copied.dDecay()).isEqualTo(g.dDecay());
    }

    private static Nd4jAttention.Grads grads(DataType t, DataType st, SequenceFormat f) {
        return new Nd4jAttention.Grads(poisoned(t, shape(f, D)), poisoned(t, shape(f, D)), poisoned(t, shape(f, E)),
                poisoned(st, B, H, D, E), poisoned(st, H));
    }

    /** The adapter must give exactly what la2's own API gives for the same numbers (BNHD is what NWC maps to). */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void equalsTheDirectApi(SequenceFormat f, DataType t) {
        Random r = TestData.random("direct" + f + t);
        Inputs in = inputs(r, f, t);
        INDArray dOut = TestData.normal(r, t, 1.0, shape(f, E));
        AttentionOptions opts = AttentionOptions.defaults().withScale(0.9).withLearnableDecay(true);
        Nd4jAttention.Result res = new Nd4jAttention(la).forward(f, H, in.q(), in.k(), in.v(), in.decay(), in.s0(), opts);
        Nd4jAttention.Grads g = new Nd4jAttention(la).backward(f, H, in.q(), in.k(), in.v(), in.decay(), in.s0(),
                dOut, null, opts);

        Layout layout = f.layout();
        DType dt = Nd4jTensors.dtype(t, "t");
        try (Tensor q = direct(in.q(), f, D, dt); Tensor k = direct(in.k(), f, D, dt); Tensor v = direct(in.v(), f, E, dt);
             Tensor decay = la.tensor(TestData.doubles(in.decay()), dt.stateType(), Shape.of(H));
             Tensor s0 = la.tensor(TestData.doubles(in.s0()), dt.stateType(), Shape.of(B, H, D, E));
             Tensor dO = direct(dOut, f, E, dt)) {
            AttentionInputs ai = new AttentionInputs(q, k, v, decay, s0);
            AttentionOptions o = opts.withLayout(layout);
            try (ForwardResult fr = la.forward(ai, o); Gradients dg = la.backward(ai, dO, null, o)) {
                assertThat(physical(res.output(), f, E)).containsExactly(fr.output().toDoubleArray());
                assertThat(TestData.doubles(res.finalState())).containsExactly(fr.finalState().toDoubleArray());
                assertThat(physical(g.dq(), f, D)).containsExactly(dg.dq().toDoubleArray());
                assertThat(physical(g.dk(), f, D)).containsExactly(dg.dk().toDoubleArray());
                assertThat(physical(g.dv(), f, E)).containsExactly(dg.dv().toDoubleArray());
                assertThat(TestData.doubles(g.dInitialState())).containsExactly(dg.dInitialState().toDoubleArray());
                assertThat(TestData.doubles(g.dDecay())).containsExactly(dg.dDecay().toDoubleArray());
            }
        }
    }

    /** The values in la2's physical order for the format's layout (NCW and NWC: BNHD). */
    private static double[] physical(INDArray a, SequenceFormat f, int features) {
        return TestData.doubles(f == SequenceFormat.NCW ? a.permute(0, 2, 1) : a);
    }

    private static Tensor direct(INDArray a, SequenceFormat f, int features, DType dt) {
        Shape s = f.layout().shape(B, H, N, features);
        INDArray dense = (f == SequenceFormat.NCW ? a.permute(0, 2, 1) : a).dup('c');
        return dt == DType.FP64 ? la.tensor(dense.data().asDouble(), dt, s) : la.tensor(dense.data().asFloat(), dt, s);
    }

    @Test
    void viewsWithAnOffsetAreReadAndWrittenInPlace() {
        Random r = TestData.random("offset");
        INDArray big = TestData.normal(r, DataType.FLOAT, 1.0, 3, 4, 5);
        INDArray row = big.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all());
        assertThat(Nd4jTensors.isDenseRowMajor(row)).isTrue();
        MemorySegment seg = Nd4jTensors.segment(row);
        assertThat(seg.byteSize()).isEqualTo(20L * Float.BYTES);
        assertThat(seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 7)).isEqualTo(row.getFloat(1, 2));
        seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 7, 42f);
        assertThat(big.getFloat(1, 1, 2)).isEqualTo(42f);
        assertThat(Nd4jTensors.isDenseRowMajor(big.permute(0, 2, 1))).isFalse();
        assertThat(Nd4jTensors.isDenseRowMajor(big.get(NDArrayIndex.all(), NDArrayIndex.point(1), NDArrayIndex.all()))).isFalse();
    }

    @Test
    void offsetViewInputsGiveTheSameResultAsDenseCopies() {
        Random r = TestData.random("offsetInputs");
        INDArray qs = TestData.normal(r, DataType.FLOAT, 0.4, 2, B, N, (long) H * D);
        INDArray ks = TestData.normal(r, DataType.FLOAT, 0.4, 2, B, N, (long) H * D);
        INDArray vs = TestData.normal(r, DataType.FLOAT, 1.0, 2, B, N, (long) H * E);
        INDArray decay = Nd4j.createFromArray(0.1f, 0.2f, 0.3f);
        INDArray q = qs.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
        INDArray k = ks.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
        INDArray v = vs.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
        AttentionOptions opts = AttentionOptions.defaults();
        INDArray viewed = new Nd4jAttention(la).forward(SequenceFormat.NWC, H, q, k, v, decay, null, opts).output();
        INDArray copied = new Nd4jAttention(la).forward(SequenceFormat.NWC, H, q.dup('c'), k.dup('c'), v.dup('c'),
                decay, null, opts).output();
        assertThat(viewed).isEqualTo(copied);
        // And written into an offset view of a bigger output, leaving the rest alone.
        INDArray outs = poisoned(DataType.FLOAT, 2, B, N, (long) H * E);
        INDArray slot = outs.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
        new Nd4jAttention(la).forward(SequenceFormat.NWC, H, q, k, v, decay, null, opts.withFinalState(false), slot, null);
        assertThat(slot).isEqualTo(copied);
        assertThat(outs.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all())
                .isNaN().all()).isTrue();
    }

    /** Dense NWC/BNHD/BHND arrays of the right type go to a host backend without a copy; NCW needs one each way. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void denseArraysAreNotCopied(SequenceFormat f, DataType t) {
        Inputs in = inputs(TestData.random("copies" + f + t), f, t);
        boolean canWrap = la.wrap(Nd4jTensors.segment(in.q()), Nd4jTensors.dtype(t, "t"),
                Shape.of(Math.toIntExact(in.q().length()))).isPresent();
        Nd4jAttention viewing = new Nd4jAttention(la);
        viewing.forward(f, H, in.q(), in.k(), in.v(), in.decay(), in.s0(), AttentionOptions.defaults());
        Nd4jAttention copying = new Nd4jAttention(la, false);
        copying.forward(f, H, in.q(), in.k(), in.v(), in.decay(), in.s0(), AttentionOptions.defaults());
        long all = (in.q().length() * 2 + in.v().length() * 2) * t.width()
                + (in.decay().length() + 2 * in.s0().length()) * in.s0().dataType().width();
        assertThat(copying.copiedBytes()).isEqualTo(all);
        if (f == SequenceFormat.NCW) {
            assertThat(viewing.copiedBytes()).isEqualTo((in.q().length() * 2 + in.v().length() * 2) * t.width());
        } else if (canWrap) {
            assertThat(viewing.copiedBytes()).isZero();
        }
    }

    @Test
    void badArgumentsAreNamed() {
        Nd4jAttention a = new Nd4jAttention(la);
        INDArray q = Nd4j.rand(DataType.FLOAT, B, N, 10);
        INDArray v = Nd4j.rand(DataType.FLOAT, B, N, 9);
        INDArray decay = Nd4j.createFromArray(0.1f, 0.2f, 0.3f);
        AttentionOptions o = AttentionOptions.defaults();
        assertThatThrownBy(() -> a.forward(SequenceFormat.NWC, 3, q, q, v, decay, null, o))
                .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("q"));
        INDArray q9 = Nd4j.rand(DataType.FLOAT, B, N, 9);
        assertThatThrownBy(() -> a.forward(SequenceFormat.NWC, 3, q9, q9.castTo(DataType.DOUBLE), v, decay, null, o))
                .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("k"));
        assertThatThrownBy(() -> a.forward(SequenceFormat.BHND, 3, q9, q9, v, decay, null, o))
                .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("q"));
        assertThatThrownBy(() -> a.forward(SequenceFormat.NWC, 3, q9, q9, v, Nd4j.createFromArray(0.1f, 0.2f), null, o))
                .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("decay"));
        assertThatThrownBy(() -> a.forward(SequenceFormat.NWC, 3, q9, q9, v, Nd4j.createFromArray(0.1f, -0.2f, 0f), null, o))
                .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("decay"));
    }
}
