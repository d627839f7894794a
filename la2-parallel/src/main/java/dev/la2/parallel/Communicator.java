package dev.la2.parallel;

import dev.la2.api.Tensor;

/**
 * The ranks of one sequence-parallel group, as one rank sees them: its index, the group's size and
 * the collectives {@link SequenceParallel} needs, an all-gather and a sum. Every rank calls the collectives in
 * the same order with arrays (tensors) of the same length; a call returns once every rank has
 * contributed. Implementations: {@link InProcessGroup} (ranks on threads of one JVM) and
 * {@link NcclCommunicator} (NCCL on cuda tensors).
 */
public interface Communicator extends AutoCloseable {

    /** This rank's index, 0 to {@code size() - 1}: rank r holds the r-th piece of the sequence. */
    int rank();

    int size();

    /**
     * Every rank's {@code local} (the same length on every rank), rank after rank: element i of
     * rank r is at {@code r * local.length + i}.
     */
    double[] allGather(double[] local);

    /**
     * Every rank's {@code local} into {@code gathered}, rank after rank: {@code gathered} has
     * {@code size()} times as many elements, the same dtype and backend. The default goes through
     * host arrays ({@link #allGather(double[])}); a device transport overrides it.
     */
    default void allGather(Tensor local, Tensor gathered) {
        gathered.copyFrom(allGather(local.toDoubleArray()));
    }

    /**
     * The elementwise sum of every rank's {@code local} into {@code sum} (same dtype, shape and
     * backend; it may be {@code local} itself), the same on every rank. The default gathers through
     * host arrays and adds in rank order; a device transport overrides it.
     */
    default void allReduceSum(Tensor local, Tensor sum) {
        double[] mine = local.toDoubleArray();
        double[] all = allGather(mine);
        double[] total = new double[mine.length];
        for (int r = 0; r < size(); r++) {
            for (int i = 0; i < total.length; i++) {
                total[i] += all[r * total.length + i];
            }
        }
        sum.copyFrom(total);
    }

    /**
     * Tells the other ranks that this one failed and will not reach the next collective, so that
     * they fail instead of waiting; a transport that cannot tell them leaves them to their timeout.
     */
    default void abort(Throwable cause) {
    }

    @Override
    void close();
}
