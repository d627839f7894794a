package dev.la2.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.La2ArgumentException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class InProcessGroupTest {

    @Test
    void gathersInRankOrderRepeatedly() {
        List<Ranks.Outcome<double[]>> outcomes = Ranks.run(new InProcessGroup(4).communicators(), (rank, comm) -> {
            double[] last = null;
            for (int i = 0; i < 50; i++) {
                last = comm.allGather(new double[] {rank, i});
            }
            return last;
        });
        for (double[] gathered : Ranks.values(outcomes)) {
            assertThat(gathered).containsExactly(0, 49, 1, 49, 2, 49, 3, 49);
        }
    }

    @Test
    void aMissingRankTimesOutOnTheOthers() {
        InProcessGroup group = new InProcessGroup(3, Duration.ofMillis(200));
        List<Ranks.Outcome<double[]>> outcomes = Ranks.run(group.communicators().subList(0, 2),
                (rank, comm) -> comm.allGather(new double[] {rank}));
        for (Ranks.Outcome<double[]> o : outcomes) {
            assertThat(o.failure()).isInstanceOf(CommunicationException.class).hasMessageContaining("never arrived");
        }
    }

    @Test
    void anAbortReachesWaitingRanks() {
        List<Ranks.Outcome<double[]>> outcomes = Ranks.run(new InProcessGroup(3).communicators(), (rank, comm) -> {
            if (rank == 2) {
                comm.abort(new IllegalStateException("device lost"));
                return null;
            }
            return comm.allGather(new double[] {rank});
        });
        assertThat(outcomes.get(0).failure()).isInstanceOf(CommunicationException.class).hasMessageContaining("device lost");
        assertThat(outcomes.get(1).failure()).isInstanceOf(CommunicationException.class).hasMessageContaining("rank 2 of 3");
    }

    /** A rank interrupted while it waits fails, keeping its interrupt, and so does the rank that comes after. */
    @Test
    @Timeout(30)
    void anInterruptedRankFailsTheOthers() {
        AtomicReference<Thread> waiting = new AtomicReference<>();
        CountDownLatch failed = new CountDownLatch(1);
        List<Ranks.Outcome<Boolean>> outcomes = Ranks.run(new InProcessGroup(2, Duration.ofSeconds(20)).communicators(), (rank, comm) -> {
            if (rank == 0) {
                waiting.set(Thread.currentThread());
                try {
                    comm.allGather(new double[] {rank});
                } finally {
                    assertThat(Thread.currentThread().isInterrupted()).as("interrupt kept").isTrue();
                    failed.countDown();
                }
                return true;
            }
            while (waiting.get() == null || waiting.get().getState() != Thread.State.TIMED_WAITING) {
                Thread.onSpinWait();
            }
            waiting.get().interrupt();
            try {
                failed.await();
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            comm.allGather(new double[] {rank});
            return true;
        });
        for (Ranks.Outcome<Boolean> o : outcomes) {
            assertThat(o.failure()).isInstanceOf(CommunicationException.class).hasMessageContaining("rank 0 of 2 was interrupted");
        }
    }

    @Test
    void unequalContributionsAreRefusedOnEveryRank() {
        List<Ranks.Outcome<double[]>> outcomes = Ranks.run(new InProcessGroup(2).communicators(),
                (rank, comm) -> comm.allGather(new double[rank + 1]));
        for (Ranks.Outcome<double[]> o : outcomes) {
            assertThat(o.failure()).isInstanceOfSatisfying(La2ArgumentException.class, e -> assertThat(e.argument()).isEqualTo("local"));
        }
    }

    @Test
    void aClosedCommunicatorRefusesCollectives() {
        Communicator comm = new InProcessGroup(1).communicators().get(0);
        assertThat(comm.allGather(new double[] {1})).containsExactly(1);
        comm.close();
        assertThatThrownBy(() -> comm.allGather(new double[] {1})).isInstanceOf(IllegalStateException.class)
                .hasMessage("in-process communicator of rank 0 is closed");
    }

    @Test
    void refusesBadSizes() {
        assertThatThrownBy(() -> new InProcessGroup(0)).isInstanceOfSatisfying(La2ArgumentException.class,
                e -> assertThat(e.argument()).isEqualTo("size"));
        assertThatThrownBy(() -> new InProcessGroup(2, Duration.ZERO)).isInstanceOfSatisfying(La2ArgumentException.class,
                e -> assertThat(e.argument()).isEqualTo("timeout"));
    }

    @Test
    void aTimeoutBeyondWhatNanosecondsHoldIsNoLimit() {
        List<Ranks.Outcome<double[]>> outcomes = Ranks.run(new InProcessGroup(2, Duration.ofDays(365L * 1000)).communicators(),
                (rank, comm) -> comm.allGather(new double[] {rank}));
        for (double[] gathered : Ranks.values(outcomes)) {
            assertThat(gathered).containsExactly(0, 1);
        }
    }
}
