package dev.la2.parallel;

/** One rank of an {@link InProcessGroup}; closed, it refuses further collectives as NCCL's does. */
final class InProcessCommunicator implements Communicator {
    private final InProcessGroup group;
    private final int rank;
    private volatile boolean closed;

    InProcessCommunicator(InProcessGroup group, int rank) {
        this.group = group;
        this.rank = rank;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return group.size();
    }

    @Override
    public double[] allGather(double[] local) {
        if (closed) {
            throw new IllegalStateException("in-process communicator of rank " + rank + " is closed");
        }
        return group.allGather(rank, local);
    }

    @Override
    public void abort(Throwable cause) {
        group.abort(rank, cause);
    }

    @Override
    public void close() {
        closed = true;
    }
}
