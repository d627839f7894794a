package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A failed run returns only once none of its indices runs any more: its caller then gives back
 * the memory the indices write (scratch, a call's fp32 staging of 16-bit rows, kept states), and
 * the pool may hand that memory to another call at once.
 */
class WorkerPoolTest {
    private static final int WORKERS = 4;

    /**
     * Every index fails, one after another: whichever task the run joins first, the later ones are
     * still running when it fails. Errors (OutOfMemoryError where a task allocates its tiles) and
     * exceptions alike.
     */
    @Test
    void aRunFailsOnlyOnceEveryIndexHasEnded() {
        try (WorkerPool pool = new WorkerPool(WORKERS)) {
            for (int attempt = 0; attempt < 10; attempt++) {
                boolean error = attempt % 2 == 0;
                AtomicInteger running = new AtomicInteger();
                AtomicInteger order = new AtomicInteger();
                CountDownLatch started = new CountDownLatch(WORKERS);
                Throwable thrown = catchThrowable(() -> pool.run(WORKERS, i -> {
                    running.incrementAndGet();
                    try {
                        // All indices in flight together, then failing 20 ms apart.
                        started.countDown();
                        started.await(10, TimeUnit.SECONDS);
                        Thread.sleep(20L * order.getAndIncrement());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } finally {
                        running.decrementAndGet();
                    }
                    if (error) {
                        throw new OutOfMemoryError("index " + i);
                    }
                    throw new IllegalStateException("index " + i);
                }));
                assertThat(thrown).isInstanceOf(error ? OutOfMemoryError.class : IllegalStateException.class);
                assertThat(running.get()).as("indices still running when the run failed, attempt " + attempt)
                        .isZero();
            }
        }
    }
}
