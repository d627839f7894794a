package dev.la2.bench;

/**
 * What a whole {@link LengthSweep} is compared with, known before its first row.
 *
 * @param baselineRuns whether the ND4J baseline is timed; {@code baseline} says what it is or why not
 * @param sgemmGflops  null when the ceiling was not measured; {@code sgemm} says what it is or why not
 * @param fmaPeakGflops the host's fp32 FMA peak ({@link FmaPeak}), NaN when not measured; {@code fmaPeak}
 *                      says what it is or why not
 */
public record BenchContext(String backend, boolean baselineRuns, String baseline, String sgemm, Stats sgemmGflops,
                           String fmaPeak, double fmaPeakGflops, double bandwidthGBs, String bandwidth) {

    /** The context as JSON members (without braces), for a results file's header. */
    public String toJsonMembers() {
        StringBuilder sb = new StringBuilder();
        Json.field(sb, "backend", backend);
        Json.field(sb, "baseline", baseline);
        Json.field(sb, "sgemm", sgemm);
        Json.number(sb, "sgemm_gflops", sgemmGflops == null ? Double.NaN : sgemmGflops.median());
        Json.number(sb, "sgemm_gflops_min", sgemmGflops == null ? Double.NaN : sgemmGflops.min());
        Json.number(sb, "sgemm_gflops_max", sgemmGflops == null ? Double.NaN : sgemmGflops.max());
        Json.field(sb, "fma_peak", fmaPeak);
        Json.number(sb, "fma_peak_gflops", fmaPeakGflops);
        Json.number(sb, "copy_gbps_rw", bandwidthGBs);
        Json.field(sb, "copy_bandwidth", bandwidth);
        sb.setLength(sb.length() - 1);
        return sb.toString();
    }
}
