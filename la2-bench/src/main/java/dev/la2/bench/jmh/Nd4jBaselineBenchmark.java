package dev.la2.bench.jmh;

import dev.la2.api.DecaySlopes;
import dev.la2.bench.BenchProblem;
import dev.la2.bench.ComposedAttention;
import dev.la2.bench.Nd4jSupport;
import dev.la2.bench.RandomInputs;
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

/** The same function composed from ND4J ops (the baseline), at the shapes of {@link ForwardBackwardBenchmark}. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class Nd4jBaselineBenchmark {

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

    @Param("false")
    public boolean fp64;

    private ComposedAttention nd4j;

    @Setup(Level.Trial)
    public void setUp() {
        BenchProblem p = new BenchProblem(b, h, n, d, e);
        SplittableRandom random = new SplittableRandom();
        nd4j = Nd4jSupport.onClassPath().composedAttention();
        nd4j.load(p, fp64, RandomInputs.queries(p, random), RandomInputs.queries(p, random),
                RandomInputs.values(p, random), DecaySlopes.alibi(h), null, 1.0);
        nd4j.loadGradients(RandomInputs.values(p, random), null);
    }

    @Benchmark
    public void forward() {
        nd4j.forward();
    }

    @Benchmark
    public void forwardBackward() {
        nd4j.forward();
        nd4j.backward();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        nd4j.close();
    }
}
