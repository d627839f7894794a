package dev.la2.parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/** Runs one task per rank of an in-process group, each on its own thread; results or failures by rank. */
final class Ranks {
    private Ranks() {
    }

    /** What rank r returned or threw. */
    record Outcome<T>(T value, Throwable failure) {
    }

    static <T> List<Outcome<T>> run(List<Communicator> comms, BiFunction<Integer, Communicator, T> task) {
        ExecutorService pool = Executors.newFixedThreadPool(comms.size());
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < comms.size(); r++) {
                int rank = r;
                futures.add(pool.submit(() -> task.apply(rank, comms.get(rank))));
            }
            List<Outcome<T>> out = new ArrayList<>();
            for (Future<T> f : futures) {
                try {
                    out.add(new Outcome<>(f.get(120, TimeUnit.SECONDS), null));
                } catch (ExecutionException e) {
                    out.add(new Outcome<>(null, e.getCause()));
                } catch (Exception e) {
                    throw new AssertionError("a rank did not finish", e);
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    /** The values, failing with the first rank's failure if any rank failed. */
    static <T> List<T> values(List<Outcome<T>> outcomes) {
        for (int r = 0; r < outcomes.size(); r++) {
            if (outcomes.get(r).failure() != null) {
                throw new AssertionError("rank " + r + " failed", outcomes.get(r).failure());
            }
        }
        return outcomes.stream().map(Outcome::value).toList();
    }
}
