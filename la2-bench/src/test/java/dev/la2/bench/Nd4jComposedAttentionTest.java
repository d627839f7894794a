package dev.la2.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.DecaySlopes;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The ND4J baseline must compute SPEC.md's function, or its timings compare nothing. */
class Nd4jComposedAttentionTest {

    @ParameterizedTest(name = "B={0} H={1} N={2} D={3} E={4} fp64={5} initial state={6}")
    @CsvSource({
            "1, 2, 64, 8, 8, false, false",
            "2, 3, 150, 16, 24, false, true",
            "1, 4, 1, 5, 3, true, true",
            "2, 2, 129, 12, 7, true, false"})
    void matchesTheFloat64Reference(int b, int h, int n, int d, int e, boolean fp64, boolean withState) {
        BenchProblem p = new BenchProblem(b, h, n, d, e);
        SplittableRandom random = new SplittableRandom();
        float[] q = RandomInputs.queries(p, random);
        float[] k = RandomInputs.queries(p, random);
        float[] v = RandomInputs.values(p, random);
        float[] dOut = RandomInputs.values(p, random);
        float[] s0 = withState ? RandomInputs.normal(p.stateElements(), 1, random) : null;
        float[] dFinal = withState ? RandomInputs.normal(p.stateElements(), 1, random) : null;
        double[] decay = DecaySlopes.alibi(h);
        double scale = 0.75;

        Problem rp = new Problem(b, h, n, d, e);
        ReferenceMath.Forward ref = ReferenceMath.forwardClosed(rp, widen(q), widen(k), widen(v), decay,
                s0 == null ? null : widen(s0), scale);
        ReferenceMath.Backward refGrad = ReferenceMath.backward(rp, widen(q), widen(k), widen(v), decay,
                s0 == null ? null : widen(s0), widen(dOut), dFinal == null ? null : widen(dFinal), scale);

        double tolerance = fp64 ? 1e-12 : 1e-5;
        try (ComposedAttention nd4j = Nd4jSupport.onClassPath().composedAttention()) {
            nd4j.load(p, fp64, q, k, v, decay, s0, scale);
            nd4j.forward();
            assertThat(relativeError(nd4j.output(), ref.output())).as("output").isLessThan(tolerance);
            assertThat(relativeError(nd4j.finalState(), ref.finalState())).as("final state").isLessThan(tolerance);

            nd4j.loadGradients(dOut, dFinal);
            nd4j.backward();
            assertThat(relativeError(nd4j.dq(), refGrad.dq())).as("dq").isLessThan(tolerance);
            assertThat(relativeError(nd4j.dk(), refGrad.dk())).as("dk").isLessThan(tolerance);
            assertThat(relativeError(nd4j.dv(), refGrad.dv())).as("dv").isLessThan(tolerance);
            assertThat(relativeError(nd4j.dInitialState(), refGrad.dInitialState())).as("dInitialState")
                    .isLessThan(tolerance);
        }
    }

    static double[] widen(float[] a) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    /** ||x - ref|| / ||ref||; NaN anywhere makes it NaN, which fails every bound. */
    static double relativeError(double[] x, double[] ref) {
        assertThat(x).hasSameSizeAs(ref);
        double num = 0, den = 0;
        for (int i = 0; i < x.length; i++) {
            double diff = x[i] - ref[i];
            num += diff * diff;
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }
}
