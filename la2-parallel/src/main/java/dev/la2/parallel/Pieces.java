package dev.la2.parallel;

/**
 * Where each rank's piece lies in the whole sequence: rank r holds tokens {@code start(r)} to
 * {@code end(r) - 1}.
 *
 * @param starts P+1 token offsets, from 0 to the sequence's length
 */
record Pieces(long[] starts) {

    static Pieces of(long[] lengths) {
        long[] starts = new long[lengths.length + 1];
        for (int r = 0; r < lengths.length; r++) {
            starts[r + 1] = starts[r] + lengths[r];
        }
        return new Pieces(starts);
    }

    int ranks() {
        return starts.length - 1;
    }

    long start(int rank) {
        return starts[rank];
    }

    long end(int rank) {
        return starts[rank + 1];
    }

    long total() {
        return starts[starts.length - 1];
    }
}
