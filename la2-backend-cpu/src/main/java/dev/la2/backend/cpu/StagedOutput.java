package dev.la2.backend.cpu;

import dev.la2.api.DType;
import dev.la2.spi.AttentionShape;
import java.lang.foreign.MemorySegment;

/**
 * One output of a call cut into segments, with the rows of segments [first, last) of every
 * sequence staged in fp32 where the output stores 16 bits: those segments write partial rows that
 * the correction pass ({@link SegmentCorrections}) reads back, completes with the term of their true
 * incoming state and stores, so that every element is rounded to 16 bits once, from its final fp32
 * value, as in a sequence not cut (SPEC.md section 3). Stored in 16 bits, a partial sum beyond
 * FP16's 65504 would become infinity where the completed value fits, and every completed value
 * would be rounded twice. fp32 outputs hold partial sums exactly: they stage nothing.
 *
 * @param keyRows whether the output has q's rows (dq, dk: D wide) or v's (o, dv: E wide)
 * @param memory  the staged rows, sequence by sequence, segment by segment (null: none yet)
 */
record StagedOutput(TokenRows target, AttentionShape shape, SegmentPlan plan, boolean keyRows, int first, int last,
                    MemorySegment memory) {

    /** The output {@code target} with segments [first, last) to stage, its memory not yet given. */
    static StagedOutput of(TokenRows target, AttentionShape shape, SegmentPlan plan, boolean keyRows, int first,
                           int last) {
        return new StagedOutput(target, shape, plan, keyRows, first, last, null);
    }

    /** Bytes of fp32 rows it stages: none for fp32 storage or an empty range. */
    long bytes() {
        if (shape.dtype() == DType.FP32 || first >= last) {
            return 0;
        }
        return (long) Float.BYTES * shape.sequences() * stagedTokens() * width();
    }

    StagedOutput in(MemorySegment rows) {
        return new StagedOutput(target, shape, plan, keyRows, first, last, rows);
    }

    /** The rows segment {@code p} of sequence {@code seq} writes: staged ones, or the output's own. */
    TokenRows rows(int seq, int p) {
        if (memory == null || p < first || p >= last) {
            return target;
        }
        int b = seq / shape.heads(), h = seq % shape.heads(), start = plan.start(p);
        long origin = keyRows ? shape.keyRow(b, h, start) : shape.valueRow(b, h, start);
        long at = (long) Float.BYTES * width() * ((long) seq * stagedTokens() + start - plan.start(first));
        return new StagedRows(memory.asSlice(at, (long) Float.BYTES * width() * (plan.end(p) - start)), origin);
    }

    private int width() {
        return keyRows ? shape.keyDim() : shape.valueDim();
    }

    private int stagedTokens() {
        return plan.end(last - 1) - plan.start(first);
    }
}
