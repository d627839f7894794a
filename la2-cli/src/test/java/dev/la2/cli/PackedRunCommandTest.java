package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code la2 run --cu-seqlens}, with dense states and through a state pool, against the API's packed calls. */
class PackedRunCommandTest {
    private static final int H = 3, D = 4, E = 5;
    private static final int[] LENGTHS = {5, 0, 9};
    private static final int S = LENGTHS.length, T = 14, P = 4;
    private static final int[] SLOTS = {2, -1, 0};

    @TempDir
    Path dir;

    private record Inputs(double[] q, double[] k, double[] v, double[] decay, double[] s0, double[] dOut,
                          double[] dFinal, double[] pool) {
    }

    private Inputs write() throws IOException {
        SplittableRandom r = new SplittableRandom(7);
        Inputs in = new Inputs(normal(r, T * H * D), normal(r, T * H * D), normal(r, T * H * E), new double[] {0, 2.5, 0.3},
                normal(r, S * H * D * E), normal(r, T * H * E), normal(r, S * H * D * E), normal(r, P * H * D * E));
        NpyArray.of(in.q(), T, H, D).write(dir.resolve("q.npy"));
        NpyArray.of(in.k(), T, H, D).write(dir.resolve("k.npy"));
        NpyArray.of(in.v(), T, H, E).write(dir.resolve("v.npy"));
        NpyArray.of(in.decay(), H).write(dir.resolve("s.npy"));
        NpyArray.of(in.s0(), S, H, D, E).write(dir.resolve("s0.npy"));
        NpyArray.of(in.dOut(), T, H, E).write(dir.resolve("do.npy"));
        NpyArray.of(in.dFinal(), S, H, D, E).write(dir.resolve("dsf.npy"));
        NpyArray.of(in.pool(), P, H, D, E).write(dir.resolve("pool.npy"));
        NpyArray.of(new long[] {0, 5, 5, 14}, S + 1).write(dir.resolve("cu64.npy"));
        NpyArray.of(new int[] {0, 5, 5, 14}, S + 1).write(dir.resolve("cu32.npy"));
        NpyArray.of(SLOTS, S).write(dir.resolve("slots.npy"));
        return in;
    }

    @Test
    void packedSequencesWithDenseStatesMatchThePackedCall() throws IOException {
        Inputs in = write();
        Path out = dir.resolve("out");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--cu-seqlens", p("cu64.npy"), "--initial-state", p("s0.npy"), "--do", p("do.npy"),
                "--dfinal-state", p("dsf.npy"), "--learnable-decay", "--out", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        try (LightningAttention la = LightningAttention.open("reference"); Tensors t = new Tensors(la)) {
            PackedInputs inputs = new PackedInputs(t.of(in.q(), T, H, D), t.of(in.k(), T, H, D), t.of(in.v(), T, H, E),
                    t.of(in.decay(), H), SequenceOffsets.ofLengths(LENGTHS), t.of(in.s0(), S, H, D, E));
            AttentionOptions options = AttentionOptions.defaults().withLearnableDecay(true);
            try (ForwardResult f = la.forwardPacked(inputs, options);
                 Gradients g = la.backwardPacked(inputs, t.of(in.dOut(), T, H, E), t.of(in.dFinal(), S, H, D, E), options,
                         null)) {
                check(out.resolve("o.npy"), f.output());
                check(out.resolve("final_state.npy"), f.finalState());
                check(out.resolve("dq.npy"), g.dq());
                check(out.resolve("dk.npy"), g.dk());
                check(out.resolve("dv.npy"), g.dv());
                check(out.resolve("dinitial_state.npy"), g.dInitialState());
                check(out.resolve("ddecay.npy"), g.dDecay());
            }
        }
    }

