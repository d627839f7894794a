package dev.la2.parallel;

/**
 * The combination rule of SPEC.md section 9, in float64 on the host: a weighted sum of the ranks'
 * gathered states, each weighted per head by lambda_h to the number of tokens between the two
 * pieces ({@code exp(-s_h m)}, never a repeated product, as SPEC.md section 3 asks).
 */
final class StateCombination {
    private StateCombination() {
    }

    /**
     * S_in(r) = sum over j &lt; r of lambda^(start(r) - end(j)) C_j: the state entering rank r's piece,
     * where C_0 is rank 0's final state (from the sequence's initial state) and C_j, j &gt; 0, the
     * final state of piece j from a zero state.
     */
    static double[] incoming(double[] gathered, Pieces pieces, int rank, double[] decay, PieceShape shape) {
        long[] gaps = new long[pieces.ranks()];
        for (int j = 0; j < gaps.length; j++) {
            gaps[j] = j < rank ? pieces.start(rank) - pieces.end(j) : -1;
        }
        return combine(gathered, gaps, decay, shape);
    }

    /**
     * dS_out(r) = sum over j &gt; r of lambda^(start(j) - end(r)) D_j: the gradient of the state leaving
     * rank r's piece, where D_j is the gradient of piece j's initial state with no final-state
     * gradient, except for the last rank's, which includes the sequence's dFinalState.
     */
    static double[] outgoingGradient(double[] gathered, Pieces pieces, int rank, double[] decay, PieceShape shape) {
        long[] gaps = new long[pieces.ranks()];
        for (int j = 0; j < gaps.length; j++) {
            gaps[j] = j > rank ? pieces.start(j) - pieces.end(rank) : -1;
        }
        return combine(gathered, gaps, decay, shape);
    }

    /**
     * sum over j with gaps[j] &gt;= 0 of exp(-s_h gaps[j]) * gathered[j], per (b, h); {@code gathered}
     * is [P, B, H, D, E].
     */
    private static double[] combine(double[] gathered, long[] gaps, double[] decay, PieceShape shape) {
        int heads = shape.heads();
        int block = shape.stateElements();
        int perRank = shape.batch() * heads * block;
        double[] out = new double[perRank];
        for (int j = 0; j < gaps.length; j++) {
            if (gaps[j] < 0) {
                continue;
            }
            for (int b = 0; b < shape.batch(); b++) {
                for (int h = 0; h < heads; h++) {
                    double w = Math.exp(-decay[h] * gaps[j]);
                    int at = (b * heads + h) * block;
                    int from = j * perRank + at;
                    for (int i = 0; i < block; i++) {
                        out[at + i] += w * gathered[from + i];
                    }
                }
            }
        }
        return out;
    }
}
