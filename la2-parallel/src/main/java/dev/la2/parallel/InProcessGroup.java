package dev.la2.parallel;

import dev.la2.api.La2ArgumentException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.IntStream;

/**
 * A group of ranks on threads of one JVM: {@link #communicators()} gives one {@link Communicator}
 * per rank, each to be used by one thread. A collective returns once every rank has contributed;
 * a rank that fails ({@link Communicator#abort}) or waits longer than the timeout fails the group,
 * and every collective then throws {@link CommunicationException} naming the cause, so no rank waits
 * for one that will not come.
 */
public final class InProcessGroup {
    /** How long a rank waits for the others in one collective unless told otherwise. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private final int size;
    private final long timeoutNanos;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final double[][] contributions;
    private int arrived;
    private long generation;
    private CommunicationException failure;

    public InProcessGroup(int size) {
        this(size, DEFAULT_TIMEOUT);
    }

    public InProcessGroup(int size, Duration timeout) {
        if (size < 1) {
            throw new La2ArgumentException("size", String.valueOf(size), "at least 1 rank");
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new La2ArgumentException("timeout", String.valueOf(timeout), "a positive duration");
        }
        this.size = size;
        // Beyond Long.MAX_VALUE nanoseconds (292 years) is as good as no limit; toNanos() would overflow.
        this.timeoutNanos = timeout.compareTo(Duration.ofNanos(Long.MAX_VALUE)) > 0 ? Long.MAX_VALUE : timeout.toNanos();
        this.contributions = new double[size][];
    }

    public int size() {
        return size;
    }

    /** One communicator per rank, in rank order. */
    public List<Communicator> communicators() {
        return IntStream.range(0, size).<Communicator>mapToObj(r -> new InProcessCommunicator(this, r)).toList();
    }

    double[] allGather(int rank, double[] local) {
        contributions[rank] = local.clone();
        await(rank, "all-gather");
        int length = contributions[0].length;
        double[] gathered = new double[size * length];
        for (int r = 0; r < size; r++) {
            if (contributions[r].length != length) {
                // Every rank sees the same contributions, so every rank throws this, naming the same rank.
                await(rank, "all-gather");
                throw new La2ArgumentException("local", contributions[r].length + " elements on rank " + r,
                        length + " elements, as on rank 0: every rank contributes as many");
            }
            System.arraycopy(contributions[r], 0, gathered, r * length, length);
        }
        // No rank may overwrite its contribution before every rank has read them all.
        await(rank, "all-gather");
        return gathered;
    }

    void abort(int rank, Throwable cause) {
        lock.lock();
        try {
            if (failure == null) {
                failure = new CommunicationException("rank " + rank + " of " + size + " failed: " + cause, cause);
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Returns when every rank has arrived at this point; throws once the group has failed. */
    private void await(int rank, String what) {
        lock.lock();
        try {
            throwIfFailed();
            long gen = generation;
            if (++arrived == size) {
                arrived = 0;
                generation++;
                changed.signalAll();
                return;
            }
            long nanos = timeoutNanos;
            while (gen == generation) {
                throwIfFailed();
                if (nanos <= 0) {
                    failure = new CommunicationException("rank " + rank + " of " + size + " waited "
                            + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms in " + what
                            + " for the other ranks; " + (size - arrived) + " of them never arrived");
                    changed.signalAll();
                    throw failure;
                }
                try {
                    nanos = changed.awaitNanos(nanos);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    failure = new CommunicationException("rank " + rank + " of " + size + " was interrupted in " + what, e);
                    changed.signalAll();
                    throw failure;
                }
            }
        } finally {
            lock.unlock();
        }
    }

    private void throwIfFailed() {
        if (failure != null) {
            throw new CommunicationException(failure.getMessage(), failure.getCause() == null ? failure : failure.getCause());
        }
    }
}
