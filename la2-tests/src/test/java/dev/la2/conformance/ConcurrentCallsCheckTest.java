package dev.la2.conformance;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.BackendOptions;
import dev.la2.api.LightningAttention;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The concurrent family's failures: what a call that throws on a worker thread turns into. */
class ConcurrentCallsCheckTest {

    @Test
    void aCallThatThrowsFailsTheCaseWithItsExceptionAsTheCause() {
        BackendOptions refusing = BackendOptions.defaults()
                .withProperty(FaultyProvider.BUG, FaultyProvider.Bug.REFUSES_OVERLAPPING_CALLS.name());
        try (LightningAttention la = LightningAttention.open(FaultyProvider.NAME, refusing)) {
            Configuration cfg = Configuration.of(la).getFirst();
            assertThatThrownBy(() -> new ConcurrentCallsCheck(la).concurrent(cfg, ConcurrentCallsCheck.SCHEDULE,
                    new SplittableRandom(1), "the context"))
                    .isInstanceOf(AssertionError.class)
                    .hasMessageStartingWith("the context thread ")
                    .hasMessageContaining(": the backend threw java.lang.IllegalStateException: faulty: ")
                    .cause().isInstanceOf(IllegalStateException.class).hasMessageContaining("in use by another call");
        }
    }
}
