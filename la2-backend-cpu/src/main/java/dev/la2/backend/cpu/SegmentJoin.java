package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.DecayPowers.weight;
import static dev.la2.backend.cpu.DecayPowers.weight64;
import static dev.la2.backend.cpu.TileOps.axpby;

/**
 * Joins one sequence's segments, which each ran from a zero state, in order: the true state
 * entering each segment (S_in(p+1) = lambda^len S_in(p) + local end), the true U entering each from
 * the right, and the decay-gradient terms that pair a segment's incoming state with its local sums.
 * Every join runs in a fixed order, so results do not depend on the threads.
 */
record SegmentJoin(SegmentPlan plan, DecayPowers powers, int keyDim, int valueDim, boolean wantDecay) {

    /**
     * The forward's join: the true incoming states of every segment from their local end states
     * (S_in(p+1) = lambda^len S_in(p) + local end); ends[p] becomes the true end state of segment p.
     */
    float[][] states(float[][] ends) {
        DecayPowers pw = powers;
        float[][] in = new float[plan.segments()][];
        for (int p = 1; p < plan.segments(); p++) {
            in[p] = ends[p - 1];
            float decay = weight(pw.at(plan.end(p) - plan.start(p)));
            float[] end = new float[in[p].length];
            axpby(end, decay, in[p], 1f, ends[p]);
            ends[p] = end;
        }
        return in;
    }

    /** Sweep 1's incoming states (transposed) per segment, sweep 2's joined U, the decay-gradient sum. */
    record Joined(float[][] stIn, JoinedU u, double decaySum) {
    }

    /** The true U entering each segment from the right ({@code in[p]}, null for the last), and U at token 0 (dS0). */
    record JoinedU(float[][] in, float[] start) {
    }

    /**
     * Segment 0's sweep left G_0 rather than U_0 = lambda G_0 (see {@link DkDvSweep}), so it joins
     * with lambda^(len-1), and dS0 = lambda G_0 is formed here in double: the tables flush lambda
     * itself where it is below their threshold, and dS0 would come out zero.
     */
    private JoinedU joinU(DkDvSweep.Result[] s2) {
        DecayPowers pw = powers;
        int segs = plan.segments();
        float[][] uIn = new float[segs][];
        float[] uStart = s2[segs - 1].u();
        for (int p = segs - 2; p >= 0; p--) {
            uIn[p] = uStart;
            float[] next = new float[uStart.length];
            int len = plan.end(p) - plan.start(p);
            axpby(next, weight(pw.at(p == 0 ? len - 1 : len)), uIn[p], 1f, s2[p].u());
            uStart = next;
        }
        double lambda = pw.at(1);
        float[] ds0 = new float[uStart.length];
        for (int i = 0; i < ds0.length; i++) {
            ds0[i] = (float) (lambda * uStart[i]);
        }
        return new JoinedU(uIn, ds0);
    }

    /**
     * Joins one sequence's segments from kept states: their true incoming S (transposed), the true U
     * from the right, and the decay-gradient sums. Sweep 2 summed each segment's pairs from its
     * local states; correctDq and correctDkDv add those of a segment's tokens with S_in and U_in;
     * here come the pairs spanning the whole segment, L lambda^L &lt;U_in, S_in&gt;, where S_in of
     * segment 0 is the initial state and U_in of the last is dS_final (with one segment both are
     * its own, and sweep 2 summed them).
     */
    Joined kept(float[][] stIn, DkDvSweep.Result[] s2, float[] s0, float[] dsf) {
        DecayPowers pw = powers;
        int d = keyDim, e = valueDim;
        int segs = plan.segments();
        JoinedU u = joinU(s2);
        double sum = 0;
        if (wantDecay) {
            for (int p = 0; p < segs; p++) {
                sum += s2[p].decaySum();
            }
            for (int p = 0; p < segs && segs > 1; p++) {
                float[] sIn = p == 0 ? s0 : stIn[p], uIn = p < segs - 1 ? u.in[p] : dsf;
                if (sIn == null || uIn == null) {
                    continue;
                }
                int len = plan.end(p) - plan.start(p);
                double dot = 0;
                for (int x = 0; x < d; x++) {
                    for (int y = 0; y < e; y++) {
                        dot += (double) uIn[x * e + y] * (p == 0 ? sIn[x * e + y] : sIn[y * d + x]);
                    }
                }
                sum += len * pw.at(len) * dot;
            }
        }
        return new Joined(stIn, u, sum);
    }

    /**
     * Joins one sequence's segments from both sweeps: true incoming S (transposed) and T for sweep 1,
     * true U from the right for sweep 2, dS0 = U at token 0, and the decay-gradient terms that pair a
     * segment's incoming state with its local sums. T joins across segments as S does, as T / lambda
     * (see {@link DqSweep}).
     */
    Joined rebuilt(DqSweep.Result[] s1, DkDvSweep.Result[] s2, float[] dsf) {
        DecayPowers pw = powers;
        double lambda = pw.at(1);
        int d = keyDim, e = valueDim;
        int segs = plan.segments();
        double sum = 0;
        for (int p = 0; p < segs; p++) {
            sum += s1[p].decaySum() + s2[p].decaySum();
        }
        float[][] stIn = new float[segs][];
        float[] stEnd = s1[0].st();
        // For the decay gradient S, T and sweep 2's U are joined in double, as the sweeps carried
        // them: joined in fp32, four segments lose about a digit against one.
        double[] sWide = s1[0].stWide(), tWide = s1[0].ttWide();
        for (int p = 1; p < segs; p++) {
            int len = plan.end(p) - plan.start(p);
            float decay = weight(pw.at(len));
            stIn[p] = stEnd;
            if (wantDecay) {
                // c sum_t lambda^(u+1) q_t T_in dO_t^T = lambda <T_in / lambda, R_p>, R_p = U_local minus
                // the dS_final part.
                double[] r = s2[p].uWide();
                double dotIn = 0;
                for (int x = 0; x < d; x++) {
                    for (int y = 0; y < e; y++) {
                        double rv = r[x * e + y];
                        if (p == segs - 1 && dsf != null) {
                            rv -= weight64(pw.at(len)) * dsf[x * e + y];
                        }
                        dotIn += tWide[y * d + x] * rv;
                    }
                }
                sum += lambda * dotIn;
                double dl = weight64(pw.at(len)), sw = weight64(len * pw.at(len - 1));
                double[] tNext = new double[tWide.length], sNext = new double[sWide.length];
                for (int i = 0; i < tNext.length; i++) {
                    tNext[i] = dl * tWide[i] + sw * sWide[i] + s1[p].ttWide()[i];
                    sNext[i] = dl * sWide[i] + s1[p].stWide()[i];
                }
                tWide = tNext;
                sWide = sNext;
                stEnd = new float[sWide.length];
                for (int i = 0; i < sWide.length; i++) {
                    stEnd[i] = (float) sWide[i];
                }
            } else {
                float[] next = new float[stEnd.length];
                axpby(next, decay, stIn[p], 1f, s1[p].st());
                stEnd = next;
            }
        }
        if (wantDecay && dsf != null) {
            double dot = 0;
            for (int x = 0; x < d; x++) {
                for (int y = 0; y < e; y++) {
                    dot += (double) dsf[x * e + y] * tWide[y * d + x];
                }
            }
            sum += lambda * dot;
        }
        return new Joined(stIn, joinU(s2), sum);
    }
}
