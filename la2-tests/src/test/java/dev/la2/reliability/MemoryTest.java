package dev.la2.reliability;

import dev.la2.api.Diagnostics;
import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.Tensor;
import dev.la2.api.DType;
import dev.la2.api.Shape;
import dev.la2.spi.HostTensor;
import dev.la2.api.MemoryStats;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** 100,000 forward and backward calls hold no memory afterwards; dropped tensors are reclaimed. */
class MemoryTest {
    private static final int CALLS = 100_000;
    private static final long RSS_BOUND = 48L << 20;

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.la2.reliability.Backends4Test#fast")
    void hundredThousandCallsLeaveNoMemoryBehind(String backend) {
        long seed = Long.getLong("la2.seed", System.nanoTime());
        Calls.Spec s = new Calls.Spec(1, 2, 16, 8, 8, 1.0,
                Calls.gaussian(new Random(seed), 256, 0.35), Calls.gaussian(new Random(seed + 1), 256, 0.35),
                Calls.gaussian(new Random(seed + 2), 256, 1), new float[] {0f, 0.3f},
                Calls.gaussian(new Random(seed + 3), 256, 1));
        try (LightningAttention la = LightningAttention.open(backend); Calls.Uploaded up = new Calls.Uploaded(la, s)) {
            for (int i = 0; i < 2_000; i++) {
                cycle(la, up, s);
            }
            System.gc();
            long hostBefore = HostTensor.liveBytes();
            Optional<MemoryStats> before = Diagnostics.of(la).memoryStats();
            long started = System.nanoTime();
            // A leak grows with the number of calls; allocator and compiler warm-up do not, however
            // late it comes. So resident memory outside the Java heap is read after a quarter of the
            // calls, after five eighths and at the end: a leak grows over both stretches between.
            long rssQuarter = -1;
            long rssMiddle = -1;
            for (int i = 0; i < CALLS; i++) {
                cycle(la, up, s);
                if (i == CALLS / 4 || i == CALLS * 5 / 8) {
                    System.gc();
                    long rss = Calls.residentNativeBytes();
                    if (i == CALLS / 4) {
                        rssQuarter = rss;
                    } else {
                        rssMiddle = rss;
                    }
                }
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            System.gc();
            long hostAfter = HostTensor.liveBytes();
            long rssAfter = Calls.residentNativeBytes();
            Optional<MemoryStats> after = Diagnostics.of(la).memoryStats();
            System.out.printf("memory on %s: %d forward+backward calls in %.1f s; host tensor bytes %d -> %d; "
                            + "resident memory outside the heap after 25%% of the calls %d MiB, after 62.5%% %d MiB, after all %d MiB; "
                            + "backend %s -> %s%n",
                    backend, CALLS, seconds, hostBefore, hostAfter, rssQuarter >> 20, rssMiddle >> 20, rssAfter >> 20,
                    before.map(Object::toString).orElse("n/a"), after.map(Object::toString).orElse("n/a"));
            assertThat(hostAfter).as("native bytes held by host tensors").isEqualTo(hostBefore);
            if (before.isPresent() && after.isPresent()) {
                assertThat(after.get().inUseBytes()).as("backend memory in use").isLessThanOrEqualTo(before.get().inUseBytes());
            }
            // What a device backend holds is its device memory, checked above. Its process's resident
            // memory also follows the JVM's own structures (G1's marking bitmaps grow with the heap it
            // commits, while device memory stays constant), so it is reported there, and bounded for
            // host backends only.
            boolean hostBackend = after.map(m -> !m.kind().equals("device")).orElse(true);
            if (rssQuarter > 0 && hostBackend) {
                long growth = Math.min(rssMiddle - rssQuarter, rssAfter - rssMiddle);
                assertThat(growth).as("growth of resident memory outside the heap over both stretches of 37,500 calls "
                        + "(%d and %d bytes)", rssMiddle - rssQuarter, rssAfter - rssMiddle).isLessThan(RSS_BOUND / 2);
            }
        }
    }

    private static void cycle(LightningAttention la, Calls.Uploaded up, Calls.Spec s) {
        try (ForwardResult r = la.forward(up.inputs(), s.options());
             Gradients g = la.backward(up.inputs(), up.dOut, null, s.options())) {
            if (Float.isNaN(r.output().toFloatArray()[0]) || Float.isNaN(g.dq().toFloatArray()[0])) {
                throw new AssertionError("NaN from finite inputs");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.la2.reliability.Backends4Test#fast")
    void droppedTensorsAreReleasedByTheCleaner(String backend) throws InterruptedException {
        try (LightningAttention la = LightningAttention.open(backend)) {
            if (!la.backendName().equals("cpu") && !la.backendName().equals("reference")) {
                org.junit.jupiter.api.Assumptions.abort("host-memory accounting only: " + la.backendName()
                        + " reports through memoryStats()");
            }
            System.gc();
            long before = HostTensor.liveBytes();
            for (int i = 0; i < 64; i++) {
                Tensor dropped = la.allocate(DType.FP32, Shape.of(1 << 18));
                dropped.fill(i);
            }
            assertThat(HostTensor.liveBytes() - before).isGreaterThan(0);
            for (int attempt = 0; attempt < 100 && HostTensor.liveBytes() > before; attempt++) {
                System.gc();
                Thread.sleep(50);
            }
            assertThat(HostTensor.liveBytes()).as("bytes left after GC of 64 dropped 1 MiB tensors").isEqualTo(before);
        }
    }
}
