package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code la2 demo} hands its arguments on, turning the demo's progress bar off where no one watches it. */
class DemoLauncherTest {

    @Test
    void aPipedOrLoggedDemoDrawsNoBar() {
        assertThat(DemoLauncher.demoArguments(List.of("--minutes", "1"), false))
                .containsExactly("--minutes", "1", "--no-progress");
        assertThat(DemoLauncher.demoArguments(List.of("--no-progress"), false)).containsExactly("--no-progress");
    }

    @Test
    void onATerminalTheArgumentsAreHandedOnAsGiven() {
        assertThat(DemoLauncher.demoArguments(List.of("--minutes", "1"), true)).containsExactly("--minutes", "1");
    }
}
