package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Backend settings are read by key, and a bad one is refused naming the key, what it got and what it takes. */
class BackendOptionsTest {
    @Test
    void integerPropertiesAreReadWithinTheirRange() {
        BackendOptions o = BackendOptions.defaults().withProperty("x.size", " 64 ");
        assertThat(o.intProperty("x.size", 7, 1, 128)).isEqualTo(64);
        assertThat(o.intProperty("x.other", 7, 1, 128)).isEqualTo(7);
        assertThatThrownBy(() -> o.intProperty("x.size", 7, 1, 32)).isInstanceOf(La2ArgumentException.class)
                .hasMessageContaining("x.size=64").hasMessageContaining("an integer from 1 to 32")
                .satisfies(e -> assertThat(((La2ArgumentException) e).argument()).isEqualTo("properties"));
        BackendOptions typo = BackendOptions.defaults().withProperty("x.size", "6four");
        assertThatThrownBy(() -> typo.intProperty("x.size", 7, 1, 128)).isInstanceOf(La2ArgumentException.class)
                .hasMessageContaining("x.size='6four'");
    }

    @Test
    void booleanPropertiesTakeTrueOrFalseOnly() {
        assertThat(BackendOptions.defaults().withProperty("x.on", "TRUE").booleanProperty("x.on", false)).isTrue();
        assertThat(BackendOptions.defaults().withProperty("x.on", "false").booleanProperty("x.on", true)).isFalse();
        assertThat(BackendOptions.defaults().booleanProperty("x.on", true)).isTrue();
        assertThatThrownBy(() -> BackendOptions.defaults().withProperty("x.on", "yes").booleanProperty("x.on", true))
                .isInstanceOf(La2ArgumentException.class).hasMessageContaining("x.on='yes'").hasMessageContaining("true or false");
    }

    @Test
    void badCountsAndNullPropertiesAreNamed() {
        assertThatThrownBy(() -> new BackendOptions(-1, 0, Map.of())).isInstanceOf(La2ArgumentException.class).hasMessageContaining("threads");
        assertThatThrownBy(() -> new BackendOptions(0, -2, Map.of())).isInstanceOf(La2ArgumentException.class).hasMessageContaining("device");
        assertThatThrownBy(() -> new BackendOptions(0, 0, null)).isInstanceOf(La2ArgumentException.class).hasMessageContaining("properties");
    }
}
