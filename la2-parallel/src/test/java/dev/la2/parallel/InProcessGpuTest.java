package dev.la2.parallel;


import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * P = 2, 3 and 5 in-process ranks (threads of this JVM) on the cuda backend equal one call over
 * the whole sequence, forward and backward, as SequenceParallelTest checks on the host backends:
 * the ranks share one GPU, each passing its piece as device tensors. Skipped, with the reason,
 * without a usable GPU.
 */
class InProcessGpuTest {

    @Test
    void inProcessRanksOnTheGpuEqualOneCall() {
        LightningAttention cuda = SplitRun.cudaOrSkip();
        try (cuda) {
            for (SplitCase c : List.of(
                    new SplitCase(DType.FP32, Layout.BHND, new int[] {700, 590}, true, true, true),
                    new SplitCase(DType.BF16, Layout.BNHD, new int[] {1, 640, 37}, true, true, true),
                    new SplitCase(DType.FP16, Layout.BHND, new int[] {330, 1, 650, 70, 200}, false, true, true))) {
                try (SplitRun run = new SplitRun(cuda, c, ThreadLocalRandom.current().nextLong())) {
                    run.assertPiecesEqualOneCall(new InProcessGroup(c.lengths().length).communicators());
                }
            }
        }
    }
}
