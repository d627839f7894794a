package dev.la2.conformance;

import java.util.List;
import java.util.SplittableRandom;

/**
 * The sizes of the packed and slot cases: lengths 0, 1, C-1, C, C+1 (C = 64, the block of most
 * backends) and random ones up to 5000 mixed in one call, prime H, D != E. Long sequences get
 * small D and E so that the float64 reference stays quick; the D = E = 128 cases, with sequences
 * of up to about 1000 tokens, reach the kernels a backend keeps for its widest heads (the tensor-core
 * passes of a GPU backend, which end sequences inside their tiles).
 */
final class PackedCases {
    private PackedCases() {
    }

    static List<PackedCase> forward(SplittableRandom rng) {
        int[] many = new int[40];
        for (int i = 0; i < many.length; i++) {
            many[i] = rng.nextInt(51);
        }
        return List.of(
                PackedCase.of(3, 5, 7, 1.0, true, 0, 1, 63, 64, 65, 0, 1 + rng.nextInt(5000), 1 + rng.nextInt(5000)),
                PackedCase.of(5, 16, 8, 0.5, false, 1, 64, 65, 0, 130),
                PackedCase.of(2, 64, 32, 0.125, true, 200, 0, 17),
                PackedCase.of(7, 3, 2, 1.0, true, many),
                PackedCase.of(2, 128, 128, 0.0884, true, 0, 65, 1, 64, 63, 130 + rng.nextInt(900), 2));
    }

    static List<PackedCase> backward(SplittableRandom rng) {
        return List.of(
                PackedCase.of(3, 6, 4, 1.0, true, 0, 1, 63, 64, 65, 1 + rng.nextInt(300)).withGradients(true, true),
                PackedCase.of(5, 8, 16, 0.5, false, 2, 0, 130).withGradients(false, true),
                PackedCase.of(2, 4, 3, 1.0, true, 1 + rng.nextInt(2000), 3).withGradients(true, false),
                PackedCase.of(2, 128, 128, 1.0, true, 65, 0, 1 + rng.nextInt(700), 64, 1).withGradients(true, false),
                PackedCase.of(1, 128, 128, 0.5, false, 130, 7, 300 + rng.nextInt(300)).withGradients(false, true));
    }

    static List<PackedCase> pooled(SplittableRandom rng) {
        return List.of(
                PackedCase.of(3, 5, 7, 1.0, false, 5, 0, 64, 65, 1, 130),
                PackedCase.of(5, 16, 8, 0.5, false, 1 + rng.nextInt(2000), 1, 63),
                PackedCase.of(2, 128, 128, 1.0, false, 70, 0, 129));
    }

    /** One long sequence beside short ones, which a CPU backend may cut between its threads. */
    static List<PackedCase> manyThreads(SplittableRandom rng) {
        return List.of(PackedCase.of(3, 8, 6, 1.0, true, 5, 300 + rng.nextInt(200), 0, 40).withGradients(true, true));
    }

    static List<PackedCase> pieces() {
        return List.of(PackedCase.of(3, 6, 5, 1.0, false, 10, 64, 130, 2, 0));
    }

    static List<PackedCase> pooledBackward() {
        return List.of(PackedCase.of(3, 6, 4, 1.0, false, 0, 5, 64, 70).withGradients(true, true));
    }

    static List<PackedCase> decode() {
        return List.of(PackedCase.of(3, 8, 6, 1.0, false, 9, 9, 9, 9), PackedCase.of(2, 128, 128, 1.0, false, 5, 5, 5));
    }

    static List<PackedCase> draft() {
        return List.of(PackedCase.of(5, 8, 4, 0.7, false, 4, 4, 4, 4, 4), PackedCase.of(3, 16, 16, 1.0, false, 1, 1, 1));
    }
}
