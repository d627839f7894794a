package dev.la2.bench;

import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import java.util.Locale;
import java.util.Objects;

/**
 * What a {@link LengthSweep} runs: the backend, the shape at each sequence length, how the calls are
 * made and timed, and what is measured beside them. Checked on construction, naming the {@code la2
 * bench} option at fault.
 *
 * @param call         which call is timed: the forward alone or forward+backward, and what it asks for
 * @param warmup       untimed calls before each size's timed ones, at least
 * @param warmupSeconds shortest warm-up of each size, in seconds, whatever {@code warmup} says:
 *                     long enough for the JIT and, on a GPU, for the clocks a sustained load settles
 *                     at; the first size (and the serving call) warms up {@value #FIRST_WARMUP_FACTOR}
 *                     times as long; 0 leaves the {@code warmup} calls alone
 * @param baseline     whether to time the ND4J-composed baseline at each length
 * @param gemmSize     size of the sgemm ceiling's square product; 0 skips it
 * @param sgemmGflops  a known matrix rate to use as the ceiling instead of measuring one (for
 *                     device backends, whose rate ND4J on the host cannot measure); NaN measures
 * @param bandwidthGBs copy bandwidth (read plus written) for the memory floor; NaN measures it
 *                     in-run for host backends and leaves device backends without a floor
 */
public record BenchConfig(String backend, BackendOptions options, int batch, int heads, int keyDim, int valueDim,
                          int[] tokens, DType dtype, Precision precision, BenchCall call, Layout layout,
                          int warmup, double warmupSeconds, int repeats, boolean baseline, int gemmSize,
                          double sgemmGflops, double bandwidthGBs, long seed) {

    /** The first size's warm-up over the others': it also waits for the JIT's first compilation of the kernels. */
    public static final int FIRST_WARMUP_FACTOR = 5;

    public BenchConfig {
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(precision, "precision");
        Objects.requireNonNull(call, "call");
        Objects.requireNonNull(layout, "layout");
        if (tokens == null || tokens.length == 0) {
            throw new La2ArgumentException("--n", "no sequence lengths", "one or more lengths >= 1");
        }
        tokens = tokens.clone();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 1) {
                throw new La2ArgumentException("--n", String.valueOf(tokens[i]), "lengths >= 1");
            }
            for (int j = 0; j < i; j++) {
                // A length twice would be timed twice, the second time warm, and printed as two rows of one N.
                if (tokens[j] == tokens[i]) {
                    throw new La2ArgumentException("--n", tokens[i] + " twice", "distinct lengths");
                }
            }
        }
        if (precision != Precision.STRICT && dtype != DType.FP32) {
            // FP64 and 16-bit storage ignore the precision (see Precision): the row would name one it did not have.
            throw new La2ArgumentException("--precision", lower(precision) + " with --dtype " + lower(dtype),
                    "strict (the precision says how fp32 storage is multiplied; --dtype fp32 for tf32x3 or tf32)");
        }
        positive("--b", batch);
        positive("--h", heads);
        positive("--d", keyDim);
        positive("--e", valueDim);
        positive("--repeats", repeats);
        if (warmup < 0) {
            throw new La2ArgumentException("--warmup", String.valueOf(warmup), ">= 0");
        }
        if (!(warmupSeconds >= 0 && warmupSeconds < Double.POSITIVE_INFINITY)) {
            throw new La2ArgumentException("--warmup-s", String.valueOf(warmupSeconds),
                    "a finite number of seconds >= 0 (0 leaves the --warmup calls alone)");
        }
        if (!Double.isNaN(sgemmGflops) && !(sgemmGflops > 0 && sgemmGflops < Double.POSITIVE_INFINITY)) {
            throw new La2ArgumentException("--sgemm-gflops", String.valueOf(sgemmGflops), "a rate > 0");
        }
        if (!Double.isNaN(bandwidthGBs) && !(bandwidthGBs > 0 && bandwidthGBs < Double.POSITIVE_INFINITY)) {
            throw new La2ArgumentException("--bandwidth", String.valueOf(bandwidthGBs), "a rate > 0 in GB/s");
        }
        if (gemmSize < 0) {
            throw new La2ArgumentException("--gemm-size", String.valueOf(gemmSize), ">= 0 (0 skips the sgemm ceiling)");
        }
    }

    /** Shortest warm-up of a sweep's first size or the serving call ({@code first}), or of any other, in seconds. */
    public double warmupSeconds(boolean first) {
        return first ? FIRST_WARMUP_FACTOR * warmupSeconds : warmupSeconds;
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    private static void positive(String name, int value) {
        if (value < 1) {
            throw new La2ArgumentException(name, String.valueOf(value), ">= 1");
        }
    }
}
