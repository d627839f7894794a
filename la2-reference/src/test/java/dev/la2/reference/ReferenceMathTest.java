package dev.la2.reference;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * The oracle checked against itself: the closed form against the recurrent definition, the
 * backward pass against central differences of the closed form, and decode steps against the
 * recurrent form. Sizes and decay rates are drawn fresh each run.
 */
class ReferenceMathTest {

    /** Decay rates that exercise the edge cases: none, strong, moderate, and random ones. */
    private static double[] rates(SplittableRandom rng, int heads) {
        double[] s = new double[heads];
        for (int h = 0; h < heads; h++) {
            s[h] = switch (h % 4) {
                case 0 -> 0.0;
                case 1 -> 2 + 6 * rng.nextDouble();
                case 2 -> 0.01 + 0.5 * rng.nextDouble();
                default -> rng.nextDouble();
            };
        }
        return s;
    }

    private record Data(Problem p, double[] q, double[] k, double[] v, double[] decay, double[] s0, double scale) {
        static Data random(SplittableRandom rng, Problem p, boolean withState) {
            double std = 1 / Math.sqrt(p.keyDim());
            return new Data(p,
                    Seed.gaussian(rng, p.keys(), std),
                    Seed.gaussian(rng, p.keys(), std),
                    Seed.gaussian(rng, p.values(), 1),
                    rates(rng, p.heads()),
                    withState ? Seed.gaussian(rng, p.states(), 1) : null,
                    0.25 + 1.5 * rng.nextDouble());
        }

        ReferenceMath.Forward closed() {
            return ReferenceMath.forwardClosed(p, q, k, v, decay, s0, scale);
        }

        ReferenceMath.Forward recurrent() {
            return ReferenceMath.forwardRecurrent(p, q, k, v, decay, s0, scale);
        }
    }

    @Test
    void closedFormEqualsRecurrentForm() {
        SplittableRandom rng = Seed.random("closedFormEqualsRecurrentForm");
        List<Problem> problems = new ArrayList<>(List.of(
                new Problem(1, 1, 1, 1, 1),
                new Problem(2, 3, 1, 4, 7),
                new Problem(1, 5, 2, 7, 3),
                new Problem(1, 2, 70, 16, 5),
                new Problem(2, 4, 129, 3, 33)));
        for (int i = 0; i < 6; i++) {
            problems.add(new Problem(1 + rng.nextInt(3), 1 + rng.nextInt(6), 1 + rng.nextInt(150),
                    1 + rng.nextInt(24), 1 + rng.nextInt(24)));
        }
        for (Problem p : problems) {
            for (boolean withState : new boolean[] {false, true}) {
                Data data = Data.random(rng, p, withState);
                ReferenceMath.Forward closed = data.closed();
                ReferenceMath.Forward recurrent = data.recurrent();
                String context = p + (withState ? " with S0" : "") + " scale " + data.scale() + ", " + Seed.describe();
                assertThat(Seed.relativeError(closed.output(), recurrent.output())).as("output " + context)
                        .isLessThanOrEqualTo(1e-12);
                assertThat(Seed.relativeError(closed.finalState(), recurrent.finalState())).as("final state " + context)
                        .isLessThanOrEqualTo(1e-12);
            }
        }
    }

    @Test
    void noDecayIsPlainCausalLinearAttention() {
        SplittableRandom rng = Seed.random("noDecayIsPlainCausalLinearAttention");
        Problem p = new Problem(1, 1, 9, 3, 2);
        Data data = Data.random(rng, p, false);
        double[] decay = {0.0};
        double[] out = ReferenceMath.forwardRecurrent(p, data.q(), data.k(), data.v(), decay, null, 1.0).output();
        // o_t = sum_{j<=t} (q_t . k_j) v_j, written out independently of both forms.
        double[] expected = new double[p.tokens() * p.valueDim()];
        for (int t = 0; t < p.tokens(); t++) {
            for (int j = 0; j <= t; j++) {
                double dot = 0;
                for (int x = 0; x < 3; x++) {
                    dot += data.q()[t * 3 + x] * data.k()[j * 3 + x];
                }
                for (int y = 0; y < 2; y++) {
                    expected[t * 2 + y] += dot * data.v()[j * 2 + y];
                }
            }
        }
        assertThat(Seed.relativeError(out, expected)).as(Seed.describe()).isLessThanOrEqualTo(1e-13);
    }

