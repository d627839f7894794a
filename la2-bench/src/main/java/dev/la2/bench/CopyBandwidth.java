package dev.la2.bench;

import java.util.Locale;

/**
 * The copy bandwidth (bytes read plus written per second) that SPEC.md section 6's memory floor
 * divides by, and where it came from: given by {@code --bandwidth}, measured in-run on host
 * backends, or unknown (NaN) for a device backend without {@code --bandwidth}.
 */
record CopyBandwidth(double gbs, String source) {

    static CopyBandwidth of(BenchConfig c, boolean onHost) {
        if (Double.isFinite(c.bandwidthGBs())) {
            return new CopyBandwidth(c.bandwidthGBs(), "given: " + c.bandwidthGBs() + " GB/s");
        }
        if (onHost) {
            double measured = HostBandwidth.measure(256L << 20, 5).median();
            return new CopyBandwidth(measured,
                    String.format(Locale.ROOT, "host copy measured in-run: %.1f GB/s (read+write)", measured));
        }
        return new CopyBandwidth(Double.NaN, "unknown for a device backend (pass --bandwidth GB/s for a memory floor)");
    }

    /** Milliseconds to move {@code bytes} at this bandwidth; NaN when it is unknown. */
    double floorMillis(double bytes) {
        return Double.isFinite(gbs) ? bytes / (gbs * 1e6) : Double.NaN;
    }
}
