package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Property: for a random valid problem and a random corruption of one argument, the call fails
 * with a La2ArgumentException naming that argument, every caller tensor keeps its contents, and
 * the same instance then computes the right answer.
 */
class BadInputPropertyTest {
    private static final int TRIALS = 300;

    /** A corruption: builds the bad call on an instance, returns the argument name it must blame. */
    private record Corruption(String name, String blamed, Function<Ctx, Runnable> call) {
    }

    /** One trial's valid tensors plus a scratch list of extra tensors to close. */
    private static final class Ctx {
        final LightningAttention la;
        final Calls.Spec s;
        final Calls.Uploaded up;
        final Random r;
        final List<Tensor> extra = new ArrayList<>();

        Ctx(LightningAttention la, Calls.Spec s, Random r) {
            this.la = la;
            this.s = s;
            this.r = r;
            this.up = new Calls.Uploaded(la, s);
        }

        Tensor make(Shape shape) {
            return make(DType.FP32, shape);
        }

        Tensor make(DType t, Shape shape) {
            Tensor x = la.allocate(t, shape);
            x.fill(1);
            extra.add(x);
            return x;
        }

        Shape bump(Shape shape, int axis) {
            int[] dims = shape.dims();
            dims[axis] += 1 + r.nextInt(3);
            return Shape.of(dims);
        }

        /** A sequence dtype this backend offers other than the trial's FP32 (every backend offers two). */
        DType otherDtype() {
            return la.dtypes().stream().filter(t -> t != DType.FP32).findFirst()
                    .orElseThrow(() -> new AssertionError(la.backendName() + " offers only FP32"));
        }

        /** Decay rates with one bad value at a random head. */
        Tensor rates(double bad) {
            double[] rates = new double[s.h()];
            rates[r.nextInt(s.h())] = bad;
            Tensor t = la.tensor(rates, DType.FP32, Shape.of(s.h()));
            extra.add(t);
            return t;
        }

        Runnable forward(Tensor q, Tensor k, Tensor v, Tensor decay) {
            return () -> la.forward(AttentionInputs.of(q, k, v, decay), s.options()).close();
        }
    }

