package dev.la2.backend.cpu;

import dev.la2.api.Diagnostics;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.AttentionStream;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.PackedInputs;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.ErrorNorms;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.Availability;
import dev.la2.api.BackendOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Provider, threads, determinism, NaN propagation and concurrency: what the numeric tests do not pin. */
class CpuBehaviourTest {
    private static final Map<String, String> SEGMENTED = Map.of("cpu.blockSize", "8", "cpu.segmentTokens", "24");

    @Test
    void providerDescribesItself() {
        CpuProvider p = new CpuProvider();
        assertThat(p.name()).isEqualTo("cpu");
        assertThat(p.priority()).isEqualTo(50);
        assertThat(p.dtypes()).containsExactlyInAnyOrder(DType.FP32, DType.FP64, DType.BF16, DType.FP16);
        Availability a = p.probe();
        assertThat(a.isAvailable()).isTrue();
        String detail = ((Availability.Available) a).detail();
        if (Integer.getInteger(CpuProvider.VECTOR_BITS_PROPERTY, -1) == 0) {
            // The whole suite can be run scalar with -Dla2.cpu.vectorBits=0.
            assertThat(detail).startsWith("scalar fallback: disabled by -Dla2.cpu.vectorBits=0");
        } else {
            assertThat(detail).startsWith("Vector API, ").contains("-bit FloatVector").contains("thread");
        }
        assertThat(CpuProvider.kernels(BackendOptions.defaults().withProperty("cpu.vectorBits", "0")).describe())
                .isEqualTo("scalar fallback: disabled by cpu.vectorBits=0");
    }

    @Test
    void providerReportsTheDtypesItsInstancesStore() {
        CpuProvider p = new CpuProvider();
        try (AttentionBackend b = p.create(BackendOptions.defaults().withThreads(1))) {
            assertThat(p.dtypes()).isEqualTo(b.dtypes());
        }
    }

    @Test
    void moreThreadsThanAForkJoinPoolTakesAreRefusedByName() {
        assertThatThrownBy(() -> LightningAttention.open("cpu", BackendOptions.defaults().withThreads(99_999)))
                .isInstanceOf(La2ArgumentException.class)
                .hasMessage("threads: got 99999; expected at most 32767 worker threads");
    }

    @Test
    void theVectorApiIsProbedOncePerJvm() {
        VectorSupport v = VectorSupport.get();
        assertThat(VectorSupport.get()).isSameAs(v);
        assertThat(CpuProvider.kernels(BackendOptions.defaults())).isSameAs(v.kernels());
        if (Integer.getInteger(CpuProvider.VECTOR_BITS_PROPERTY, -1) == 0) {
            assertThat(v.present()).isFalse();
            assertThat(v.bits()).isZero();
        } else {
            assertThat(v.present()).isTrue();
            assertThat(v.bits()).isEqualTo(Species.F.vectorBitSize());
            assertThat(v.describe()).startsWith("Vector API, " + v.bits() + "-bit FloatVector");
        }
    }

    @Test
    void theMissingModuleWarningNamesTheFlag() {
        assertThat(VectorSupport.missingModuleWarning()).contains("--add-modules jdk.incubator.vector");
    }

