package dev.la2.backend.cpu;

import dev.la2.api.La2ArgumentException;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

/**
 * The backend instance's threads. A call hands out task indices from its own counter, so calls
 * from many user threads share the workers without sharing state; which thread runs an index
 * never changes the result, because every index writes its own outputs.
 */
final class WorkerPool implements AutoCloseable {
    private static final AtomicInteger NEXT_ID = new AtomicInteger();
    /** Bound while a call runs {@link #inline}: its runs stay on its thread. */
    private static final ScopedValue<Boolean> INLINE = ScopedValue.newInstance();
    /** The most workers a ForkJoinPool takes (its MAX_CAP); more would fail inside its constructor. */
    static final int MAX_THREADS = 0x7fff;

    private final int threads;
    private final ForkJoinPool pool;
    /**
     * The workers started and not yet seen dead, so that close() can wait until each has exited
     * (the pool retires idle workers and starts new ones, so the dead are dropped as new ones come).
     */
    private final Queue<Thread> started = new ConcurrentLinkedQueue<>();

    WorkerPool(int threads) {
        if (threads > MAX_THREADS) {
            throw new La2ArgumentException("threads", String.valueOf(threads), "at most " + MAX_THREADS + " worker threads");
        }
        this.threads = threads;
        this.pool = threads <= 1 ? null : new ForkJoinPool(threads, p -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("la2-cpu-" + NEXT_ID.incrementAndGet());
            t.setDaemon(true);
            started.removeIf(w -> w.getState() == Thread.State.TERMINATED);
            started.add(t);
            return t;
        }, null, false);
    }

    int threads() {
        return threads;
    }

    /**
     * Runs {@code call} with every {@link #run} it makes on this thread taking the one-thread path:
     * each index in order on this thread. Other threads' calls keep the workers.
     */
    <T> T inline(Supplier<T> call) {
        return ScopedValue.where(INLINE, Boolean.TRUE).call(call::get);
    }

    /**
     * Runs body(0 .. count-1), each index once, and returns when all are done. A failing index
     * (an exception or an error such as OutOfMemoryError) fails the run only once every other
     * index has ended: the caller then gives back the memory the indices write (scratch, staged
     * rows, kept states), which must not reach another call while a worker still writes it.
     */
    void run(int count, IntConsumer body) {
        if (count <= 0) {
            return;
        }
        if (pool == null || count == 1 || INLINE.isBound()) {
            for (int i = 0; i < count; i++) {
                body.accept(i);
            }
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            for (int i = next.getAndIncrement(); i < count; i = next.getAndIncrement()) {
                body.accept(i);
            }
        };
        int workers = Math.min(count, threads);
        List<ForkJoinTask<?>> tasks = new ArrayList<>(workers);
        for (int w = 0; w < workers; w++) {
            tasks.add(pool.submit(worker));
        }
        Throwable failure = null;
        for (ForkJoinTask<?> t : tasks) {
            try {
                t.join();
            } catch (RuntimeException | Error e) {
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure instanceof Error e) {
            throw e;
        }
        if (failure instanceof RuntimeException e) {
            throw e;
        }
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
            // A terminated pool's last worker can still be on its way out when awaitTermination
            // returns: join them all, within the same bound.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            try {
                pool.awaitTermination(10, TimeUnit.SECONDS);
                for (Thread t : started) {
                    long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                    if (left <= 0) {
                        break;
                    }
                    t.join(left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