    @Test
    void aStatePoolStartsFromItsSlotsAndIsWrittenBack() throws IOException {
        Inputs in = write();
        Path out = dir.resolve("out");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--cu-seqlens", p("cu32.npy"), "--state-pool", p("pool.npy"), "--slots",
                p("slots.npy"), "--do", p("do.npy"), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(out.resolve("final_state.npy")).doesNotExist();
        int size = H * D * E;
        double[] initial = new double[S * size];
        for (int i = 0; i < S; i++) {
            if (SLOTS[i] >= 0) {
                System.arraycopy(in.pool(), SLOTS[i] * size, initial, i * size, size);
            }
        }
        try (LightningAttention la = LightningAttention.open("reference"); Tensors t = new Tensors(la)) {
            PackedInputs inputs = new PackedInputs(t.of(in.q(), T, H, D), t.of(in.k(), T, H, D), t.of(in.v(), T, H, E),
                    t.of(in.decay(), H), SequenceOffsets.ofLengths(LENGTHS), t.of(initial, S, H, D, E));
            try (ForwardResult f = la.forwardPacked(inputs, AttentionOptions.defaults());
                 Gradients g = la.backwardPacked(inputs, t.of(in.dOut(), T, H, E), null, AttentionOptions.defaults(), null)) {
                check(out.resolve("o.npy"), f.output());
                double[] pool = in.pool().clone();
                double[] fin = f.finalState().toDoubleArray();
                for (int i = 0; i < S; i++) {
                    if (SLOTS[i] >= 0) {
                        System.arraycopy(fin, i * size, pool, SLOTS[i] * size, size);
                    }
                }
                check(out.resolve("state_pool.npy"), pool, P, H, D, E);
                check(out.resolve("dinitial_state.npy"), g.dInitialState());
                check(out.resolve("dq.npy"), g.dq());
            }
        }
    }

