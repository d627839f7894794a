package dev.la2.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The host's copy bandwidth, measured in-run: SPEC.md section 6 divides the bytes a call must move
 * by it to get the memory floor. Counts bytes read plus bytes written.
 */
public final class HostBandwidth {
    private HostBandwidth() {
    }

    /**
     * Median over {@code repeats} copies of a buffer of {@code bytes} (well beyond the caches, e.g.
     * 256 MiB) into another, in GB/s (1e9 bytes per second, read plus written).
     */
    public static Stats measure(long bytes, int repeats) {
        if (bytes < 1 || repeats < 1) {
            throw new IllegalArgumentException("bandwidth: got bytes " + bytes + ", repeats " + repeats + "; expected both >= 1");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(bytes, 64);
            MemorySegment dst = arena.allocate(bytes, 64);
            // Touch every page first, so the timings measure copying rather than page faults.
            src.fill((byte) 1);
            dst.fill((byte) 0);
            MemorySegment.copy(src, 0, dst, 0, bytes);
            double[] rates = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                MemorySegment.copy(src, 0, dst, 0, bytes);
                rates[i] = 2.0 * bytes / (System.nanoTime() - t0);
            }
            return Stats.of(rates);
        }
    }
}