    @Test
    void backwardMatchesCentralDifferencesOfTheClosedForm() {
        SplittableRandom rng = Seed.random("backwardMatchesCentralDifferencesOfTheClosedForm");
        List<Problem> problems = List.of(
                new Problem(1, 1, 1, 2, 3),
                new Problem(2, 3, 5, 3, 2),
                new Problem(1, 2, 9, 4, 5),
                new Problem(1 + rng.nextInt(2), 1 + rng.nextInt(3), 2 + rng.nextInt(12), 1 + rng.nextInt(5),
                        1 + rng.nextInt(5)));
        for (Problem p : problems) {
            for (boolean withFinalGradient : new boolean[] {false, true}) {
                Data data = Data.random(rng, p, true);
                double[] dOut = Seed.gaussian(rng, p.values(), 1);
                double[] dFinal = withFinalGradient ? Seed.gaussian(rng, p.states(), 1) : null;
                ReferenceMath.Backward g = ReferenceMath.backward(p, data.q(), data.k(), data.v(), data.decay(),
                        data.s0(), dOut, dFinal, data.scale());
                // loss = <dO, o> + <dS_final, S_final>: its gradient is exactly what backward returns.
                ToDoubleFunction<Data> loss = d -> {
                    ReferenceMath.Forward f = d.closed();
                    return dot(dOut, f.output()) + (dFinal == null ? 0 : dot(dFinal, f.finalState()));
                };
                String context = p + (withFinalGradient ? " with dS_final" : "") + ", " + Seed.describe();
                // The loss is linear in each of q, k, v and S0 alone, so a wide step is exact up to
                // rounding; only the decay needs a small one.
                assertGradient("dq", g.dq(), numeric(data, loss, 0, 1e-3), 1e-9, context);
                assertGradient("dk", g.dk(), numeric(data, loss, 1, 1e-3), 1e-9, context);
                assertGradient("dv", g.dv(), numeric(data, loss, 2, 1e-3), 1e-9, context);
                assertGradient("dInitialState", g.dInitialState(), numeric(data, loss, 3, 1e-3), 1e-9, context);
                assertGradient("dDecay", g.dDecay(), numeric(data, loss, 4, 1e-4), 1e-7, context);
            }
        }
    }

    @Test
    void backwardWithoutInitialStateStillGivesItsGradient() {
        SplittableRandom rng = Seed.random("backwardWithoutInitialStateStillGivesItsGradient");
        Problem p = new Problem(2, 2, 6, 3, 4);
        Data data = Data.random(rng, p, false);
        double[] dOut = Seed.gaussian(rng, p.values(), 1);
        ReferenceMath.Backward g = ReferenceMath.backward(p, data.q(), data.k(), data.v(), data.decay(), null, dOut,
                null, data.scale());
        Data zeroState = new Data(p, data.q(), data.k(), data.v(), data.decay(), new double[p.states()], data.scale());
        ToDoubleFunction<Data> loss = d -> dot(dOut, d.closed().output());
        assertGradient("dInitialState", g.dInitialState(), numeric(zeroState, loss, 3, 1e-3), 1e-9, Seed.describe());
    }

