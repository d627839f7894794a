package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.la2.api.DecaySlopes;
import dev.la2.api.Layout;
import dev.la2.reference.Problem;
import dev.la2.spi.HalfFloats;
import dev.la2.reference.ReferenceMath;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RunCommandTest {

    private static final int B = 2, H = 3, N = 70, D = 5, E = 4;

    @TempDir
    Path dir;

    /** Canonical [B,H,N,F] inputs, written to files in the layout under test. */
    private record Inputs(double[] q, double[] k, double[] v, double[] decay, double[] s0, double[] dOut, double[] dFinal) {
    }

    private Inputs write(boolean fp64, Layout layout) throws IOException {
        SplittableRandom r = new SplittableRandom();
        Inputs in = new Inputs(normal(r, B * H * N * D, 1 / Math.sqrt(D)), normal(r, B * H * N * D, 1 / Math.sqrt(D)),
                normal(r, B * H * N * E, 1), DecaySlopes.alibi(H), normal(r, B * H * D * E, 1),
                normal(r, B * H * N * E, 1), normal(r, B * H * D * E, 1));
        if (!fp64) {
            // What float32 files hold is what the reference must see.
            for (double[] a : new double[][] {in.q(), in.k(), in.v(), in.s0(), in.dOut(), in.dFinal()}) {
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) a[i];
                }
            }
        }
        save("q.npy", physical(in.q(), layout, D), fp64, layout.shape(B, H, N, D).dims());
        save("k.npy", physical(in.k(), layout, D), fp64, layout.shape(B, H, N, D).dims());
        save("v.npy", physical(in.v(), layout, E), fp64, layout.shape(B, H, N, E).dims());
        // Decay in float64 even for float32 sequences: np.array([...]) makes float64 by default.
        save("s.npy", in.decay(), true, H);
        save("s0.npy", in.s0(), fp64, B, H, D, E);
        save("do.npy", physical(in.dOut(), layout, E), fp64, layout.shape(B, H, N, E).dims());
        save("dsf.npy", in.dFinal(), fp64, B, H, D, E);
        return in;
    }

    @ParameterizedTest(name = "fp64={0} layout={1}")
    @CsvSource({"false, BHND", "true, BHND", "false, BNHD", "true, BNHD"})
    void computesOutputsAndGradientsLikeTheReference(boolean fp64, Layout layout) throws IOException {
        Inputs in = write(fp64, layout);
        double scale = 0.8;
        Path out = dir.resolve("out");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--scale", String.valueOf(scale), "--initial-state", p("s0.npy"),
                "--do", p("do.npy"), "--dfinal-state", p("dsf.npy"), "--learnable-decay",
                "--layout", layout.name().toLowerCase(), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).isEmpty();
        assertThat(names(out)).containsExactlyInAnyOrder("o.npy", "final_state.npy", "dq.npy", "dk.npy", "dv.npy",
                "dinitial_state.npy", "ddecay.npy");

        Problem problem = new Problem(B, H, N, D, E);
        ReferenceMath.Forward f = ReferenceMath.forwardClosed(problem, in.q(), in.k(), in.v(), in.decay(), in.s0(), scale);
        ReferenceMath.Backward g = ReferenceMath.backward(problem, in.q(), in.k(), in.v(), in.decay(), in.s0(),
                in.dOut(), in.dFinal(), scale);
        double tol = fp64 ? 1e-12 : 1e-5;
        NpyArray.Type type = fp64 ? NpyArray.Type.FLOAT64 : NpyArray.Type.FLOAT32;
        check(out.resolve("o.npy"), type, layout.shape(B, H, N, E).dims(), physical(f.output(), layout, E), tol);
        check(out.resolve("final_state.npy"), type, new int[] {B, H, D, E}, f.finalState(), tol);
        check(out.resolve("dq.npy"), type, layout.shape(B, H, N, D).dims(), physical(g.dq(), layout, D), tol);
        check(out.resolve("dk.npy"), type, layout.shape(B, H, N, D).dims(), physical(g.dk(), layout, D), tol);
        check(out.resolve("dv.npy"), type, layout.shape(B, H, N, E).dims(), physical(g.dv(), layout, E), tol);
        check(out.resolve("dinitial_state.npy"), type, new int[] {B, H, D, E}, g.dInitialState(), tol);
        check(out.resolve("ddecay.npy"), type, new int[] {H}, g.dDecay(), tol);
    }

    /**
     * float16 files run as FP16 storage: sequence results come back as float16, states and the decay
     * gradient as float32; the reference sees the float16 inputs exactly.
     */
    @Test
    void float16ArraysRunAsFp16() throws IOException {
        SplittableRandom r = new SplittableRandom();
        double[] q = half(normal(r, B * H * N * D, 1 / Math.sqrt(D))), k = half(normal(r, B * H * N * D, 1 / Math.sqrt(D)));
        double[] v = half(normal(r, B * H * N * E, 1)), dOut = half(normal(r, B * H * N * E, 1));
        saveFloat16("q16.npy", q, B, H, N, D);
        saveFloat16("k16.npy", k, B, H, N, D);
        saveFloat16("v16.npy", v, B, H, N, E);
        saveFloat16("do16.npy", dOut, B, H, N, E);
        save("s.npy", DecaySlopes.alibi(H), true, H);
        Path out = dir.resolve("out16");
        Cli run = Cli.run("run", "--backend", "cpu", "--q", p("q16.npy"), "--k", p("k16.npy"), "--v", p("v16.npy"),
                "--decay", p("s.npy"), "--do", p("do16.npy"), "--learnable-decay", "--out", out.toString());
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.out()).contains("FP16");
        Problem problem = new Problem(B, H, N, D, E);
        ReferenceMath.Forward f = ReferenceMath.forwardClosed(problem, q, k, v, DecaySlopes.alibi(H), null, 1.0);
        ReferenceMath.Backward g = ReferenceMath.backward(problem, q, k, v, DecaySlopes.alibi(H), null, dOut, null, 1.0);
        double tol = 2e-2; // SPEC.md's tolerance for 16-bit storage
        check(out.resolve("o.npy"), NpyArray.Type.FLOAT16, new int[] {B, H, N, E}, f.output(), tol);
        check(out.resolve("final_state.npy"), NpyArray.Type.FLOAT32, new int[] {B, H, D, E}, f.finalState(), tol);
        check(out.resolve("dq.npy"), NpyArray.Type.FLOAT16, new int[] {B, H, N, D}, g.dq(), tol);
        check(out.resolve("dk.npy"), NpyArray.Type.FLOAT16, new int[] {B, H, N, D}, g.dk(), tol);
        check(out.resolve("dinitial_state.npy"), NpyArray.Type.FLOAT32, new int[] {B, H, D, E}, g.dInitialState(), tol);
        check(out.resolve("dv.npy"), NpyArray.Type.FLOAT16, new int[] {B, H, N, E}, g.dv(), tol);
        check(out.resolve("ddecay.npy"), NpyArray.Type.FLOAT32, new int[] {H}, g.dDecay(), tol);
    }

    private void saveFloat16(String name, double[] values, int... shape) throws IOException {
        NpyArray.ofFloat16(values, shape).write(dir.resolve(name));
    }

    private static double[] half(double[] values) {
        for (int i = 0; i < values.length; i++) {
            values[i] = Float.float16ToFloat(HalfFloats.toFp16(values[i]));
        }
        return values;
    }

    @Test
    void forwardOnlyWritesTheOutputAndTheFinalState() throws IOException {
        write(false, Layout.BHND);
        Path out = dir.resolve("fwd");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(names(out)).containsExactlyInAnyOrder("o.npy", "final_state.npy");
        assertThat(r.out()).contains("backend reference", "o.npy", "final_state.npy");
    }

    @Test
    void numPyFilesInNumPyFilesOut() throws IOException {
        assumeTrue(NumPy.available(), "python3 with numpy is not installed");
        assertThat(NumPy.exec(dir, String.join("\n",
                "import numpy as np",
                "rng = np.random.default_rng()",
                "B, H, N, D, E = 1, 2, 9, 3, 4",
                "np.save('q.npy', rng.standard_normal((B, H, N, D)))",
                "np.save('k.npy', rng.standard_normal((B, H, N, D)))",
                "np.save('v.npy', rng.standard_normal((B, H, N, E)))",
                "np.save('s.npy', np.array([0.5, 0.0]))"))).isZero();
        Path out = dir.resolve("np-out");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        // The recurrence in NumPy, float64: S_t = lambda S_{t-1} + k_t^T v_t, o_t = q_t S_t.
        assertThat(NumPy.exec(dir, String.join("\n",
                "import numpy as np",
                "q, k, v, s = (np.load(n + '.npy') for n in ('q', 'k', 'v', 's'))",
                "o = np.load('np-out/o.npy'); fin = np.load('np-out/final_state.npy')",
                "assert o.dtype == np.float64 and o.shape == v.shape and fin.shape == (1, 2, 3, 4)",
                "S = np.zeros((1, 2, 3, 4)); ref = np.zeros_like(v)",
                "for t in range(q.shape[2]):",
                "    S = np.exp(-s)[None, :, None, None] * S + k[:, :, t, :, None] * v[:, :, t, None, :]",
                "    ref[:, :, t] = np.einsum('bhd,bhde->bhe', q[:, :, t], S)",
                "assert np.allclose(o, ref, rtol=1e-12, atol=1e-12), abs(o - ref).max()",
                "assert np.allclose(fin, S, rtol=1e-12, atol=1e-12)"))).isZero();
    }

    // ------------------------------------------------------------------ errors

    @Test
    void aMissingFileIsOneLineAndExitTwo() throws IOException {
        write(false, Layout.BHND);
        expectUsageError(new String[] {"--q", p("nope.npy")}, "--q", "nope.npy: no such file");
    }

    @Test
    void aMalformedHeaderIsOneLineAndExitTwo() throws IOException {
        write(false, Layout.BHND);
        byte[] bytes = Files.readAllBytes(dir.resolve("k.npy"));
        String s = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1).replace("'fortran_order': False", "'fortran_order': Flase");
        Files.write(dir.resolve("bad.npy"), s.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        expectUsageError(new String[] {"--k", p("bad.npy")}, "--k", "bad.npy: malformed .npy header");
    }

    @Test
    void aWrongDtypeIsOneLineAndExitTwo() throws IOException {
        write(false, Layout.BHND);
        // An int32 array: the header says '<i4'.
        byte[] bytes = Files.readAllBytes(dir.resolve("v.npy"));
        String s = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1).replace("'<f4'", "'<i4'");
        Files.write(dir.resolve("int.npy"), s.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        expectUsageError(new String[] {"--v", p("int.npy")}, "--v", "dtype '<i4' is not supported");
        // float64 keys with float32 queries
        save("k64.npy", new double[B * H * N * D], true, B, H, N, D);
        expectUsageError(new String[] {"--k", p("k64.npy")}, "--k", "got dtype '<f8'; expected '<f4' like q");
    }

    @Test
    void aShapeMismatchIsOneLineAndExitTwo() throws IOException {
        write(false, Layout.BHND);
        save("v_short.npy", new double[B * H * (N - 1) * E], false, B, H, N - 1, E);
        expectUsageError(new String[] {"--v", p("v_short.npy")}, "--v", "got shape (2, 3, 69, 4)");
        save("s4.npy", new double[] {0.1, 0.2, 0.3, 0.4}, true, 4);
        expectUsageError(new String[] {"--decay", p("s4.npy")}, "--decay", "got shape (4,); expected (3,)");
        save("q3.npy", new double[B * H * N], false, B, H, N);
        expectUsageError(new String[] {"--q", p("q3.npy")}, "--q", "rank 3");
        save("s0bad.npy", new double[B * H * E * D * 2], false, B, H, D, 2 * E);
        expectUsageError(new String[] {"--initial-state", p("s0bad.npy")}, "--initial-state", "expected (2, 3, 5, 4)");
    }

    @Test
    void aNegativeDecayIsOneLineAndExitTwo() throws IOException {
        write(false, Layout.BHND);
        save("neg.npy", new double[] {0.1, -0.5, 0.2}, true, H);
        expectUsageError(new String[] {"--decay", p("neg.npy")}, "--decay " + p("neg.npy") + ": got ", "-0.5");
    }

    /** The library's refusals name the option the user typed, not the API's argument. */
    @Test
    void anUnusableScaleIsNamedByItsOption() throws IOException {
        write(false, Layout.BHND);
        expectUsageError(new String[] {"--scale", "NaN"}, "la2 run: --scale: got NaN; expected ");
        expectUsageError(new String[] {"--scale", "1e300"}, "la2 run: --scale: got 1.0E300; expected ");
    }

    @Test
    void checkFiniteNamesTheFirstNaN() throws IOException {
        Inputs in = write(false, Layout.BHND);
        double[] k = in.k().clone();
        k[((1 * H + 2) * N + 9) * D + 3] = Double.NaN;
        save("k_nan.npy", k, false, B, H, N, D);
        expectUsageError(new String[] {"--k", p("k_nan.npy"), "--check-finite"},
                "--k " + p("k_nan.npy") + ": got NaN at [1, 2, 9, 3] (b, h, t, d)");
    }

    @Test
    void optionsThatNeedTheBackwardPassAreRejected() throws IOException {
        write(false, Layout.BHND);
        expectUsageError(new String[] {"--learnable-decay"}, "--learnable-decay", "needs --do");
        expectUsageError(new String[] {"--dfinal-state", p("dsf.npy")}, "--dfinal-state", "needs --do");
    }

    @Test
    void anUnknownBackendIsOneLineAndExitTwo() throws IOException {
        write(false, Layout.BHND);
        Path out = dir.resolve("never");
        Cli r = Cli.run("run", "--backend", "no-such-backend", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--out", out.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().contains("no backend named 'no-such-backend'", "reference");
        assertThat(out).doesNotExist();
    }

    @Test
    void anOutDirectoryThatCannotBeMadeIsOneLineAndExitTwo() throws IOException {
        write(false, Layout.BHND);
        Files.writeString(dir.resolve("plain"), "a file");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--out", p("plain") + "/sub");
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().startsWith("la2 run: --out ").contains("plain/sub",
                "cannot create the directory");
    }

    @Test
    void aResultNameTakenByADirectoryReplacesNothing() throws IOException {
        write(false, Layout.BHND);
        Path out = dir.resolve("taken");
        Files.createDirectories(out.resolve("final_state.npy"));
        Files.writeString(out.resolve("o.npy"), "an earlier result");
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.errLines()).singleElement().asString().contains("--out", "final_state.npy: is a directory; expected a file to replace or none");
        assertThat(Files.readString(out.resolve("o.npy"))).isEqualTo("an earlier result");
        assertThat(names(out)).containsExactlyInAnyOrder("o.npy", "final_state.npy");
    }

    @Test
    void resultFilesGetTheUmaskPermissionsLikeNpSave() throws IOException {
        write(false, Layout.BHND);
        Path out = dir.resolve("perms");
        Path probe = Files.createFile(dir.resolve("plain-file"));
        Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                "--decay", p("s.npy"), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.getPosixFilePermissions(out.resolve("o.npy"))).isEqualTo(Files.getPosixFilePermissions(probe));
    }

    /** Runs with the good files, one of them replaced, and expects a single stderr line, exit 2, no output. */
    private void expectUsageError(String[] override, String... expectedInMessage) {
        List<String> args = new ArrayList<>(List.of("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"),
                "--v", p("v.npy"), "--decay", p("s.npy")));
        for (int i = 0; i < override.length; i++) {
            int at = args.indexOf(override[i]);
            boolean hasValue = i + 1 < override.length && !override[i + 1].startsWith("--");
            if (at >= 0 && hasValue) {
                args.set(at + 1, override[++i]);
            } else {
                args.add(override[i]);
                if (hasValue) {
                    args.add(override[++i]);
                }
            }
        }
        Path out = dir.resolve("out-" + System.nanoTime());
        args.add("--out");
        args.add(out.toString());
        Cli r = Cli.run(args.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.errLines()).as(r.err()).singleElement().asString().startsWith("la2 run: ").contains(expectedInMessage);
        assertThat(r.out()).isEmpty();
        assertThat(out).doesNotExist();
    }

    // ------------------------------------------------------------------ helpers

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    private void save(String name, double[] values, boolean fp64, int... shape) throws IOException {
        if (fp64) {
            NpyArray.of(values, shape).write(dir.resolve(name));
        } else {
            float[] f = new float[values.length];
            for (int i = 0; i < f.length; i++) {
                f[i] = (float) values[i];
            }
            NpyArray.of(f, shape).write(dir.resolve(name));
        }
    }

    private static void check(Path file, NpyArray.Type type, int[] shape, double[] expected, double tol) throws IOException {
        NpyArray a = NpyArray.read(file);
        assertThat(a.type()).as(file.toString()).isEqualTo(type);
        assertThat(a.shape()).as(file.toString()).containsExactly(shape);
        double[] x = a.toDoubleArray();
        double num = 0, den = 0;
        for (int i = 0; i < x.length; i++) {
            num += (x[i] - expected[i]) * (x[i] - expected[i]);
            den += expected[i] * expected[i];
        }
        assertThat(Math.sqrt(num / den)).as(file.getFileName() + " relative error").isLessThan(tol);
    }

    /** Canonical [B,H,N,F] to the layout's physical order. */
    private static double[] physical(double[] canonical, Layout layout, int f) {
        double[] out = new double[canonical.length];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                for (int t = 0; t < N; t++) {
                    System.arraycopy(canonical, ((b * H + h) * N + t) * f, out, (int) layout.rowOffset(b, h, t, H, N, f), f);
                }
            }
        }
        return out;
    }

    private static double[] normal(SplittableRandom r, int n, double std) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextGaussian() * std;
        }
        return a;
    }

    private static List<String> names(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(x -> x.getFileName().toString()).toList();
        }
    }
}
