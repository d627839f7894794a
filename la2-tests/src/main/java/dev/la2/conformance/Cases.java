package dev.la2.conformance;

import static dev.la2.api.Layout.BHND;
import static dev.la2.api.Layout.BNHD;
import static dev.la2.conformance.Case.Decay.ALIBI;
import static dev.la2.conformance.Case.Decay.FAST;
import static dev.la2.conformance.Case.Decay.MIXED;
import static dev.la2.conformance.Case.Decay.STRONG;

import dev.la2.api.Layout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The sizes the kit runs. Fixed cases sit on and around the block boundaries a tiled backend is
 * likely to use (64, 128, 256 tokens; 1, 3, 64, 128, 256 features) with prime head counts; random
 * cases, drawn from the run's seed, cover what the fixed ones miss. Work per case is kept small
 * enough that the float64 reference backend itself can run the whole kit as part of a build.
 */
final class Cases {
    /** Feature widths to draw from: tails of 4-, 8- and 16-lane vectors and of 64-wide tiles. */
    private static final int[] WIDTHS = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128,
        129, 200, 255, 256};
    private static final int[] PRIME_HEADS = {3, 5, 7};
    /** Rough ceiling on B*H*N*D*E for a random case, so the float64 reference stays quick on it. */
    private static final long RANDOM_WORK = 40_000_000L;

    /** Worker threads of the instance that runs {@link #manyThreads()}: more than those cases have sequences. */
    static final int MANY_THREADS = 8;

    private Cases() {
    }

    static List<Case> forward(SplittableRandom rng) {
        List<Case> cases = new ArrayList<>(List.of(
                Case.of(1, 3, 1, 3, 5, BHND, 1.0, MIXED, true),
                Case.of(2, 5, 2, 1, 1, BNHD, 0.5, MIXED, false),
                Case.of(4, 7, 37, 1, 1, BHND, 1.0, ALIBI, true),
                Case.of(1, 7, 63, 64, 64, BHND, 0.125, ALIBI, false),
                Case.of(2, 3, 64, 17, 9, BNHD, 1.0, MIXED, true),
                Case.of(3, 5, 65, 128, 32, BHND, 0.0884, MIXED, false).withoutFinalState(),
                Case.of(1, 3, 127, 31, 64, BNHD, 1.0, ALIBI, true),
                Case.of(4, 3, 128, 8, 16, BNHD, 2.0, MIXED, false),
                Case.of(1, 5, 129, 256, 3, BHND, 1.0, MIXED, true),
                Case.of(2, 3, 255, 3, 256, BHND, 0.7, MIXED, false),
                Case.of(1, 7, 256, 64, 128, BNHD, 1.0, ALIBI, true).withoutFinalState(),
                Case.of(2, 5, 257, 33, 65, BHND, 1.0, MIXED, true),
                Case.of(1, 3, 100, 256, 256, BNHD, 0.0625, MIXED, true),
                // token-major with B > 1 at the widths fast kernels take: the batch stride is N*H*F there
                Case.of(2, 3, 130, 64, 64, BNHD, 0.125, MIXED, true),
                // SPEC.md section 1: any finite scale, 0 and negative ones included
                Case.of(2, 3, 70, 16, 24, BHND, 0.0, MIXED, true),
                Case.of(1, 5, 129, 128, 128, BNHD, -0.75, MIXED, true)));
        // Long sequences: one within the fp32 bound's 4096 tokens, one beyond it.
        cases.add(Case.of(1 + rng.nextInt(2), 3, 1000 + rng.nextInt(3097), 1 + rng.nextInt(64), 1 + rng.nextInt(64),
                layout(rng), scale(rng), MIXED, rng.nextBoolean()));
        cases.add(Case.of(1, PRIME_HEADS[rng.nextInt(2)], 4097 + rng.nextInt(904), 1 + rng.nextInt(64),
                1 + rng.nextInt(64), layout(rng), scale(rng), ALIBI, rng.nextBoolean()));
        for (int i = 0; i < 6; i++) {
            cases.add(random(rng, 300));
        }
        return cases;
    }

    static List<Case> backward(SplittableRandom rng) {
        List<Case> cases = new ArrayList<>(List.of(
                Case.of(1, 3, 1, 3, 5, BNHD, 1.0, MIXED, true).withGradients(true, true),
                Case.of(2, 3, 65, 17, 9, BHND, 0.5, MIXED, false).withGradients(false, false),
                Case.of(1, 5, 130, 64, 32, BNHD, 1.0, ALIBI, true).withGradients(true, true),
                Case.of(2, 7, 257, 5, 128, BHND, 1.0, MIXED, false).withGradients(true, true),
                Case.of(1, 3, 64, 128, 64, BHND, 0.125, MIXED, true).withGradients(false, true),
                Case.of(3, 5, 129, 1, 7, BNHD, 1.5, MIXED, true).withGradients(true, false),
                // a learnable decay at D = E = 128 over many chunks: the sums behind the decay
                // gradient grow with N and cancel, and tensor-core backends run them on other kernels
                Case.of(1, 3, 1000, 128, 128, BNHD, 1.0, ALIBI, true).withGradients(true, true),
                Case.of(1, 3, 70, 5, 7, BHND, 0.8, FAST, true).withGradients(true, true),
                Case.of(1, 2, 1000, 128, 128, BHND, 1.0, STRONG, true).withGradients(true, true),
                // a fixed decay at D = E = 128 over a partial last chunk: tensor-core backends route
                // such backwards apart from learnable ones
                Case.of(2, 3, 300, 128, 128, BNHD, 1.0, MIXED, true).withGradients(true, false),
                Case.of(2, 3, 130, 128, 64, BNHD, 0.25, MIXED, true).withGradients(true, true),
                Case.of(1, 3, 70, 16, 8, BHND, 0.0, MIXED, true).withGradients(true, true),
                Case.of(2, 3, 130, 128, 128, BNHD, -0.5, MIXED, true).withGradients(true, true)));
        Case longer = Case.of(1 + rng.nextInt(2), PRIME_HEADS[rng.nextInt(3)], 300 + rng.nextInt(1200),
                1 + rng.nextInt(64), 1 + rng.nextInt(64), layout(rng), scale(rng), MIXED, rng.nextBoolean());
        cases.add(longer.withGradients(rng.nextBoolean(), true));
        for (int i = 0; i < 3; i++) {
            cases.add(random(rng, 200).withGradients(rng.nextBoolean(), rng.nextBoolean()));
        }
        return cases;
    }

    static List<Case> chaining(SplittableRandom rng) {
        List<Case> cases = new ArrayList<>(List.of(
                Case.of(2, 3, 130, 16, 8, BNHD, 1.0, MIXED, true).withGradients(true, true).withSplit(64),
                Case.of(1, 3, 2, 3, 5, BHND, 0.5, MIXED, false).withGradients(false, true).withSplit(1)));
        for (int i = 0; i < 3; i++) {
            Case c = random(rng, 600);
            int n = Math.max(2, c.tokens());
            cases.add(c.withTokens(n, rng.nextBoolean()).withGradients(rng.nextBoolean(), rng.nextBoolean())
                    .withSplit(1 + rng.nextInt(n - 1)));
        }
        return cases;
    }

    static List<Case> decode(SplittableRandom rng) {
        return List.of(
                Case.of(2, 3, 9, 5, 7, BHND, 0.8, MIXED, true),
                Case.of(1, 5, 17, 64, 64, BHND, 1.0, ALIBI, false),
                Case.of(2, 3, 6, 128, 128, BNHD, 0.0884, MIXED, true),
                Case.of(1, 3, 1, 1, 3, BHND, 2.0, MIXED, true),
                Case.of(2, 3, 5, 64, 64, BNHD, -1.5, MIXED, true),
                Case.of(1, 3, 4, 8, 8, BHND, 0.0, MIXED, true),
                Case.of(1 + rng.nextInt(3), PRIME_HEADS[rng.nextInt(3)], 1 + rng.nextInt(12), WIDTHS[rng.nextInt(WIDTHS.length)],
                        WIDTHS[rng.nextInt(WIDTHS.length)], BHND, scale(rng), MIXED, rng.nextBoolean()));
    }

    /**
     * One and two sequences (B*H) of several blocks with slow ALiBi rates (2^-8 for H = 1; 2^-4 and
     * 2^-8 for H = 2), for {@link #MANY_THREADS} threads; gradients with dFinalState and a learnable decay.
     */
    static List<Case> manyThreads() {
        return List.of(Case.of(1, 1, 400, 16, 24, BNHD, 0.5, ALIBI, true).withGradients(true, true),
                Case.of(1, 2, 200, 8, 12, BHND, 1.0, ALIBI, true).withGradients(true, true));
    }

    /** Up to {@code maxTokens} tokens, widths anywhere in 1..256, work capped by {@link #RANDOM_WORK}. */
    private static Case random(SplittableRandom rng, int maxTokens) {
        int d = WIDTHS[rng.nextInt(WIDTHS.length)];
        int e = WIDTHS[rng.nextInt(WIDTHS.length)];
        int b = 1 + rng.nextInt(4);
        int h = PRIME_HEADS[rng.nextInt(3)];
        int n = 1 + rng.nextInt(maxTokens);
        long perToken = (long) b * h * d * e;
        if (perToken * n > RANDOM_WORK) {
            b = 1;
            h = 3;
            n = (int) Math.max(1, Math.min(n, RANDOM_WORK / (3L * d * e)));
        }
        return Case.of(b, h, n, d, e, layout(rng), scale(rng), rng.nextBoolean() ? MIXED : ALIBI, rng.nextBoolean());
    }

    private static Layout layout(SplittableRandom rng) {
        return rng.nextBoolean() ? BHND : BNHD;
    }

    /** A scale away from 1, as 1/sqrt(D) and friends are in practice. */
    private static double scale(SplittableRandom rng) {
        return 0.05 + 1.95 * rng.nextDouble();
    }
}
