package dev.la2.backend.cpu;

import dev.la2.api.Tensor;
import dev.la2.spi.HostTensor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Whether a call's tensors may be handed to the worker threads. Memory of
 * {@code Arena.ofConfined()} is accessible only by the thread that made it, so a worker touching
 * it would throw WrongThreadException, possibly with outputs half written: a call with any such
 * tensor runs on the calling thread alone ({@link WorkerPool#inline}), with the same results. The
 * first such call of an instance logs a warning (System.Logger "dev.la2"), since the slowdown is
 * otherwise silent.
 */
final class ThreadConfinement {
    /** A thread that is not the caller: memory it may access is accessible by every thread. */
    private static final Thread ELSEWHERE = Thread.ofPlatform().unstarted(() -> { });

    private final int threads;
    private final Consumer<String> warn;
    private final AtomicBoolean warned = new AtomicBoolean();

    ThreadConfinement(int threads) {
        this(threads, ThreadConfinement::log);
    }

    ThreadConfinement(int threads, Consumer<String> warn) {
        this.threads = threads;
        this.warn = warn;
    }

    /** Whether any of {@code tensors} (nulls skipped) lives in memory confined to one thread. */
    boolean confined(Tensor... tensors) {
        if (threads == 1) {
            return false;
        }
        for (Tensor t : tensors) {
            if (t instanceof HostTensor host && !host.segment().isAccessibleBy(ELSEWHERE)) {
                if (warned.compareAndSet(false, true)) {
                    warn.accept(warning(threads));
                }
                return true;
            }
        }
        return false;
    }

    private static void log(String warning) {
        System.getLogger(VectorSupport.LOGGER).log(System.Logger.Level.WARNING, warning);
    }

    private static String warning(int threads) {
        return "la2 cpu backend: calls over thread-confined memory (Arena.ofConfined()) run on the calling thread"
                + " alone; tensors over memory of Arena.ofShared(), Arena.ofAuto() or Arena.global() let them use"
                + " the backend's " + threads + " threads.";
    }
}
