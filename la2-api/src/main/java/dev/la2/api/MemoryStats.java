package dev.la2.api;

/**
 * Memory a backend instance holds, in bytes.
 *
 * @param kind       what is counted, for example "device" or "host native"
 * @param inUseBytes held now (tensors, pools and scratch)
 * @param peakBytes  most held at once since the last reset
 */
public record MemoryStats(String kind, long inUseBytes, long peakBytes) {
}
