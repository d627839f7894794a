package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.DType;
import dev.la2.api.DeviceMemoryException;
import dev.la2.api.ForwardResult;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** A tensor that cannot be allocated fails clearly, and the backend keeps working for calls that fit. */
class AllocationFailureTest {

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.la2.reliability.Backends4Test#all")
    void unsatisfiableAllocationIsAClearErrorAndTheBackendCarriesOn(String backend) {
        long seed = Long.getLong("la2.seed", System.nanoTime());
        Calls.Spec s = Calls.Spec.random(new Random(seed), 50, 16);
        try (LightningAttention la = LightningAttention.open(backend); Calls.Uploaded up = new Calls.Uploaded(la, s)) {
            // 2^20 x 2^20 x 2^10 fp32 elements: 4 PiB, more than any host or device here has.
            Shape huge = Shape.of(1 << 20, 1 << 20, 1 << 10);
            for (int attempt = 0; attempt < 3; attempt++) {
                assertThatThrownBy(() -> la.allocate(DType.FP32, huge).close())
                        .as("backend %s", backend)
                        .isInstanceOf(DeviceMemoryException.class)
                        .hasMessageContaining("cannot allocate");
            }
            try (ForwardResult r = la.forward(up.inputs(), s.options())) {
                assertThat(Calls.relativeError(r.output().toFloatArray(), s.referenceOutput()))
                        .as("backend %s after failed allocations, seed %d", backend, seed).isLessThan(1e-4);
            }
        }
    }
}