    /** --fresh: the marked sequence starts from zero whatever its slot holds (NaN here) and is written back. */
    @Test
    void freshSequencesStartFromZeroInTheirSlots() throws IOException {
        Inputs in = write();
        int size = H * D * E;
        double[] poisoned = in.pool().clone();
        java.util.Arrays.fill(poisoned, SLOTS[0] * size, (SLOTS[0] + 1) * size, Double.NaN);
        NpyArray.of(poisoned, P, H, D, E).write(dir.resolve("poisoned.npy"));
        NpyArray.of(new int[] {1, 0, 0}, S).write(dir.resolve("fresh.npy"));
        Path out = dir.resolve("out");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--cu-seqlens", p("cu32.npy"), "--state-pool", p("poisoned.npy"), "--slots",
                p("slots.npy"), "--fresh", p("fresh.npy"), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        double[] initial = new double[S * size];
        System.arraycopy(in.pool(), SLOTS[2] * size, initial, 2 * size, size);  // sequence 0 fresh, 1 without a slot
        try (LightningAttention la = LightningAttention.open("reference"); Tensors t = new Tensors(la)) {
            PackedInputs inputs = new PackedInputs(t.of(in.q(), T, H, D), t.of(in.k(), T, H, D), t.of(in.v(), T, H, E),
                    t.of(in.decay(), H), SequenceOffsets.ofLengths(LENGTHS), t.of(initial, S, H, D, E));
            try (ForwardResult f = la.forwardPacked(inputs, AttentionOptions.defaults())) {
                check(out.resolve("o.npy"), f.output());
                double[] pool = poisoned.clone();
                double[] fin = f.finalState().toDoubleArray();
                System.arraycopy(fin, 0, pool, SLOTS[0] * size, size);
                System.arraycopy(fin, 2 * size, pool, SLOTS[2] * size, size);
                check(out.resolve("state_pool.npy"), pool, P, H, D, E);
            }
        }
        NpyArray.of(new int[] {1, 2, 0}, S).write(dir.resolve("two.npy"));
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--state-pool", p("pool.npy"), "--slots", p("slots.npy"),
                "--fresh", p("two.npy")), "--fresh", "got 2 at [1]; expected 0 or 1");
        NpyArray.of(new int[] {1, 0}, 2).write(dir.resolve("short-fresh.npy"));
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--state-pool", p("pool.npy"), "--slots", p("slots.npy"),
                "--fresh", p("short-fresh.npy")), "--fresh", "2 marks");
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--fresh", p("fresh.npy")), "--fresh needs --slots");
    }

    @Test
    void badOffsetsOrSlotsAreOneLineAndExitTwo() throws IOException {
        write();
        NpyArray.of(new int[] {0, 6, 5, 14}, S + 1).write(dir.resolve("down.npy"));
        expectUsageError(List.of("--cu-seqlens", p("down.npy")), "--cu-seqlens", "non-decreasing");
        NpyArray.of(new int[] {0, 5, 5, 13}, S + 1).write(dir.resolve("short.npy"));
        expectUsageError(List.of("--cu-seqlens", p("short.npy")), "--cu-seqlens", "ending at T = 14");
        NpyArray.of(new float[] {0, 5, 5, 14}, S + 1).write(dir.resolve("float.npy"));
        expectUsageError(List.of("--cu-seqlens", p("float.npy")), "--cu-seqlens", "dtype '<f4' is not supported");
        NpyArray.of(new int[] {2, 0, 2}, S).write(dir.resolve("twice.npy"));
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--state-pool", p("pool.npy"), "--slots", p("twice.npy")),
                "--slots", "slot 2");
        NpyArray.of(new int[] {2, -1, 4}, S).write(dir.resolve("past.npy"));
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--state-pool", p("pool.npy"), "--slots", p("past.npy")),
                "--slots", "slots[2] = 4");
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--state-pool", p("pool.npy")), "--state-pool needs --slots");
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--state-pool", p("pool.npy"), "--slots", p("slots.npy"),
                "--initial-state", p("s0.npy")), "--state-pool takes the place of --initial-state");
    }

    @Test
    void aNonFiniteStatePoolIsNamedByItsOption() throws IOException {
        Inputs in = write();
        double[] poisoned = in.pool().clone();
        poisoned[SLOTS[0] * H * D * E + 1] = Double.NaN;
        NpyArray.of(poisoned, P, H, D, E).write(dir.resolve("poisoned.npy"));
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--state-pool", p("poisoned.npy"), "--slots",
                p("slots.npy"), "--check-finite"), "la2 run: --state-pool " + p("poisoned.npy") + ": got NaN at ["
                + SLOTS[0] + ", 0, 0, 1]");
    }

    @Test
    void aLayoutIsRefusedForPackedSequences() throws IOException {
        write();
        expectUsageError(List.of("--cu-seqlens", p("cu32.npy"), "--layout", "bnhd"),
                "--layout: applies to dense [B,H,N,*] or [B,N,H,*] arrays, not to --cu-seqlens");
    }

    private void expectUsageError(List<String> extra, String... expectedInMessage) {
        List<String> args = new ArrayList<>(List.of("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"),
                "--v", p("v.npy"), "--decay", p("s.npy")));
        args.addAll(extra);
        Path out = dir.resolve("out-" + System.nanoTime());
        args.add("--out");
        args.add(out.toString());
        Cli r = Cli.run(args.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.errLines()).as(r.err()).singleElement().asString().startsWith("la2 run: ").contains(expectedInMessage);
        assertThat(r.out()).isEmpty();
        assertThat(out).doesNotExist();
    }

    /** Tensors on one instance, closed together. */
    private record Tensors(LightningAttention la, List<Tensor> made) implements AutoCloseable {
        Tensors(LightningAttention la) {
            this(la, new ArrayList<>());
        }

        Tensor of(double[] values, int... shape) {
            Tensor t = la.tensor(values, DType.FP64, Shape.of(shape));
            made.add(t);
            return t;
        }

        @Override
        public void close() {
            made.forEach(Tensor::close);
        }
    }

    private static void check(Path file, Tensor expected) throws IOException {
        check(file, expected.toDoubleArray(), expected.shape().dims());
    }

    private static void check(Path file, double[] expected, int... shape) throws IOException {
        NpyArray a = NpyArray.read(file);
        assertThat(a.type()).as(file.toString()).isEqualTo(NpyArray.Type.FLOAT64);
        assertThat(a.shape()).as(file.toString()).containsExactly(shape);
        double[] x = a.toDoubleArray();
        for (int i = 0; i < x.length; i++) {
            assertThat(x[i]).as(file + "[" + i + "]").isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-12));
        }
    }

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    private static double[] normal(SplittableRandom r, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextGaussian() / 2;
        }
        return a;
    }
}
