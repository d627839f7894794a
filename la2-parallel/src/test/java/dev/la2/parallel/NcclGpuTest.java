package dev.la2.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * One rank (P = 1) through NCCL on the cuda backend equals one plain call (and the float64
 * reference): the states, the arguments' agreement and the decay gradient's sum all go through
 * NCCL on the backend's stream. Skipped, with the reason, without NCCL or a usable GPU.
 */
class NcclGpuTest {

    @Test
    void oneRankThroughNcclEqualsOneCall() {
        Optional<String> noNccl = NcclCommunicator.unavailableReason();
        assumeTrue(noNccl.isEmpty(), () -> "NCCL unavailable: " + noNccl.orElseThrow());
        LightningAttention cuda = SplitRun.cudaOrSkip();
        try (cuda; NcclCommunicator comm = NcclCommunicator.create(cuda, 0, 1, NcclCommunicator.uniqueId())) {
            double[] facts = {1.5, -2, 1e300, 7};
            assertThat(comm.allGather(facts)).containsExactly(facts);
            for (SplitCase c : List.of(
                    new SplitCase(DType.FP32, Layout.BHND, new int[] {300}, true, true, true),
                    new SplitCase(DType.BF16, Layout.BNHD, new int[] {200}, false, true, true))) {
                try (SplitRun run = new SplitRun(cuda, c, ThreadLocalRandom.current().nextLong())) {
                    run.assertPiecesEqualOneCall(List.of(comm));
                }
            }
        }
    }

    @Test
    void reasonNamesTheLibraryWhenAbsent() {
        NcclCommunicator.unavailableReason().ifPresent(reason -> assertThat(reason).containsAnyOf("libnccl", "la2-backend-cuda"));
    }
}
