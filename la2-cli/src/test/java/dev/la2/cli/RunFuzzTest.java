package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Property: whatever is wrong with the input files of {@code la2 run} — truncated, padded,
 * a broken magic, another dtype, another shape, a bad decay rate, a missing file, a directory — the
 * command prints one line on stderr, exits with 2, writes nothing, and leaves the inputs as they were.
 */
class RunFuzzTest {
    private static final int TRIALS = 120;
    private static final String[] FILES = {"q.npy", "k.npy", "v.npy", "s.npy", "s0.npy", "do.npy"};

    @TempDir
    Path dir;

    private final long seed = Long.getLong("la2.seed", System.nanoTime());
    private final SplittableRandom random = new SplittableRandom(seed);

    private int b, h, n, d, e;

    private void writeValid() throws IOException {
        b = 1 + random.nextInt(2);
        h = 1 + random.nextInt(3);
        n = 1 + random.nextInt(20);
        d = 1 + random.nextInt(5);
        e = 1 + random.nextInt(5);
        NpyArray.of(normal(b * h * n * d), b, h, n, d).write(dir.resolve("q.npy"));
        NpyArray.of(normal(b * h * n * d), b, h, n, d).write(dir.resolve("k.npy"));
        NpyArray.of(normal(b * h * n * e), b, h, n, e).write(dir.resolve("v.npy"));
        float[] rates = new float[h];
        for (int i = 0; i < h; i++) {
            rates[i] = (float) random.nextDouble();
        }
        NpyArray.of(rates, h).write(dir.resolve("s.npy"));
        NpyArray.of(normal(b * h * d * e), b, h, d, e).write(dir.resolve("s0.npy"));
        NpyArray.of(normal(b * h * n * e), b, h, n, e).write(dir.resolve("do.npy"));
    }

    private float[] normal(int count) {
        float[] a = new float[count];
        for (int i = 0; i < count; i++) {
            a[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return a;
    }

    /** Damages one input so that no valid reading of it exists; returns what was done, for messages. */
    private String corrupt() throws IOException {
        String file = FILES[random.nextInt(FILES.length)];
        Path path = dir.resolve(file);
        byte[] bytes = Files.readAllBytes(path);
        switch (random.nextInt(9)) {
            case 0 -> {
                int length = random.nextInt(bytes.length);
                Files.write(path, Arrays.copyOf(bytes, length));
                return file + " truncated to " + length + " bytes";
            }
            case 1 -> {
                byte[] longer = Arrays.copyOf(bytes, bytes.length + 1 + random.nextInt(8));
                Files.write(path, longer);
                return file + " with trailing bytes";
            }
            case 2 -> {
                int at = random.nextInt(6);
                bytes[at] = (byte) (bytes[at] ^ (1 + random.nextInt(255)));
                Files.write(path, bytes);
                return file + " with a broken magic at byte " + at;
            }
            case 3 -> {
                String other = new String[] {"<i4", ">f4", "<f2", "|u1", "<c8"}[random.nextInt(5)];
                String text = new String(bytes, StandardCharsets.ISO_8859_1).replace("'<f4'", "'" + other + "'");
                Files.write(path, text.getBytes(StandardCharsets.ISO_8859_1));
                return file + " relabelled as " + other;
            }
            case 4 -> {
                int[] shape = NpyArray.read(path).shape();
                int axis = random.nextInt(shape.length);
                shape[axis] += 1 + random.nextInt(3);
                int count = Arrays.stream(shape).reduce(1, (x, y) -> x * y);
                NpyArray.of(normal(count), shape).write(path);
                return file + " reshaped to " + Arrays.toString(shape);
            }
            case 5 -> {
                float[] rates = NpyArray.read(dir.resolve("s.npy")).toFloatArray();
                rates[random.nextInt(rates.length)] = new float[] {-0.25f, Float.NaN, Float.POSITIVE_INFINITY}[random.nextInt(3)];
                NpyArray.of(rates, rates.length).write(dir.resolve("s.npy"));
                return "s.npy with a bad rate " + Arrays.toString(rates);
            }
            case 6 -> {
                Files.delete(path);
                return file + " missing";
            }
            case 7 -> {
                Files.delete(path);
                Files.createDirectory(path);
                return file + " is a directory";
            }
            default -> {
                int[] shape = NpyArray.read(path).shape();
                int[] extra = Arrays.copyOf(shape, shape.length + 1);
                extra[shape.length] = 1;
                NpyArray.of(normal(Arrays.stream(extra).reduce(1, (x, y) -> x * y)), extra).write(path);
                return file + " with an extra axis " + Arrays.toString(extra);
            }
        }
    }

    @Test
    void everyDamagedInputIsOneLineExitTwoAndNothingWritten() throws IOException {
        for (int trial = 0; trial < TRIALS; trial++) {
            clear();
            writeValid();
            String what = corrupt();
            Map<String, byte[]> before = snapshot();
            Path out = dir.resolve("out-" + trial);
            Cli r = Cli.run("run", "--backend", "reference", "--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"),
                    "--decay", p("s.npy"), "--initial-state", p("s0.npy"), "--do", p("do.npy"), "--out", out.toString());
            String context = "trial " + trial + ": " + what + " (seed " + seed + "); stderr: " + r.err();
            assertThat(r.code()).as(context).isEqualTo(La2Cli.EXIT_USAGE);
            assertThat(r.errLines()).as(context).hasSize(1);
            assertThat(out).as(context + ": nothing may be written").doesNotExist();
            assertThat(snapshot()).as(context + ": inputs unchanged").containsOnlyKeys(before.keySet());
            for (Map.Entry<String, byte[]> entry : snapshot().entrySet()) {
                assertThat(entry.getValue()).as(context + ": " + entry.getKey()).isEqualTo(before.get(entry.getKey()));
            }
        }
        System.out.printf("la2 run fuzz: %d damaged inputs, each one line on stderr and exit 2 (seed %d)%n", TRIALS, seed);
    }

    private Map<String, byte[]> snapshot() throws IOException {
        Map<String, byte[]> files = new HashMap<>();
        for (String f : FILES) {
            Path path = dir.resolve(f);
            if (Files.isRegularFile(path)) {
                files.put(f, Files.readAllBytes(path));
            }
        }
        return files;
    }

    private void clear() throws IOException {
        for (String f : FILES) {
            Path path = dir.resolve(f);
            if (Files.isDirectory(path)) {
                Files.delete(path);
            } else {
                Files.deleteIfExists(path);
            }
        }
    }

    private String p(String name) {
        return dir.resolve(name).toString();
    }
}
