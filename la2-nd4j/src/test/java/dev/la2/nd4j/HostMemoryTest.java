package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class HostMemoryTest {

    @Test
    void theCpuBackendsArraysAreReadInPlace() {
        assertThat(HostMemory.forBackend("org.nd4j.linalg.cpu.nativecpu.CpuBackend")).isEqualTo(HostMemory.RESIDENT);
        // The tests run on ND4J's CPU backend.
        assertThat(HostMemory.current()).isEqualTo(HostMemory.RESIDENT);
    }

    @Test
    void theCudaBackendsArraysAreSynchronised() {
        assertThat(HostMemory.forBackend("org.nd4j.linalg.jcublas.JCublasBackend")).isEqualTo(HostMemory.MIRRORED);
    }

    @Test
    void anyOtherBackendIsRefusedByName() {
        assertThatThrownBy(() -> HostMemory.forBackend("org.example.nd4j.FancyAcceleratorBackend"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("org.example.nd4j.FancyAcceleratorBackend")
                .hasMessageContaining("nd4j-native").hasMessageContaining("nd4j-cuda");
    }

    @Test
    void synchronisingGoesThroughTheAffinityManagerAndLeavesTheValues() {
        // On the CPU backend ND4J's affinity manager has nothing to move: the calls must be harmless.
        try (INDArray a = Nd4j.linspace(DataType.FLOAT, 1, 6, 1).reshape(2, 3)) {
            INDArray copy = a.dup();
            for (HostMemory policy : HostMemory.values()) {
                policy.toHost(a);
                Nd4jTensors.segment(a).set(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, 1f);
                policy.written(a);
            }
            assertThat(a.ravel().toFloatVector()).containsExactly(copy.ravel().toFloatVector());
        }
    }
}
