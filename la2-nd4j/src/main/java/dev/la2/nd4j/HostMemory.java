package dev.la2.nd4j;

import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * How host code may touch an INDArray's memory under the running ND4J backend. The adapter reads
 * and writes arrays through their host pointer ({@link Nd4jTensors#segment}): on ND4J's CPU backend
 * that is the array's only copy, on its CUDA backend it is a mirror that may lag behind the device's
 * copy, and ND4J uploads it again only when told it changed. Any other backend is refused rather
 * than read blindly.
 */
enum HostMemory {
    /** ND4J's native CPU backend: the host memory is the array. */
    RESIDENT,
    /**
     * ND4J's CUDA backend: the affinity manager brings the host copy up to date before host code
     * reads it (or writes part of its buffer), and is told afterwards that the host copy is the newer.
     */
    MIRRORED;

    static final String CPU_BACKEND = "org.nd4j.linalg.cpu.nativecpu.CpuBackend";
    static final String CUDA_BACKEND = "org.nd4j.linalg.jcublas.JCublasBackend";

    /** The policy for the ND4J backend this JVM runs. */
    static HostMemory current() {
        return forBackend(Nd4j.getBackend().getClass().getName());
    }

    /** @throws IllegalStateException naming the backend when la2 cannot reach its arrays safely */
    static HostMemory forBackend(String backendClass) {
        return switch (backendClass) {
            case CPU_BACKEND -> RESIDENT;
            case CUDA_BACKEND -> MIRRORED;
            default -> throw new IllegalStateException("la2-nd4j: ND4J backend " + backendClass
                    + " is not supported: la2 reaches INDArray memory through the host and knows how to keep it"
                    + " consistent only on ND4J's CPU backend (" + CPU_BACKEND + ", nd4j-native) and CUDA backend ("
                    + CUDA_BACKEND + ", nd4j-cuda)");
        };
    }

    /** Before host code reads {@code a}, or writes into it. */
    void toHost(INDArray a) {
        if (this == MIRRORED) {
            Nd4j.getAffinityManager().ensureLocation(a, AffinityManager.Location.HOST);
        }
    }

    /** After host code wrote {@code a}: ND4J's next device use uploads it. */
    void written(INDArray a) {
        if (this == MIRRORED) {
            Nd4j.getAffinityManager().tagLocation(a, AffinityManager.Location.HOST);
        }
    }
}
