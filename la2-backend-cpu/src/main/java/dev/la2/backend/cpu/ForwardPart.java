package dev.la2.backend.cpu;

import dev.la2.spi.ForwardCall;
import java.util.Arrays;

/**
 * One dense call among those {@link TiledForward} runs together: its tensors, how its sequences
 * are cut ({@link SegmentPlan}), and where its block states go (null: not kept).
 */
record ForwardPart(ForwardCall call, SegmentPlan plan, BlockStates keep) {

    /** The part whose tasks include {@code task}, given each part's first task (and the total last). */
    static int owner(int[] first, int task) {
        int i = Arrays.binarySearch(first, task);
        if (i < 0) {
            return -i - 2;
        }
        // Parts without tasks share their first index with the next: take the last part starting here.
        while (i + 1 < first.length - 1 && first[i + 1] == task) {
            i++;
        }
        return i;
    }
}