    @Test
    void backwardCrossesCheckpointBoundaries() {
        // The backward recomputes states from checkpoints every 64 tokens: 130 tokens cross two.
        SplittableRandom rng = Seed.random("backwardCrossesCheckpointBoundaries");
        Problem p = new Problem(1, 2, 130, 2, 2);
        Data data = Data.random(rng, p, true);
        double[] dOut = Seed.gaussian(rng, p.values(), 1);
        double[] dFinal = Seed.gaussian(rng, p.states(), 1);
        ReferenceMath.Backward g = ReferenceMath.backward(p, data.q(), data.k(), data.v(), data.decay(), data.s0(),
                dOut, dFinal, data.scale());
        ToDoubleFunction<Data> loss = d -> {
            ReferenceMath.Forward f = d.recurrent();
            return dot(dOut, f.output()) + dot(dFinal, f.finalState());
        };
        assertGradient("dk", g.dk(), numeric(data, loss, 1, 1e-3), 1e-9, Seed.describe());
        assertGradient("dDecay", g.dDecay(), numeric(data, loss, 4, 1e-4), 1e-7, Seed.describe());
    }

    @Test
    void decodeStepsEqualTheRecurrentForward() {
        SplittableRandom rng = Seed.random("decodeStepsEqualTheRecurrentForward");
        for (Problem p : List.of(new Problem(1, 1, 1, 1, 1), new Problem(2, 3, 11, 5, 7),
                new Problem(1 + rng.nextInt(3), 1 + rng.nextInt(4), 1 + rng.nextInt(40), 1 + rng.nextInt(20),
                        1 + rng.nextInt(20)))) {
            Data data = Data.random(rng, p, true);
            ReferenceMath.Forward expected = data.recurrent();
            int b = p.batch(), heads = p.heads(), n = p.tokens(), d = p.keyDim(), e = p.valueDim();
            double[] state = data.s0().clone();
            double[] out = new double[p.values()];
            for (int t = 0; t < n; t++) {
                double[] qt = new double[b * heads * d], kt = new double[b * heads * d], vt = new double[b * heads * e];
                for (int seq = 0; seq < b * heads; seq++) {
                    System.arraycopy(data.q(), (seq * n + t) * d, qt, seq * d, d);
                    System.arraycopy(data.k(), (seq * n + t) * d, kt, seq * d, d);
                    System.arraycopy(data.v(), (seq * n + t) * e, vt, seq * e, e);
                }
                double[] o = ReferenceMath.decode(b, heads, d, e, qt, kt, vt, data.decay(), state, data.scale());
                for (int seq = 0; seq < b * heads; seq++) {
                    System.arraycopy(o, seq * e, out, (seq * n + t) * e, e);
                }
            }
            String context = p + ", " + Seed.describe();
            assertThat(Seed.relativeError(out, expected.output())).as("outputs " + context).isLessThanOrEqualTo(1e-14);
            assertThat(Seed.relativeError(state, expected.finalState())).as("state " + context).isLessThanOrEqualTo(1e-14);
        }
    }

    /** Central differences of {@code loss} with respect to one argument (0 q, 1 k, 2 v, 3 S0, 4 decay). */
    private static double[] numeric(Data data, ToDoubleFunction<Data> loss, int which, double step) {
        double[] x = switch (which) {
            case 0 -> data.q();
            case 1 -> data.k();
            case 2 -> data.v();
            case 3 -> data.s0();
            default -> data.decay();
        };
        // Fourth-order central differences: the decay enters through lambda^t, whose higher
        // derivatives grow like t^k, so a second-order stencil needs a step small enough for
        // rounding to reach the 1e-7 bound; this one allows a step a hundred times larger.
        double[] grad = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            double[] f = new double[4];
            double[] offsets = {2 * step, step, -step, -2 * step};
            for (int j = 0; j < 4; j++) {
                x[i] = saved + offsets[j];
                f[j] = loss.applyAsDouble(data);
            }
            x[i] = saved;
            grad[i] = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * step);
        }
        return grad;
    }

    private static void assertGradient(String name, double[] analytic, double[] numeric, double tolerance, String context) {
        assertThat(Seed.relativeError(analytic, numeric)).as(name + " vs central differences, " + context)
                .isLessThanOrEqualTo(tolerance);
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
