package dev.la2.bench.jmh;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.bench.BenchProblem;
import dev.la2.bench.RandomInputs;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Forward and forward+backward of any backend over N at SPEC.md's benchmark shape (B=1, H=8,
 * D=E=128). Inputs stay on the backend between calls, so device backends time device work
 * (JMH's wall clock includes their synchronisation; {@code la2 bench} reports CUDA-event times).
 * Example: {@code java -jar la2-bench/target/benchmarks.jar ForwardBackwardBenchmark -p backend=cpu -p n=4096}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow"})
public class ForwardBackwardBenchmark {

    @Param("cpu")
    public String backend;

    @Param({"1024", "4096", "16384", "65536"})
    public int n;

    @Param("1")
    public int b;

    @Param("8")
    public int h;

    @Param("128")
    public int d;

    @Param("128")
    public int e;

    @Param("fp32")
    public String dtype;

    private LightningAttention la;
    private AttentionInputs inputs;
    private AttentionOptions options;
    private Tensor out, fin, dOut;
    private Gradients grads;

    @Setup(Level.Trial)
    public void setUp() {
        la = LightningAttention.open(backend);
        DType type = DType.valueOf(dtype.toUpperCase(Locale.ROOT));
        BenchProblem p = new BenchProblem(b, h, n, d, e);
        SplittableRandom random = new SplittableRandom();
        Shape keys = Layout.BHND.shape(b, h, n, d);
        Shape values = Layout.BHND.shape(b, h, n, e);
        Shape states = Shape.of(b, h, d, e);
        inputs = AttentionInputs.of(la.tensor(RandomInputs.queries(p, random), type, keys),
                la.tensor(RandomInputs.queries(p, random), type, keys),
                la.tensor(RandomInputs.values(p, random), type, values),
                la.tensor(DecaySlopes.alibi(h), type.stateType(), Shape.of(h)));
        options = AttentionOptions.defaults();
        out = la.allocate(type, values);
        fin = la.allocate(type.stateType(), states);
        dOut = la.tensor(RandomInputs.values(p, random), type, values);
        grads = new Gradients(la.allocate(type, keys), la.allocate(type, keys), la.allocate(type, values),
                la.allocate(type.stateType(), states), null);
    }

    @Benchmark
    public Tensor forward() {
        la.forward(inputs, options, out, fin);
        return out;
    }

    @Benchmark
    public Gradients forwardBackward() {
        la.forward(inputs, options, out, fin);
        la.backward(inputs, dOut, null, options, grads);
        return grads;
    }

    /** As a training step runs it: the forward keeps its block states and the backward reads them. */
    @Benchmark
    public Gradients forwardBackwardKeepingStates() {
        try (SavedForward saved = la.forward(inputs, options.withSaveForBackward(true), out, fin)) {
            la.backward(inputs, dOut, null, options, saved, grads);
        }
        return grads;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        grads.close();
        dOut.close();
        out.close();
        fin.close();
        inputs.q().close();
        inputs.k().close();
        inputs.v().close();
        inputs.decay().close();
        la.close();
    }
}
