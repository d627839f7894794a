package dev.la2.backend.cpu;

import dev.la2.spi.AttentionShape;

/**
 * One task's share of one sequence: tokens [from, to) of sequence {@code seq} (b * heads + h),
 * inside segment {@code segment} of {@code plan}, with the decay powers of the sequence's head.
 * The sweeps take whole segments; the corrections take a few blocks at a time and read the
 * segment's bounds for their decay weights.
 */
record SegmentWork(AttentionShape shape, SegmentPlan plan, int seq, int segment, int from, int to,
                   DecayPowers powers) {

    /** All of segment {@code p} of sequence {@code seq}. */
    static SegmentWork whole(AttentionShape shape, SegmentPlan plan, int seq, int p, DecayPowers powers) {
        return new SegmentWork(shape, plan, seq, p, plan.start(p), plan.end(p), powers);
    }

    int segmentStart() {
        return plan.start(segment);
    }

    int segmentEnd() {
        return plan.end(segment);
    }
}
