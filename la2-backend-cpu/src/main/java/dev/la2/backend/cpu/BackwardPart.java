package dev.la2.backend.cpu;

import dev.la2.spi.BackwardCall;

/**
 * One dense call among those {@link TiledBackward} runs together: its tensors, how its sequences
 * are cut ({@link SegmentPlan}), whether its decay gradient is wanted, and the block states its
 * forward kept (null: recompute them).
 */
record BackwardPart(BackwardCall call, SegmentPlan plan, boolean wantDecay, BlockStates kept) {
}
