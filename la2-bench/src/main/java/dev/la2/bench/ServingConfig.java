package dev.la2.bench;

import dev.la2.api.La2ArgumentException;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * What a {@link ServingBench} runs: {@code base} gives the backend, H, D, E, the storage type, the
 * warm-up, repeats, seed and bandwidth ({@code base}'s B, N, layout and baseline do not apply);
 * {@code sequences} is S; the packed modes draw each length uniformly from 1 to {@code maxLength}.
 */
public record ServingConfig(BenchConfig base, ServingMode mode, int sequences, int maxLength) {

    /**
     * Seed of the sequence lengths and the slot permutation: fixed, so that every run and every
     * machine times the same batch whatever {@code --seed} draws for the values.
     */
    public static final long LAYOUT_SEED = 19;

    public ServingConfig {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(mode, "mode");
        if (sequences < 1) {
            throw new La2ArgumentException("--sequences", String.valueOf(sequences), ">= 1");
        }
        if (maxLength < 1) {
            throw new La2ArgumentException("--max-len", String.valueOf(maxLength), ">= 1");
        }
        if (mode.packed() && (long) sequences * maxLength > Integer.MAX_VALUE) {
            throw new La2ArgumentException("--max-len", String.valueOf(maxLength),
                    "at most " + Integer.MAX_VALUE / sequences + " at S = " + sequences + " (T must fit an int)");
        }
    }

    /** The S sequence lengths of the packed modes, uniform in 1..maxLength from {@link #LAYOUT_SEED}. */
    public int[] lengths() {
        SplittableRandom random = new SplittableRandom(LAYOUT_SEED);
        int[] lengths = new int[sequences];
        for (int i = 0; i < sequences; i++) {
            lengths[i] = 1 + random.nextInt(maxLength);
        }
        return lengths;
    }

    /** The slot-decode mode's slots: a permutation of the pool's S slots, from {@link #LAYOUT_SEED}. */
    public int[] slots() {
        SplittableRandom random = new SplittableRandom(LAYOUT_SEED);
        int[] slots = new int[sequences];
        for (int i = 0; i < sequences; i++) {
            slots[i] = i;
        }
        for (int i = sequences - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = slots[i];
            slots[i] = slots[j];
            slots[j] = t;
        }
        return slots;
    }
}
