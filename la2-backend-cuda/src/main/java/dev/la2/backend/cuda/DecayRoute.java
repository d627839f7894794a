package dev.la2.backend.cuda;

import dev.la2.api.DType;
import dev.la2.api.Precision;

/**
 * How a backward computes the decay gradient (Backward's class comment), and the choice between
 * the routes.
 *
 * <p>The identity behind {@link #SPLIT} and {@link #FP32_COPIES} is exact, but its two sums are
 * O(1) per token while the gradient is O(1 - lambda) per token: the rounding of the passes that
 * produce the sums, relative error {@code eps} per element, leaves an error of about
 *
 * <pre>eps * K(N, E) * (exp(s) - 1),   K(N, E) = 70 (max(N, 1024) / 1024)^0.45 sqrt(max(E, 128) / 128)</pre>
 *
 * (root mean square over inputs) in the SPEC's dDecay metric (SPEC.md section 3) for a head of
 * rate s over N tokens with E value features, D = 64 or 128 and the SPEC's input distribution;
 * single draws reach about three times that. {@code DecayRouteTest} checks the model against the identity evaluated
 * in double with injected rounding. Over several heads the slowest one sets the metric's scale, so
 * the call's slowest rate is what counts: ALiBi slopes (slowest 2^-8) stay far inside the
 * tolerance at any length, while a call whose every head forgets most of each token (s of a few
 * units, or the conformance kit's s > 66) would lose every digit. A route is taken only where
 * three times the model's error stays within the tolerance; otherwise the next more exact one.
 */
enum DecayRoute {
    /** No decay gradient wanted. */
    NONE,
    /** The identity's sums from the Hopper sweep's split products (16-bit storage, dense calls). */
    SPLIT,
    /** The identity's sums from 3xTF32 sweeps over fp32 copies of the operands. */
    FP32_COPIES,
    /**
     * The fourth sweep carrying T = -dS/ds, term by term; nothing cancels. In double, or on Hopper
     * warpgroups with 16-bit products for dense 16-bit calls at D = E = 128, where it also writes dq
     * (Backward takes it there before {@link #choose}).
     */
    DECAY_SWEEP;

    /**
     * Effective relative error of the split products' sums: the 16-bit hi + lo pairs keep about
     * 16 significant bits, and fp16's lo parts of small values fall into its subnormals. Set so
     * the model matches the worst of a bit-exact model of the split passes (per head, s >= 0.25,
     * N = 16384 to 65536: bf16 up to 7.2e-3, fp16 up to 8.7e-3), which agreed with the H200 on the
     * GPU tests' learnable case.
     */
    static final double SPLIT_EPSILON = 9e-5;
    /** The same for three TF32 products per fp32 product over fp32 copies: 5 more bits than split. */
    static final double COPIES_EPSILON = SPLIT_EPSILON / 32;

    /**
     * The identity's modelled dDecay error (class comment, root mean square) for a slowest rate, a
     * longest sequence and a value dimension.
     */
    static double identityError(double epsilon, double slowestRate, long tokens, int valueDim) {
        double k = 70 * Math.pow(Math.max(tokens, 1024) / 1024.0, 0.45) * Math.sqrt(Math.max(valueDim, 128) / 128.0);
        return epsilon * k * Math.expm1(slowestRate);
    }

    /**
     * SPEC.md section 3's tolerance where the identity may serve (16-bit storage, fp32 with
     * {@code TF32}), else 0: fp32's 1e-5 and fp64's 1e-10 always take the decay sweep.
     */
    static double identityTolerance(DType dtype, Precision precision) {
        return switch (dtype) {
            case BF16, FP16 -> 2e-2;
            case FP32 -> precision == Precision.TF32 ? 3e-3 : 0;
            case FP64 -> 0;
        };
    }

    /** What the kernels can do for one backward call with a decay gradient. */
    record Options(boolean splitAvailable, boolean copiesAvailable) {
    }

    /**
     * The route for a call of {@code dtype} and {@code precision} whose decay gradient is wanted,
     * whose slowest head has rate {@code slowestRate}, longest sequence {@code tokens} tokens and
     * values {@code valueDim} features.
     */
    static DecayRoute choose(DType dtype, Precision precision, Options can, double slowestRate, long tokens, int valueDim) {
        double tolerance = identityTolerance(dtype, precision);
        if (tolerance == 0) {
            return DECAY_SWEEP;
        }
        double bound = tolerance / 3;
        if (dtype != DType.FP32 && can.splitAvailable() && identityError(SPLIT_EPSILON, slowestRate, tokens, valueDim) <= bound) {
            return SPLIT;
        }
        if (can.copiesAvailable() && identityError(COPIES_EPSILON, slowestRate, tokens, valueDim) <= bound) {
            return FP32_COPIES;
        }
        return DECAY_SWEEP;
    }
}
