package dev.la2.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.api.DType;
import dev.la2.api.Shape;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Owned host tensors cut from slabs or with arenas of their own: closed means unusable, and memory comes back. */
class HostMemoryTest {
    /** A slice of a slab, and a tensor with its own arena. */
    private static final int SMALL = 256;
    private static final int LARGE = (int) (HostMemory.LARGEST_SLICE / Float.BYTES) + 1;
    private static final ExecutorService OTHER = Executors.newSingleThreadExecutor();

    private final Object owner = new Object();

    @AfterAll
    static void stopOther() {
        OTHER.shutdownNow();
    }

    private HostTensor allocate(int elements) {
        return HostTensor.allocate(owner, "test", DType.FP32, Shape.of(elements));
    }

    /** Every read and write of the tensor's API, each of which must refuse a closed tensor. */
    private static List<Consumer<HostTensor>> accesses() {
        return List.of(t -> t.get(0), t -> t.set(0, 1), t -> t.toFloatArray(),
                t -> t.copyFrom(new float[(int) t.elementCount()]), t -> t.copyFrom(new double[(int) t.elementCount()]),
                t -> t.copyTo(MemorySegment.ofArray(new float[(int) t.elementCount()])), t -> t.fill(2),
                HostTensor::segment, t -> t.view(0, Shape.of(1)));
    }

    @ParameterizedTest
    @ValueSource(ints = {SMALL, LARGE})
    void aClosedTensorRefusesReadsAndWritesOnEveryThread(int elements) throws Exception {
        HostTensor t = allocate(elements);
        t.fill(1);
        t.close();
        assertThat(t.isClosed()).isTrue();
        for (Consumer<HostTensor> access : accesses()) {
            assertThatThrownBy(() -> access.accept(t)).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
            Throwable elsewhere = CompletableFuture.supplyAsync(() -> {
                try {
                    access.accept(t);
                    return null;
                } catch (RuntimeException e) {
                    return e;
                }
            }, OTHER).get(10, TimeUnit.SECONDS);
            assertThat(elsewhere).as("the same access on another thread").isInstanceOf(IllegalStateException.class);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {SMALL, LARGE})
    void aTensorMadeOnOneThreadIsUsedAndClosedOnAnother(int elements) throws Exception {
        long live = HostTensor.liveBytes();
        HostTensor t = CompletableFuture.supplyAsync(() -> allocate(elements), OTHER).get(10, TimeUnit.SECONDS);
        t.fill(3);
        assertThat(t.get(elements - 1)).isEqualTo(3);
        CompletableFuture.runAsync(t::close, OTHER).get(10, TimeUnit.SECONDS);
        assertThat(t.isClosed()).isTrue();
        assertThatThrownBy(() -> t.get(0)).isInstanceOf(IllegalStateException.class);
        assertThat(HostTensor.liveBytes()).isEqualTo(live);
    }

    @Test
    void closingTwiceFromTwoThreadsFreesOnce() throws Exception {
        long live = HostTensor.liveBytes();
        for (int i = 0; i < 100; i++) {
            HostTensor t = allocate(i % 2 == 0 ? SMALL : LARGE);
            CompletableFuture<Void> there = CompletableFuture.runAsync(t::close, OTHER);
            t.close();
            there.get(10, TimeUnit.SECONDS);
            t.close();
        }
        assertThat(HostTensor.liveBytes()).isEqualTo(live);
    }

    @Test
    void viewsCloseWithTheTensorTheyView() {
        HostTensor t = allocate(SMALL);
        HostTensor view = t.view(8, Shape.of(8));
        view.fill(4);
        assertThat(t.get(8)).isEqualTo(4);
        view.close();
        assertThat(t.isClosed()).as("closing a view frees nothing").isFalse();
        HostTensor other = t.view(16, Shape.of(8));
        t.close();
        assertThat(other.isClosed()).isTrue();
        assertThat(other.isArenaClosed()).isTrue();
        assertThatThrownBy(() -> other.get(0)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("arena is closed");
    }

    /**
     * A thread writing a tensor while another closes it either finishes a write or is refused; its
     * writes never land in tensors allocated after the close, and once the close has returned every
     * further access is refused.
     */
    @ParameterizedTest
    @ValueSource(ints = {SMALL, LARGE})
    void writesRacingWithCloseNeverReachAnotherTensor(int elements) throws Exception {
        for (int round = 0; round < 20; round++) {
            HostTensor t = allocate(elements);
            AtomicBoolean closeReturned = new AtomicBoolean();
            CountDownLatch writing = new CountDownLatch(1);
            CompletableFuture<String> writer = CompletableFuture.supplyAsync(() -> {
                for (long i = 0; ; i++) {
                    boolean afterClose = closeReturned.get();
                    try {
                        t.fill(-1);
                        t.set(i % elements, -2);
                    } catch (IllegalStateException refused) {
                        return "refused";
                    }
                    if (afterClose) {
                        return "wrote after close returned";
                    }
                    writing.countDown();
                }
            }, OTHER);
            assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
            t.close();
            closeReturned.set(true);
            List<HostTensor> later = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                HostTensor u = allocate(elements);
                u.fill(5);
                later.add(u);
            }
            assertThat(writer.get(10, TimeUnit.SECONDS)).isEqualTo("refused");
            for (HostTensor u : later) {
                assertThat(u.toFloatArray()).as("a tensor allocated after the close").containsOnly(5f);
                u.close();
            }
        }
    }

    @Test
    void aSegmentKeptPastCloseReachesNoOtherTensorAndDiesWithItsSlab() {
        HostTensor t = allocate(SMALL);
        MemorySegment kept = t.segment();
        t.close();
        HostTensor next = allocate(SMALL);
        assertThat(kept.asOverlappingSlice(next.segment())).as("the bytes of a closed tensor are not handed out again").isEmpty();
        next.close();
        for (int i = 0; i < 2 * HostMemory.SLAB_BYTES / (SMALL * Float.BYTES); i++) {
            allocate(SMALL).close();
        }
        assertThat(kept.scope().isAlive()).as("the slab, retired and empty, is freed").isFalse();
        assertThatThrownBy(() -> kept.get(ValueLayout.JAVA_FLOAT, 0)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void allocatingAndClosingKeepsNativeMemoryBounded() {
        HostTensor longLived = allocate(SMALL);
        long reserved = HostMemory.reservedBytes();
        long most = reserved;
        for (int i = 0; i < 100_000; i++) {
            HostTensor t = allocate(i % 4 == 0 ? 1 : SMALL);
            t.set(0, i);
            t.close();
            most = Math.max(most, HostMemory.reservedBytes());
        }
        for (int i = 0; i < 200; i++) {
            allocate(LARGE).close();
            most = Math.max(most, HostMemory.reservedBytes());
        }
        longLived.close();
        assertThat(most - reserved).as("native memory beyond the slabs held at the start")
                .isLessThanOrEqualTo(2 * HostMemory.SLAB_BYTES + (long) LARGE * Float.BYTES);
    }
}
