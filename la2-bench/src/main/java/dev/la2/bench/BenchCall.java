package dev.la2.bench;

import dev.la2.api.La2ArgumentException;

/**
 * Which call a {@link LengthSweep} times at each length, beyond its shape and types: the forward
 * alone or forward+backward, and what the call is asked for. Checked on construction, naming the
 * {@code la2 bench} option at fault.
 *
 * @param backward   forward+backward (mode fwdbwd) rather than the forward alone (fwd)
 * @param keepStates fwdbwd: the forward keeps its block states for the backward
 *                   ({@code AttentionOptions.saveForBackward}, where the backend keeps them)
 * @param learnDecay fwdbwd: the decay is learnable, so the backward also computes its gradient
 *                   ({@code AttentionOptions.learnableDecay}, {@code Gradients.dDecay})
 * @param finalState the forward also writes the final state [B, H, D, E]; off by default, as in a
 *                   training step that carries no state on and as CudaBench and the peers it is
 *                   compared with time it
 */
public record BenchCall(boolean backward, boolean keepStates, boolean learnDecay, boolean finalState) {
    public BenchCall {
        if (learnDecay && !backward) {
            throw new La2ArgumentException("--learn-decay", "set for the forward alone",
                    "--mode fwdbwd (the decay gradient is computed by the backward)");
        }
    }

    /** The forward alone, without the final state. */
    public static BenchCall forward() {
        return new BenchCall(false, false, false, false);
    }

    /** Forward+backward with a fixed decay, without the final state. */
    public static BenchCall forwardBackward(boolean keepStates) {
        return new BenchCall(true, keepStates, false, false);
    }

    public String mode() {
        return backward ? "fwdbwd" : "fwd";
    }

    /** How the backward gets the forward's block states, for headers; empty for the forward alone. */
    public String statesNote() {
        return !backward ? "" : keepStates ? "states kept by the forward where the backend keeps them"
                : "states recomputed by the backward";
    }

    /** The call in words for headers: the mode, then what it is asked for. */
    public String description() {
        return mode() + " (" + (backward ? statesNote() + ", " : "") + (learnDecay ? "learnable decay" : "fixed decay")
                + ", " + (finalState ? "with" : "without") + " the final state)";
    }
}
