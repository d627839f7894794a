package dev.la2.parallel;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.La2ArgumentException;
import dev.la2.api.Precision;
import dev.la2.api.Tensor;
import java.util.Arrays;

/**
 * One rank's forward result; closing it closes its tensors (those present). It also remembers the
 * decay rates, scale and precision the forward ran with: {@link SequenceParallel#backward} refuses
 * it for a piece or options that differ, since its incoming state was computed with them.
 */
public final class PieceForward implements AutoCloseable {
    private final Tensor output;
    private final Tensor finalState;
    private final Tensor incomingState;
    private final double[] rates;
    private final DType rateType;
    private final double scale;
    private final Precision precision;

    PieceForward(Tensor output, Tensor finalState, Tensor incomingState, double[] rates, DType rateType,
                 AttentionOptions options) {
        this.output = output;
        this.finalState = finalState;
        this.incomingState = incomingState;
        this.rates = rates.clone();
        this.rateType = rateType;
        this.scale = options.scale();
        this.precision = options.precision();
    }

    /** This rank's piece of the output, in the inputs' layout and dtype. */
    public Tensor output() {
        return output;
    }

    /** [B, H, D, E], the whole sequence's final state: on the last rank when the options ask for it, null elsewhere. */
    public Tensor finalState() {
        return finalState;
    }

    /**
     * [B, H, D, E], the state entering this rank's piece (S_in, SPEC.md section 9), which
     * {@link SequenceParallel#backward} needs; null on rank 0, whose incoming state is the
     * sequence's initial state.
     */
    public Tensor incomingState() {
        return incomingState;
    }

    /** Why a backward with these rates and options may not use this result, or null when it may. */
    La2ArgumentException mismatch(double[] backwardRates, AttentionOptions options) {
        // Scales are finite, so == is exact and takes -0.0 for the 0.0 it computes the same as.
        if (scale != options.scale() || precision != options.precision()) {
            return new La2ArgumentException("forward", "a result of scale " + scale + " and precision " + precision,
                    "scale " + options.scale() + " and precision " + options.precision() + " as in options");
        }
        if (backwardRates.length != rates.length) {
            return new La2ArgumentException("forward", "a result of " + rates.length + " heads",
                    backwardRates.length + " heads as in piece.decay(): the result of the forward call on this piece");
        }
        int h = PieceCheck.firstDifferentRate(rates, backwardRates, 0, rates.length);
        return h < 0 ? null : new La2ArgumentException("forward", "a result of decay rate "
                + PieceCheck.rate(rates[h], rateType) + " for head " + h, PieceCheck.rate(backwardRates[h], rateType)
                + " as in piece.decay(): the rates of the forward call, unchanged since");
    }

    @Override
    public void close() {
        output.close();
        if (finalState != null) {
            finalState.close();
        }
        if (incomingState != null) {
            incomingState.close();
        }
    }

    @Override
    public String toString() {
        return "PieceForward[output=" + output + ", finalState=" + finalState + ", incomingState=" + incomingState
                + ", rates=" + Arrays.toString(rates) + ", scale=" + scale + ", precision=" + precision + "]";
    }
}