    private static final List<Corruption> CORRUPTIONS = List.of(
            new Corruption("q of rank 3", "q", c -> c.forward(c.make(Shape.of(c.s.b(), c.s.h(), c.s.n())), c.up.k, c.up.v, c.up.decay)),
            new Corruption("q of rank 5", "q", c -> c.forward(c.make(Shape.of(1, c.s.b(), c.s.h(), c.s.n(), c.s.d())), c.up.k, c.up.v, c.up.decay)),
            new Corruption("k with another extent", "k", c -> c.forward(c.up.q, c.make(c.bump(c.s.keys(), c.r.nextInt(4))), c.up.v, c.up.decay)),
            new Corruption("v with another B, H or N", "v", c -> c.forward(c.up.q, c.up.k, c.make(c.bump(c.s.values(), c.r.nextInt(3))), c.up.decay)),
            new Corruption("k of another dtype", "k", c -> c.forward(c.up.q, c.make(c.otherDtype(), c.s.keys()), c.up.v, c.up.decay)),
            new Corruption("decay of another length", "decay", c -> c.forward(c.up.q, c.up.k, c.up.v, c.make(Shape.of(c.s.h() + 1)))),
            new Corruption("negative decay", "decay", c -> c.forward(c.up.q, c.up.k, c.up.v, c.rates(-0.5))),
            new Corruption("NaN decay", "decay", c -> c.forward(c.up.q, c.up.k, c.up.v, c.rates(Double.NaN))),
            new Corruption("infinite decay", "decay", c -> c.forward(c.up.q, c.up.k, c.up.v, c.rates(Double.POSITIVE_INFINITY))),
            new Corruption("null q", "q", c -> c.forward(null, c.up.k, c.up.v, c.up.decay)),
            new Corruption("null decay", "decay", c -> c.forward(c.up.q, c.up.k, c.up.v, null)),
            new Corruption("closed v", "v", c -> {
                Tensor v = c.make(c.s.values());
                v.close();
                return c.forward(c.up.q, c.up.k, v, c.up.decay);
            }),
            new Corruption("tensor of another instance", "k", c -> {
                LightningAttention other = LightningAttention.open(c.la.backendName().replaceAll(":.*", ""));
                Tensor foreign = other.tensor(c.s.k(), DType.FP32, c.s.keys());
                c.extra.add(foreign);
                return () -> {
                    try {
                        c.forward(c.up.q, foreign, c.up.v, c.up.decay).run();
                    } finally {
                        other.close();
                    }
                };
            }),
            new Corruption("initial state of wrong shape", "initialState", c -> () -> c.la.forward(
                    c.up.inputs().withInitialState(c.make(Shape.of(c.s.b(), c.s.h(), c.s.e(), c.s.d() + 1))), c.s.options()).close()),
            new Corruption("dOutput of wrong shape", "dOutput", c -> () -> c.la.backward(c.up.inputs(),
                    c.make(c.bump(c.s.values(), 3)), null, c.s.options()).close()),
            new Corruption("dFinalState of wrong shape", "dFinalState", c -> () -> c.la.backward(c.up.inputs(), c.up.dOut,
                    c.make(Shape.of(c.s.b(), c.s.h(), c.s.d() + 1, c.s.e())), c.s.options()).close()),
            new Corruption("output aliasing q", "output", c -> () -> c.la.forward(c.up.inputs(), c.s.options(),
                    c.s.d() == c.s.e() ? c.up.q : c.make(c.bump(c.s.values(), 3)), null)),
            new Corruption("decode q of rank 4", "q", c -> () -> c.la.decode(c.up.q, c.up.k, c.up.v, c.up.decay,
                    c.make(Shape.of(c.s.b(), c.s.h(), c.s.d(), c.s.e())), 1.0).close()),
            new Corruption("decode state of wrong shape", "state", c -> () -> c.la.decode(
                    c.make(Shape.of(c.s.b(), c.s.h(), c.s.d())), c.make(Shape.of(c.s.b(), c.s.h(), c.s.d())),
                    c.make(Shape.of(c.s.b(), c.s.h(), c.s.e())), c.up.decay,
                    c.make(Shape.of(c.s.b(), c.s.h(), c.s.e(), c.s.d() + 1)), 1.0).close()));

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.la2.reliability.Backends4Test#all")
    void everyCorruptionIsNamedAndHarmless(String backend) {
        long seed = Long.getLong("la2.seed", System.nanoTime());
        Random r = new Random(seed);
        int[] blamedRight = new int[CORRUPTIONS.size()];
        try (LightningAttention la = LightningAttention.open(backend)) {
            for (int trial = 0; trial < TRIALS; trial++) {
                Calls.Spec s = Calls.Spec.random(r, 40, 9);
                Corruption corruption = CORRUPTIONS.get(r.nextInt(CORRUPTIONS.size()));
                Ctx c = new Ctx(la, s, r);
                try {
                    float[][] before = {c.up.q.toFloatArray(), c.up.k.toFloatArray(), c.up.v.toFloatArray(),
                            c.up.decay.toFloatArray(), c.up.dOut.toFloatArray()};
                    String context = "backend " + backend + ", trial " + trial + " (" + corruption.name() + "), seed " + seed;
                    Runnable call = corruption.call().apply(c);
                    assertThatThrownBy(call::run).as(context)
                            .isInstanceOf(La2ArgumentException.class)
                            .satisfies(e -> {
                                La2ArgumentException a = (La2ArgumentException) e;
                                assertThat(a.argument()).as(context + ": " + a.getMessage()).isEqualTo(corruption.blamed());
                                assertThat(a.getMessage()).as(context).contains(": got ").contains("; expected ");
                            });
                    float[][] after = {c.up.q.toFloatArray(), c.up.k.toFloatArray(), c.up.v.toFloatArray(),
                            c.up.decay.toFloatArray(), c.up.dOut.toFloatArray()};
                    for (int i = 0; i < before.length; i++) {
                        assertThat(after[i]).as(context + ": input " + i + " changed").containsExactly(before[i]);
                    }
                    blamedRight[CORRUPTIONS.indexOf(corruption)]++;
                    if (trial % 10 == 0) {
                        // The instance still computes the right thing after the rejected call.
                        try (ForwardResult ok = la.forward(c.up.inputs(), s.options())) {
                            assertThat(Calls.relativeError(ok.output().toFloatArray(), s.referenceOutput()))
                                    .as(context + ": valid call after the rejection").isLessThan(1e-4);
                        }
                        try (Gradients g = la.backward(c.up.inputs(), c.up.dOut, null, s.options())) {
                            assertThat(g.dq().toFloatArray()).as(context).doesNotContain(Float.NaN);
                        }
                    }
                } finally {
                    c.extra.forEach(Tensor::close);
                    c.up.close();
                }
            }
        }
        System.out.printf("bad input on %s: %d trials, corruptions tried %s%n", backend, TRIALS,
                java.util.Arrays.toString(blamedRight));
    }
}