    /**
     * A JVM without --add-modules jdk.incubator.vector must still probe and compute, say how to get the
     * vector path, and warn about it once.
     */
    @Test
    void withoutTheVectorModuleItFallsBackToScalarAndSaysWhy() throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process proc = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"),
                ProbeMain.class.getName()).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(proc.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(out).contains("available: scalar fallback: jdk.incubator.vector not enabled "
                + "(add --add-modules jdk.incubator.vector)");
        assertThat(out).contains("forward ok");
        assertThat(out.split(Pattern.quote(VectorSupport.missingModuleWarning()), -1))
                .as("the missing-module warning, once").hasSize(2);
    }

    @Test
    void badOptionsNameTheProperty() {
        for (String bad : new String[] {"0", "-3", "abc", "100000"}) {
            assertThatThrownBy(() -> new CpuProvider().create(BackendOptions.defaults().withProperty("cpu.blockSize", bad)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cpu.blockSize");
        }
        assertThatThrownBy(() -> new CpuProvider().create(BackendOptions.defaults().withProperty("cpu.vectorBits", "x")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cpu.vectorBits");
    }

    @Test
    void closeLeavesNoWorkerThreads() {
        try (LightningAttention la = Fixture.open(2, Map.of())) {
            runForward(la, DType.FP32, Layout.BHND, 2, 3, 40, 4, 4, new SplittableRandom(1));
            assertThat(workerThreads()).as("the call ran on the pool").isNotEmpty();
        }
        assertThat(workerThreads()).as("la2-cpu threads alive after close()").isEmpty();
    }

    private static List<String> workerThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .map(Thread::getName).filter(n -> n.startsWith("la2-cpu-")).toList();
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "FP64"})
    void resultsAreBitwiseReproducibleForAThreadCount(DType dtype) {
        SplittableRandom seeds = Fixture.random("determinism " + dtype);
        long seed = seeds.nextLong();
        try (LightningAttention la = Fixture.open(2, SEGMENTED)) {
            double[] first = runBoth(la, dtype, seed), second = runBoth(la, dtype, seed);
            assertThat(second).as(Fixture.seed()).isEqualTo(first);
        }
    }

    /** Forward output and every gradient, concatenated, for inputs drawn from seed. */
    private static double[] runBoth(LightningAttention la, DType dtype, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int b = 1, h = 1, n = 77, d = 12, e = 9;
        AttentionShape s = Fixture.shape(b, h, n, d, e, Layout.BNHD, dtype);
        AttentionOptions opts = AttentionOptions.defaults().withLayout(Layout.BNHD).withLearnableDecay(true);
        try (Tensor q = Fixture.sequence(la, Fixture.gaussian(rng, n * d, 0.3, dtype), s, d);
             Tensor k = Fixture.sequence(la, Fixture.gaussian(rng, n * d, 0.3, dtype), s, d);
             Tensor v = Fixture.sequence(la, Fixture.gaussian(rng, n * e, 1, dtype), s, e);
             Tensor dO = Fixture.sequence(la, Fixture.gaussian(rng, n * e, 1, dtype), s, e);
             Tensor decay = la.tensor(new double[] {0.05}, dtype.stateType(), Shape.of(h));
             ForwardResult r = la.forward(AttentionInputs.of(q, k, v, decay), opts);
             Gradients g = la.backward(AttentionInputs.of(q, k, v, decay), dO, null, opts)) {
            List<double[]> parts = List.of(r.output().toDoubleArray(), r.finalState().toDoubleArray(),
                    g.dq().toDoubleArray(), g.dk().toDoubleArray(), g.dv().toDoubleArray(),
                    g.dInitialState().toDoubleArray(), g.dDecay().toDoubleArray());
            return parts.stream().flatMapToDouble(java.util.Arrays::stream).toArray();
        }
    }

    /**
     * NaN in token t's q, k or v reaches the output from token t on, and never an earlier token:
     * masking must not turn it into zero, and triangular tiles must not smear it backwards.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "FP64"})
    void nanPropagatesForwardInTimeOnly(DType dtype) {
        int n = 50, d = 16, e = 16, t = 21;
        for (int which = 0; which < 3; which++) {
            for (Map<String, String> props : List.of(Map.<String, String>of(), SEGMENTED)) {
                try (LightningAttention la = Fixture.open(2, props)) {
                    SplittableRandom rng = Fixture.random("nan " + dtype + which);
                    AttentionShape s = Fixture.shape(1, 1, n, d, e, Layout.BHND, dtype);
                    double[] q = Fixture.gaussian(rng, n * d, 0.25, dtype), k = Fixture.gaussian(rng, n * d, 0.25, dtype);
                    double[] v = Fixture.gaussian(rng, n * e, 1, dtype);
                    double[] target = which == 0 ? q : which == 1 ? k : v;
                    target[t * (which == 2 ? e : d) + 3] = Double.NaN;
                    try (Tensor tq = Fixture.sequence(la, q, s, d); Tensor tk = Fixture.sequence(la, k, s, d);
                         Tensor tv = Fixture.sequence(la, v, s, e);
                         Tensor decay = la.tensor(new double[] {0.1}, dtype.stateType(), Shape.of(1));
                         ForwardResult r = la.forward(AttentionInputs.of(tq, tk, tv, decay), AttentionOptions.defaults())) {
                        double[] o = r.output().toDoubleArray();
                        String what = "NaN in " + "qkv".charAt(which) + " at token " + t + ", " + props + ", " + Fixture.seed();
                        for (int i = 0; i < t * e; i++) {
                            assertThat(o[i]).as(what + ", output " + i).isFinite();
                        }
                        assertThat(java.util.Arrays.stream(o, t * e, (t + 1) * e).anyMatch(Double::isNaN)).as(what).isTrue();
                        if (which != 0) {
                            assertThat(java.util.Arrays.stream(o, (n - 1) * e, n * e).anyMatch(Double::isNaN))
                                    .as(what + ", last token").isTrue();
                            assertThat(r.finalState().toDoubleArray()).as(what).contains(Double.NaN);
                        }
                    }
                }
            }
        }
    }

    /** Enough sequences that the decode step is split over the pool, repeated as a generation loop. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "FP64"})
    void batchedDecodeStepsMatchReference(DType dtype) {
        int b = 4, h = 8, d = 64, e = 48, steps = 5;
        SplittableRandom rng = Fixture.random("batched decode " + dtype);
        DType st = dtype.stateType();
        double[] decay = Fixture.decay(rng, h, dtype);
        double[] state = Fixture.gaussian(rng, b * h * d * e, 1, dtype);
        try (LightningAttention la = Fixture.open(2, Map.of());
             Tensor td = la.tensor(decay, st, Shape.of(h)); Tensor ts = la.tensor(state, st, Shape.of(b, h, d, e));
             Tensor out = la.allocate(dtype, Shape.of(b, h, e))) {
            for (int step = 0; step < steps; step++) {
                double[] q = Fixture.gaussian(rng, b * h * d, 1 / Math.sqrt(d), dtype);
                double[] k = Fixture.gaussian(rng, b * h * d, 1 / Math.sqrt(d), dtype);
                double[] v = Fixture.gaussian(rng, b * h * e, 1, dtype);
                try (Tensor tq = la.tensor(q, dtype, Shape.of(b, h, d)); Tensor tk = la.tensor(k, dtype, Shape.of(b, h, d));
                     Tensor tv = la.tensor(v, dtype, Shape.of(b, h, e))) {
                    out.fill(Double.NaN);
                    la.decode(tq, tk, tv, td, ts, 1.0, out);
                    double[] ref = dev.la2.reference.ReferenceMath.decode(b, h, d, e, q, k, v, decay, state, 1.0);
                    assertThat(ErrorNorms.relative(out.toDoubleArray(), ref)).as("step " + step + ", " + Fixture.seed())
                            .isLessThanOrEqualTo(Fixture.tolerance(dtype));
                    assertThat(ErrorNorms.relative(ts.toDoubleArray(), state)).as("state, step " + step + ", " + Fixture.seed())
                            .isLessThanOrEqualTo(Fixture.tolerance(dtype));
                }
            }
        }
    }

    @Test
    void concurrentCallersShareOneInstance() throws Exception {
        try (LightningAttention la = Fixture.open(2, SEGMENTED)) {
            double[] expected = runBoth(la, DType.FP32, 99);
            ExecutorService callers = Executors.newFixedThreadPool(4);
            try {
                List<Future<double[]>> results = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    results.add(callers.submit(() -> runBoth(la, DType.FP32, 99)));
                }
                for (Future<double[]> f : results) {
                    assertThat(f.get(120, TimeUnit.SECONDS)).isEqualTo(expected);
                }
            } finally {
                callers.shutdownNow();
            }
        }
    }

    /** Host tensors are counted process-wide by HostTensor, so only lower bounds are stable here. */
    @Test
    void memoryStatsCountTensorsAndScratch() {
        try (LightningAttention la = Fixture.open(2, Map.of())) {
            try (Tensor big = la.allocate(DType.FP32, Shape.of(1 << 20))) {
                big.fill(0);
                Diagnostics.of(la).resetPeakMemory();
                var now = Diagnostics.of(la).memoryStats().orElseThrow();
                assertThat(now.kind()).isEqualTo("host native");
                assertThat(now.inUseBytes()).isGreaterThanOrEqualTo(4L << 20);
                runForward(la, DType.FP32, Layout.BHND, 1, 2, 300, 32, 32, new SplittableRandom(3));
                var after = Diagnostics.of(la).memoryStats().orElseThrow();
                assertThat(after.peakBytes()).isGreaterThanOrEqualTo(after.inUseBytes()).isGreaterThanOrEqualTo(4L << 20);
            }
        }
    }

    /**
     * Kept states report their size, and their buffer is reused by the next keeping forward: a
     * forward without an initial state leaves its first block's slot unwritten, holding the previous
     * call's state, which the backward must not read.
     */
    @Test
    void keptStatesAreSizedAndTheirReusedBufferIsNotReadStale() {
        int b = 1, h = 2, n = 300, d = 32, e = 24;
        AttentionShape s = Fixture.shape(b, h, n, d, e, Layout.BHND, DType.FP32);
        SplittableRandom rng = new SplittableRandom(11);
        try (LightningAttention la = Fixture.open(2, Map.of());
             Tensor q = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * d, 0.3, DType.FP32), s, d);
             Tensor k = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * d, 0.3, DType.FP32), s, d);
             Tensor v = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * e, 1, DType.FP32), s, e);
             Tensor dOut = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * e, 1, DType.FP32), s, e);
             Tensor decay = la.tensor(new double[] {0.05, 0.5}, DType.FP32, Shape.of(h));
             Tensor s0 = la.tensor(Fixture.gaussian(rng, b * h * d * e, 30, DType.FP32), DType.FP32, Shape.of(b, h, d, e));
             Tensor out = la.allocate(DType.FP32, Shape.of(b, h, n, e))) {
            AttentionOptions keep = AttentionOptions.defaults().withSaveForBackward(true);
            try (SavedForward withState = la.forward(new AttentionInputs(q, k, v, decay, s0), keep, out, null)) {
                int blocks = (n + CpuBackend.DEFAULT_BLOCK - 1) / CpuBackend.DEFAULT_BLOCK;
                assertThat(withState.byteSize()).isEqualTo(4L * b * h * blocks * d * e);
            }
            AttentionInputs in = AttentionInputs.of(q, k, v, decay);
            try (SavedForward saved = la.forward(in, keep, out, null);
                 Gradients kept = la.backward(in, dOut, null, AttentionOptions.defaults(), saved);
                 Gradients recomputed = la.backward(in, dOut, null, AttentionOptions.defaults())) {
                for (Tensor[] pair : new Tensor[][] {{kept.dq(), recomputed.dq()}, {kept.dk(), recomputed.dk()},
                        {kept.dv(), recomputed.dv()}}) {
                    assertThat(ErrorNorms.relative(pair[0].toDoubleArray(), pair[1].toDoubleArray())).isLessThan(1e-6);
                }
                saved.close();
                assertThat(saved.isClosed()).isTrue();
                assertThat(saved.byteSize()).isZero();
            }
        }
    }

    @Test
    void wrapViewsCallerMemoryWithoutCopy() {
        try (LightningAttention la = Fixture.open(1, Map.of()); var arena = java.lang.foreign.Arena.ofConfined()) {
            var mem = arena.allocate(4 * 6);
            Tensor t = la.wrap(mem, DType.FP32, Shape.of(2, 3)).orElseThrow();
            t.fill(2.5);
            assertThat(mem.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 5)).isEqualTo(2.5f);
        }
    }

    /**
     * Doubles just past a midpoint between 16-bit values round away from it, although the nearest
     * float is the midpoint itself (SixteenBitRoundingTest in la2-api covers the conversion).
     */
    /** bf16, fp16 and fp32 chunks share a state type; a stream still takes only its own. */
    @Test
    void aStreamRefusesChunksOfAnotherStorageType() {
        try (LightningAttention la = LightningAttention.open("cpu");
             Tensor decay = la.tensor(new double[] {0.1, 0.2}, DType.FP32, Shape.of(2));
             AttentionStream stream = AttentionStream.open(la, decay, DType.BF16, 1, 2, 4, 3, AttentionOptions.defaults());
             Tensor q = la.allocate(DType.FP32, Shape.of(1, 2, 5, 4));
             Tensor v = la.allocate(DType.FP16, Shape.of(1, 2, 5, 3));
             Tensor q16 = la.allocate(DType.BF16, Shape.of(1, 2, 5, 4))) {
            assertThatThrownBy(() -> stream.next(q, q, v)).isInstanceOf(La2ArgumentException.class)
                    .hasMessage("q: got dtype FP32; expected BF16, the stream's sequence type");
            assertThatThrownBy(() -> stream.next(q16, q16, v)).isInstanceOf(La2ArgumentException.class)
                    .hasMessage("v: got dtype FP16; expected BF16, the stream's sequence type");
            assertThat(stream.tokens()).isZero();
        }
    }

    /** Offsets of as many sequences and tokens as the kept forward's still differ: say where. */
    @Test
    void aPackedBackwardNamesWhereItsOffsetsDifferFromTheKeptForwards() {
        try (LightningAttention la = LightningAttention.open("cpu");
             Tensor q = la.tensor(new double[5 * 2], DType.FP32, Shape.of(5, 1, 2));
             Tensor v = la.tensor(new double[5 * 2], DType.FP32, Shape.of(5, 1, 2));
             Tensor decay = la.tensor(new double[] {0.1}, DType.FP32, Shape.of(1));
             Tensor dOut = la.tensor(new double[5 * 2], DType.FP32, Shape.of(5, 1, 2));
             ForwardResult f = la.forwardPacked(PackedInputs.of(q, q, v, decay, SequenceOffsets.ofLengths(2, 3)),
                     AttentionOptions.defaults().withSaveForBackward(true))) {
            PackedInputs other = PackedInputs.of(q, q, v, decay, SequenceOffsets.ofLengths(3, 2));
            assertThatThrownBy(() -> la.backwardPacked(other, dOut, null, AttentionOptions.defaults(), f.saved()))
                    .isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("saved"))
                    .hasMessageContaining("whose sequence 0 has 2 tokens, not 3");
        }
    }

    @Test
    void tensorsFromDoublesRoundOnceTo16Bits() {
        try (LightningAttention la = Fixture.open(1, Map.of());
             Tensor bf16 = la.tensor(new double[] {1 + 0x1p-8 + 0x1p-30}, DType.BF16, Shape.of(1));
             Tensor fp16 = la.tensor(new double[] {-(1 + 0x1p-11 + 0x1p-30)}, DType.FP16, Shape.of(1))) {
            assertThat(bf16.toFloatArray()).containsExactly(1 + 0x1p-7f);
            assertThat(fp16.toFloatArray()).containsExactly(-(1 + 0x1p-10f));
        }
    }

    private static void runForward(LightningAttention la, DType dtype, Layout layout, int b, int h, int n, int d, int e,
                                   SplittableRandom rng) {
        AttentionShape s = Fixture.shape(b, h, n, d, e, layout, dtype);
        try (Tensor q = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * d, 0.3, dtype), s, d);
             Tensor k = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * d, 0.3, dtype), s, d);
             Tensor v = Fixture.sequence(la, Fixture.gaussian(rng, b * h * n * e, 1, dtype), s, e);
             Tensor decay = la.tensor(new double[h], dtype.stateType(), Shape.of(h));
             ForwardResult r = la.forward(AttentionInputs.of(q, k, v, decay), AttentionOptions.defaults().withLayout(layout))) {
            assertThat(r.output().toDoubleArray()).doesNotContain(Double.NaN);
        }
    }

    /** Run in a child JVM without the vector module: prints the probe and checks one forward call. */
    public static final class ProbeMain {
        public static void main(String[] args) {
            System.out.println(new CpuProvider().probe());
            try (LightningAttention la = LightningAttention.open("cpu", BackendOptions.defaults().withThreads(2))) {
                runForward(la, DType.FP32, Layout.BHND, 1, 2, 70, 5, 3, new SplittableRandom(5));
                System.out.println("forward ok");
            }
        }
    }
}
