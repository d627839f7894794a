package dev.la2.nd4j;

import dev.la2.api.SequenceOffsets;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A [minibatch, T] mask seen as packed sequences (SPEC.md section 8) over the token-major rows:
 * example b is three sequences, its leading padding (the masked steps before its first valid one),
 * its span (first to last valid step) and its trailing padding. The span then starts from the
 * example's initial state and ends with its final state, exactly as the unpadded sequence would;
 * the padding sequences start from zero and their states are dropped, so padding neither ages nor
 * changes the carried state. A masked step inside the span (a hole) stays in it, so it ages the
 * state by one step of decay. Each example's split depends on its own mask row only.
 */
final class MaskSegments {
    private static final int PER_EXAMPLE = 3;

    private final SequenceOffsets offsets;
    private final int batch;

    private MaskSegments(SequenceOffsets offsets, int batch) {
        this.offsets = offsets;
        this.batch = batch;
    }

    /** The segments of a mask, or null when there is no mask. */
    static MaskSegments of(INDArray mask) {
        if (mask == null) {
            return null;
        }
        double[][] m = mask.castTo(DataType.DOUBLE).toDoubleMatrix();
        int steps = m[0].length;
        int[] offsets = new int[m.length * PER_EXAMPLE + 1];
        for (int b = 0; b < m.length; b++) {
            int start = 0;
            while (start < steps && m[b][start] == 0) {
                start++;
            }
            int end = steps;
            while (end > start && m[b][end - 1] == 0) {
                end--;
            }
            int base = b * steps;
            offsets[b * PER_EXAMPLE + 1] = base + start;
            offsets[b * PER_EXAMPLE + 2] = base + end;
            offsets[b * PER_EXAMPLE + 3] = base + steps;
        }
        return new MaskSegments(new SequenceOffsets(offsets), m.length);
    }

    SequenceOffsets offsets() {
        return offsets;
    }

    /** The shape [3*minibatch, H, D, E] of the packed call's states, from the examples' [minibatch, H, D, E]. */
    long[] packedStateShape(long[] perExample) {
        long[] s = perExample.clone();
        s[0] = (long) batch * PER_EXAMPLE;
        return s;
    }

    /** The packed initial states: each example's in its valid sequence, zero for the padding; null stays null. */
    INDArray pack(INDArray initialState) {
        if (initialState == null) {
            return null;
        }
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray packed = Nd4j.zeros(initialState.dataType(), packedStateShape(initialState.shape()));
            valid(packed).assign(initialState);
            return packed;
        }
    }

    /** The rows of the valid sequences in packed states [3*minibatch, ...], as a view. */
    INDArray valid(INDArray packed) {
        return packed.get(NDArrayIndex.interval(1, PER_EXAMPLE, packed.size(0)), NDArrayIndex.all(),
                NDArrayIndex.all(), NDArrayIndex.all());
    }
}
