package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyArrayTest {

    @TempDir
    Path dir;

    @Test
    void roundTripsFloat32AndFloat64OfAnyRank() throws IOException {
        SplittableRandom random = new SplittableRandom();
        int[][] shapes = {{}, {1}, {7}, {3, 5}, {2, 3, 4, 5}, {1, 1, 1, 1, 1, 2}};
        for (int[] shape : shapes) {
            int count = 1;
            for (int d : shape) {
                count *= d;
            }
            float[] f = new float[count];
            double[] g = new double[count];
            for (int i = 0; i < count; i++) {
                f[i] = (float) random.nextGaussian();
                g[i] = random.nextGaussian();
            }
            Path pf = dir.resolve("f" + count + ".npy");
            Path pg = dir.resolve("g" + count + ".npy");
            NpyArray.of(f, shape).write(pf);
            NpyArray.of(g, shape).write(pg);
            NpyArray rf = NpyArray.read(pf);
            NpyArray rg = NpyArray.read(pg);
            assertThat(rf.type()).isEqualTo(NpyArray.Type.FLOAT32);
            assertThat(rf.shape()).containsExactly(shape);
            assertThat(rf.toFloatArray()).containsExactly(f);
            assertThat(rg.type()).isEqualTo(NpyArray.Type.FLOAT64);
            assertThat(rg.shape()).containsExactly(shape);
            assertThat(rg.toDoubleArray()).containsExactly(g);
            // Data starts on a 64-byte boundary, as NumPy aligns it.
            assertThat((Files.size(pf) - 4L * count) % 64).isZero();
        }
    }

    /** float16 values round to nearest even on the way in and widen exactly on the way out. */
    @Test
    void roundTripsFloat16() throws IOException {
        float[] f = {0f, -0f, 1f, 1.0004883f, 65504f, 70000f, 6.0e-8f, Float.NaN, Float.NEGATIVE_INFINITY, -2.5f, 1e-3f, 3.14159f};
        Path file = dir.resolve("h.npy");
        NpyArray.ofFloat16(widened(f), 3, 4).write(file);
        NpyArray r = NpyArray.read(file);
        assertThat(r.type()).isEqualTo(NpyArray.Type.FLOAT16);
        assertThat(r.toString()).isEqualTo("<f2 (3, 4)");
        float[] back = r.toFloatArray();
        for (int i = 0; i < f.length; i++) {
            float expected = Float.float16ToFloat(Float.floatToFloat16(f[i]));
            assertThat(Float.floatToRawIntBits(back[i])).as("element %d (%s)", i, f[i])
                    .isEqualTo(Float.floatToRawIntBits(expected));
            assertThat(Double.doubleToRawLongBits(r.toDoubleArray()[i]))
                    .isEqualTo(Double.doubleToRawLongBits(expected));
        }
        assertThat(back[3]).as("1 + 2^-11 ties to even").isEqualTo(1f);
        assertThat(back[5]).as("beyond the float16 range").isEqualTo(Float.POSITIVE_INFINITY);
        assertThat((Files.size(file) - 2L * f.length) % 64).isZero();
    }

    /** float64 results round to float16 once: through float32 first, these would tie to even. */
    @Test
    void float16FromDoublesRoundsOnce() {
        double above = 1 + 0x1p-11 + 0x1p-40, below = 1 + 0x1p-11 - 0x1p-40;
        float[] back = NpyArray.ofFloat16(new double[] {above, below, -above}, 3).toFloatArray();
        assertThat(back).containsExactly(1 + 0x1p-10f, 1f, -(1 + 0x1p-10f));
    }

    private static double[] widened(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @Test
    void writesTheBytesTheNpyFormatSpecifies() throws IOException {
        // Hand-made from the format description: magic, version 1.0, little-endian header length,
        // the dict padded with spaces (21 - digits of the first extent, then to a multiple of 64)
        // and a newline, then the raw little-endian elements.
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + " ".repeat(20);
        int headerLength = 128 - 10;
        ByteBuffer expected = ByteBuffer.allocate(128 + 24).order(ByteOrder.LITTLE_ENDIAN);
        expected.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
        expected.putShort((short) headerLength);
        expected.put(dict.getBytes(StandardCharsets.US_ASCII));
        while (expected.position() < 127) {
            expected.put((byte) ' ');
        }
        expected.put((byte) '\n');
        for (int i = 0; i < 6; i++) {
            expected.putFloat(i - 2.5f);
        }
        Path p = dir.resolve("a.npy");
        NpyArray.of(new float[] {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f}, 2, 3).write(p);
        assertThat(Files.readAllBytes(p)).containsExactly(expected.array());
    }

    @Test
    void readsFilesWrittenByNumPy() throws IOException {
        assumeTrue(NumPy.available(), "python3 with numpy is not installed");
        assertThat(NumPy.exec(dir, String.join("\n",
                "import numpy as np",
                "a = (np.arange(120, dtype='<f4') * 0.25 - 1).reshape(2, 3, 4, 5)",
                "np.save('f4.npy', a)",
                "np.save('f8.npy', np.arange(7, dtype='<f8') / 3)",
                "np.save('scalar.npy', np.array(1.5, dtype='<f8'))",
                "np.save('empty.npy', np.zeros((0, 3), dtype='<f4'))",
                "with open('v2.npy', 'wb') as f: np.lib.format.write_array(f, a, version=(2, 0))",
                "with open('v3.npy', 'wb') as f: np.lib.format.write_array(f, a, version=(3, 0))",
                "np.save('fortran.npy', np.asfortranarray(a))",
                "np.save('big.npy', a.astype('>f4'))",
                "np.save('int.npy', np.arange(6, dtype='<i4'))",
                "np.save('half.npy', np.arange(6, dtype='<f2'))",
                "np.save('record.npy', np.zeros(3, dtype=[('x', '<f4'), ('y', '<f4')]))"))).isZero();

        for (String name : new String[] {"f4.npy", "v2.npy", "v3.npy"}) {
            NpyArray a = NpyArray.read(dir.resolve(name));
            assertThat(a.type()).as(name).isEqualTo(NpyArray.Type.FLOAT32);
            assertThat(a.shape()).as(name).containsExactly(2, 3, 4, 5);
            float[] values = a.toFloatArray();
            for (int i = 0; i < values.length; i++) {
                assertThat(values[i]).as(name + "[" + i + "]").isEqualTo(i * 0.25f - 1);
            }
        }
        NpyArray f8 = NpyArray.read(dir.resolve("f8.npy"));
        assertThat(f8.shape()).containsExactly(7);
        assertThat(f8.toDoubleArray()).containsExactly(0 / 3.0, 1 / 3.0, 2 / 3.0, 3 / 3.0, 4 / 3.0, 5 / 3.0, 6 / 3.0);
        assertThat(NpyArray.read(dir.resolve("scalar.npy")).toDoubleArray()).containsExactly(1.5);
        assertThat(NpyArray.read(dir.resolve("empty.npy")).shape()).containsExactly(0, 3);

        assertThatThrownBy(() -> NpyArray.read(dir.resolve("fortran.npy"))).isInstanceOf(NpyFormatException.class)
                .hasMessageContaining("Fortran-ordered");
        assertThatThrownBy(() -> NpyArray.read(dir.resolve("big.npy"))).isInstanceOf(NpyFormatException.class)
                .hasMessageContaining("big-endian dtype '>f4'");
        assertThatThrownBy(() -> NpyArray.read(dir.resolve("int.npy"))).isInstanceOf(NpyFormatException.class)
                .hasMessageContaining("dtype '<i4' is not supported");
        NpyArray half = NpyArray.read(dir.resolve("half.npy"));
        assertThat(half.type()).isEqualTo(NpyArray.Type.FLOAT16);
        assertThat(half.toFloatArray()).containsExactly(0f, 1f, 2f, 3f, 4f, 5f);
        assertThatThrownBy(() -> NpyArray.read(dir.resolve("record.npy"))).isInstanceOf(NpyFormatException.class)
                .hasMessageContaining("structured");
    }

    @Test
    void numPyReadsWhatWeWriteAndWritesTheSameBytes() throws IOException {
        assumeTrue(NumPy.available(), "python3 with numpy is not installed");
        float[] f = new float[2 * 3 * 4];
        for (int i = 0; i < f.length; i++) {
            f[i] = i * 0.5f - 3;
        }
        double[] g = {Math.PI, -0.0, 1e-300, Double.MAX_VALUE, Double.NaN, Double.NEGATIVE_INFINITY};
        NpyArray.of(f, 2, 3, 4).write(dir.resolve("ours_f4.npy"));
        NpyArray.of(g, 6).write(dir.resolve("ours_f8.npy"));
        assertThat(NumPy.exec(dir, String.join("\n",
                "import numpy as np, io, math",
                "a = np.load('ours_f4.npy')",
                "assert a.dtype == np.dtype('<f4') and a.shape == (2, 3, 4), (a.dtype, a.shape)",
                "assert np.array_equal(a, (np.arange(24, dtype='<f4') * 0.5 - 3).reshape(2, 3, 4))",
                "b = np.load('ours_f8.npy')",
                "expect = np.array([math.pi, -0.0, 1e-300, np.finfo('<f8').max, np.nan, -np.inf])",
                "assert b.dtype == np.dtype('<f8') and b.shape == (6,)",
                "assert np.array_equal(b, expect, equal_nan=True) and math.copysign(1, b[1]) < 0",
                "buf = io.BytesIO(); np.save(buf, a)",
                "assert buf.getvalue() == open('ours_f4.npy', 'rb').read(), 'np.save writes other bytes'"))).isZero();
    }

    @Test
    void float16FilesAgreeWithNumPy() throws IOException {
        assumeTrue(NumPy.available(), "python3 with numpy is not installed");
        float[] f = {0.1f, -1.5f, 65504f, 1e-6f, 2049f, 3.3333f};
        NpyArray.ofFloat16(widened(f), 2, 3).write(dir.resolve("ours_f2.npy"));
        assertThat(NumPy.exec(dir, String.join("\n",
                "import numpy as np, io",
                "a = np.load('ours_f2.npy')",
                "want = np.array([0.1, -1.5, 65504, 1e-6, 2049, 3.3333], dtype='<f4').astype('<f2').reshape(2, 3)",
                "assert a.dtype == np.dtype('<f2') and np.array_equal(a, want), (a, want)",
                "buf = io.BytesIO(); np.save(buf, want)",
                "assert buf.getvalue() == open('ours_f2.npy', 'rb').read(), 'np.save writes other bytes'",
                "np.save('theirs_f2.npy', (np.arange(6, dtype='<f2') * 0.3).reshape(3, 2))"))).isZero();
        NpyArray theirs = NpyArray.read(dir.resolve("theirs_f2.npy"));
        assertThat(theirs.type()).isEqualTo(NpyArray.Type.FLOAT16);
        assertThat(theirs.shape()).containsExactly(3, 2);
        float[] got = theirs.toFloatArray();
        for (int i = 0; i < got.length; i++) {
            // NumPy computes arange(6, '<f2') * 0.3 in float16: round i, then round i * fp16(0.3).
            float step = Float.float16ToFloat(Float.floatToFloat16(0.3f));
            assertThat(got[i]).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(i * step)));
        }
    }

    @Test
    void rejectsMalformedFilesNamingThem() throws IOException {
        Path good = dir.resolve("good.npy");
        NpyArray.of(new float[] {1, 2, 3, 4}, 4).write(good);
        byte[] bytes = Files.readAllBytes(good);

        assertThatThrownBy(() -> NpyArray.read(dir.resolve("missing.npy"))).isInstanceOf(NoSuchFileException.class);
        assertThatThrownBy(() -> NpyArray.read(write("text.npy", "hello, world".getBytes(StandardCharsets.US_ASCII))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("text.npy").hasMessageContaining("not a NumPy .npy file");
        assertThatThrownBy(() -> NpyArray.read(write("short.npy", slice(bytes, 0, 40))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("truncated .npy header");
        assertThatThrownBy(() -> NpyArray.read(write("data.npy", slice(bytes, 0, bytes.length - 1))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("truncated data");
        byte[] longer = new byte[bytes.length + 4];
        System.arraycopy(bytes, 0, longer, 0, bytes.length);
        assertThatThrownBy(() -> NpyArray.read(write("long.npy", longer)))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("4 unexpected bytes");
        byte[] v9 = bytes.clone();
        v9[6] = 9;
        assertThatThrownBy(() -> NpyArray.read(write("v9.npy", v9)))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("version 9.0");
        assertThatThrownBy(() -> NpyArray.read(write("syntax.npy", replace(bytes, "'shape': (4,)", "'shape': (4,("))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("malformed .npy header");
        assertThatThrownBy(() -> NpyArray.read(write("key.npy", replace(bytes, "'fortran_order'", "'fortran_ordre'"))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("keys");
        assertThatThrownBy(() -> NpyArray.read(write("neg.npy", replace(bytes, "'shape': (4,)", "'shape': (-4,)"))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("extent -4");
        // Python's (4) is the integer 4, not a tuple: np.load refuses such a header too.
        assertThatThrownBy(() -> NpyArray.read(write("paren.npy", replace(bytes, "'shape': (4,)", "'shape': (4)"))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("shape is 4; expected a tuple");
    }

    @Test
    void aDeeplyNestedHeaderIsRefusedInOneShortMessage() throws IOException {
        // (((...(2,)...))) is the tuple (2,) to Python; 30000 levels overflowed the parser's stack.
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + "(".repeat(30_000) + "2,"
                + ")".repeat(30_000) + ", }\n";
        byte[] header = dict.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer file = ByteBuffer.allocate(10 + header.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        file.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length).put(header);
        Path deep = write("deep.npy", file.array());
        assertThatThrownBy(() -> NpyArray.read(deep)).isInstanceOf(NpyFormatException.class)
                .hasMessageContaining("malformed .npy header (nesting deeper than " + PythonLiteral.MAX_DEPTH)
                .satisfies(e -> assertThat(e.getMessage()).hasSizeLessThan(500));
    }

    /** A named pipe that yields {@code content} once, as a shell's {@code <(...)} does. */
    private Path pipe(String name, byte[] content) throws Exception {
        Path fifo = dir.resolve(name);
        Process mkfifo;
        try {
            mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        } catch (IOException e) {
            assumeTrue(false, "no mkfifo: " + e.getMessage());
            return null;
        }
        assumeTrue(mkfifo.waitFor() == 0, "mkfifo failed");
        Thread writer = new Thread(() -> {
            try {
                Files.write(fifo, content);
            } catch (IOException e) {
                // The reader stopped early; what it read is what the test judges.
            }
        });
        writer.setDaemon(true);
        writer.start();
        return fifo;
    }

    @Test
    void readsArraysFromPipesAndRefusesBrokenOnes() throws Exception {
        Path file = dir.resolve("file.npy");
        float[] values = {1.5f, -2, 3, 4.25f, 5, 6};
        NpyArray.of(values, 2, 3).write(file);
        byte[] bytes = Files.readAllBytes(file);

        NpyArray piped = NpyArray.read(pipe("whole", bytes));
        assertThat(piped.shape()).containsExactly(2, 3);
        assertThat(piped.toFloatArray()).containsExactly(values);
        assertThatThrownBy(() -> NpyArray.read(pipe("short", slice(bytes, 0, bytes.length - 3))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("truncated data")
                .hasMessageContaining("needs 24 bytes, the file has 21");
        byte[] longer = java.util.Arrays.copyOf(bytes, bytes.length + 2);
        assertThatThrownBy(() -> NpyArray.read(pipe("long", longer)))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("unexpected bytes after the data");
        assertThatThrownBy(() -> NpyArray.read(pipe("header", slice(bytes, 0, 40))))
                .isInstanceOf(NpyFormatException.class).hasMessageContaining("truncated .npy header");
    }

    @Test
    void anEmptyArrayWithHugeExtentsReadsAsEmpty() throws IOException {
        Path file = dir.resolve("huge-empty.npy");
        new NpyArray(NpyArray.Type.FLOAT32, new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE, 0},
                java.lang.foreign.MemorySegment.ofArray(new byte[0])).write(file);
        NpyArray a = NpyArray.read(file);
        assertThat(a.shape()).containsExactly(Integer.MAX_VALUE, Integer.MAX_VALUE, 0);
        assertThat(a.elementCount()).isZero();
    }

    private Path write(String name, byte[] content) throws IOException {
        return Files.write(dir.resolve(name), content);
    }

    private static byte[] slice(byte[] a, int from, int to) {
        byte[] out = new byte[to - from];
        System.arraycopy(a, from, out, 0, out.length);
        return out;
    }

    /** Replaces text inside the header, keeping its length (the fixtures pad with spaces). */
    private static byte[] replace(byte[] file, String from, String to) {
        String s = new String(file, StandardCharsets.ISO_8859_1);
        assertThat(s).contains(from);
        String padded = to + " ".repeat(Math.max(0, from.length() - to.length()));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] replaced = s.replace(from, padded).getBytes(StandardCharsets.ISO_8859_1);
        out.write(replaced, 0, replaced.length);
        return out.toByteArray();
    }
}
