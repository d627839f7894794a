package dev.la2.backend.cpu;

/**
 * How the fp32 path cuts sequences: {@code segments} pieces of {@code segmentLength} tokens each (a
 * multiple of the block size C), the last one possibly shorter. The cut depends only on the shape,
 * the block size and the thread count, so results are reproducible bit for bit.
 */
record SegmentPlan(int sequences, int tokens, int segments, int segmentLength) {

    /**
     * Whole blocks per segment: {@code segmentTokens} rounded up to blocks when it is set; else the
     * whole sequence when there are at least as many sequences as threads, and otherwise enough
     * segments that every thread gets one.
     */
    static SegmentPlan of(int sequences, int tokens, int block, int segmentTokens, int threads) {
        int c = block;
        int blocks = (tokens + c - 1) / c;
        int perSegment;
        if (segmentTokens > 0) {
            perSegment = Math.max(1, (segmentTokens + c - 1) / c);
        } else if (sequences >= threads) {
            perSegment = blocks;
        } else {
            int want = (threads + sequences - 1) / sequences;
            perSegment = (blocks + want - 1) / want;
        }
        int segments = (blocks + perSegment - 1) / perSegment;
        return new SegmentPlan(sequences, tokens, segments, perSegment * c);
    }

    int start(int p) {
        return p * segmentLength;
    }

    int end(int p) {
        return Math.min(tokens, (p + 1) * segmentLength);
    }
}
