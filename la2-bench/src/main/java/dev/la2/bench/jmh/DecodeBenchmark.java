package dev.la2.bench.jmh;

import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.bench.BenchProblem;
import dev.la2.bench.RandomInputs;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 * One decode step (SPEC.md section 1: the O(D*E) recurrent step, what generation runs per token)
 * for b x h sequences, and in the same run a host reference for the memory it must move: one
 * single-threaded bulk copy of the b x h x D x E fp32 states ({@code stateCopyFloor}; a step reads
 * and writes every state once, and the cpu backend spreads large batches over its threads, so it
 * can beat one thread's copy). The GPU's floor is the state's bytes over its copy bandwidth.
 * Example: {@code java -jar la2-bench/target/benchmarks.jar DecodeBenchmark -p backend=cpu}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow"})
public class DecodeBenchmark {

    @Param("cpu")
    public String backend;

    @Param({"1", "16"})
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
    private Tensor q, k, v, decay, state, out;
    private Arena arena;
    private MemorySegment copyFrom, copyTo;

    @Setup(Level.Trial)
    public void setUp() {
        la = LightningAttention.open(backend);
        DType type = DType.valueOf(dtype.toUpperCase(Locale.ROOT));
        BenchProblem p = new BenchProblem(b, h, 1, d, e);
        SplittableRandom random = new SplittableRandom();
        q = la.tensor(RandomInputs.queries(p, random), type, Shape.of(b, h, d));
        k = la.tensor(RandomInputs.queries(p, random), type, Shape.of(b, h, d));
        v = la.tensor(RandomInputs.values(p, random), type, Shape.of(b, h, e));
        decay = la.tensor(DecaySlopes.alibi(h), type.stateType(), Shape.of(h));
        state = la.allocate(type.stateType(), Shape.of(b, h, d, e));
        state.fill(0.01);
        out = la.allocate(type, Shape.of(b, h, e));
        arena = Arena.ofShared();
        long bytes = state.byteSize();
        copyFrom = arena.allocate(bytes, 64);
        copyTo = arena.allocate(bytes, 64);
    }

    /** The state is updated in place call after call, as in generation (decay keeps it bounded). */
    @Benchmark
    public Tensor decodeStep() {
        la.decode(q, k, v, decay, state, 1.0, out);
        return out;
    }

    @Benchmark
    public MemorySegment stateCopyFloor() {
        MemorySegment.copy(copyFrom, 0, copyTo, 0, copyTo.byteSize());
        return copyTo;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Tensor t : new Tensor[] {q, k, v, decay, state, out}) {
            t.close();
        }
        arena.close();
        la.close();
    }
}
