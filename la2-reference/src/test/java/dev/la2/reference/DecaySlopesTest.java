package dev.la2.reference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.DecaySlopes;
import dev.la2.api.La2ArgumentException;
import org.junit.jupiter.api.Test;

/** SPEC.md section 4: the ALiBi slopes the paper's models use. */
class DecaySlopesTest {

    @Test
    void powerOfTwoHeadsGetTwoToTheMinusEightHOverH() {
        // H = 8: s_h = 2^(-8 (h+1) / 8) = 2^-1 .. 2^-8, exactly representable.
        assertThat(DecaySlopes.alibi(8)).containsExactly(
                0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625);
    }

    @Test
    void otherHeadCountsTakeTheLowerPowerThenEveryOtherOfTheNext() {
        // H = 6: the 4 slopes of H = 4 (2^-2, 2^-4, 2^-6, 2^-8), then slopes 0 and 2 of H = 8 (2^-1, 2^-3).
        assertThat(DecaySlopes.alibi(6)).containsExactly(0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125);
        // H = 3: the slopes of H = 2 (2^-4, 2^-8), then slope 0 of H = 4 (2^-2).
        assertThat(DecaySlopes.alibi(3)).containsExactly(0.0625, 0.00390625, 0.25);
        assertThat(DecaySlopes.alibi(1)).containsExactly(0.00390625);
    }

    @Test
    void layerScaleMultipliesEveryRate() {
        assertThat(DecaySlopes.alibi(2, 0.5)).containsExactly(0.03125, 0.001953125);
        assertThat(DecaySlopes.alibi(4, 0.0)).containsOnly(0.0);
    }

    @Test
    void badArgumentsAreNamed() {
        assertThatThrownBy(() -> DecaySlopes.alibi(0)).isInstanceOf(La2ArgumentException.class)
                .extracting(e -> ((La2ArgumentException) e).argument()).isEqualTo("heads");
        assertThatThrownBy(() -> DecaySlopes.alibi(4, Double.NaN)).isInstanceOf(La2ArgumentException.class)
                .extracting(e -> ((La2ArgumentException) e).argument()).isEqualTo("layerScale");
        assertThatThrownBy(() -> DecaySlopes.alibi(4, -1)).isInstanceOf(La2ArgumentException.class)
                .extracting(e -> ((La2ArgumentException) e).argument()).isEqualTo("layerScale");
    }
}
