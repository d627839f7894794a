package dev.la2.bench;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import java.util.Locale;

/**
 * One measurement of a {@link LengthSweep}: times in ms, rates per second, NaN (or -1 for bytes)
 * where unknown.
 *
 * @param call              the call timed: its mode, and whether the decay was learnable and the
 *                          final state written
 * @param warmupSeconds     the shortest warm-up this size had, in seconds (the first size's is longer)
 * @param fractionOfSgemm   our GFLOP/s over the sgemm ceiling's
 * @param fractionOfFmaPeak our GFLOP/s over the host's fp32 FMA peak ({@link FmaPeak}); the notional
 *                          FLOPs count each block's masked half, which the kernels skip, so it can
 *                          pass 1
 */
public record BenchRow(String backend, DType dtype, Precision precision, BenchCall call, Layout layout,
                       int b, int h, int n, int d, int e, int warmup, double warmupSeconds, int repeats,
                       Stats ms, double msPerMillionTokens, double tokenHeadsPerSecond, double gflops,
                       double floorMs, long peakBackendBytes, String peakBackendKind, long peakHeapBytes,
                       double hostToDeviceMs, double deviceToHostMs,
                       double baselineMsMedian, double speedupVsBaseline, double sgemmGflops,
                       double fractionOfSgemm, double fmaPeakGflops, double fractionOfFmaPeak,
                       double perTokenVsSmallestN, double pairedForwardMs, double ratioToForward) {

    /** fwd or fwdbwd. */
    public String mode() {
        return call.mode();
    }

    /** One JSON object on one line; unknown figures are null. */
    public String toJson() {
        StringBuilder sb = new StringBuilder("{");
        Json.field(sb, "backend", backend);
        Json.field(sb, "dtype", dtype.name().toLowerCase(Locale.ROOT));
        Json.field(sb, "precision", precision.name().toLowerCase(Locale.ROOT));
        Json.field(sb, "mode", mode());
        Json.bool(sb, "learn_decay", call.learnDecay());
        Json.bool(sb, "final_state", call.finalState());
        Json.field(sb, "layout", layout.name().toLowerCase(Locale.ROOT));
        Json.number(sb, "b", b);
        Json.number(sb, "h", h);
        Json.number(sb, "n", n);
        Json.number(sb, "d", d);
        Json.number(sb, "e", e);
        Json.number(sb, "warmup", warmup);
        Json.number(sb, "warmup_s", warmupSeconds);
        Json.number(sb, "repeats", repeats);
        Json.stats(sb, "ms", ms);
        Json.number(sb, "ms_per_mtok", msPerMillionTokens);
        Json.number(sb, "token_heads_per_s", tokenHeadsPerSecond);
        Json.number(sb, "gflops", gflops);
        Json.number(sb, "floor_ms", floorMs);
        Json.number(sb, "peak_backend_bytes", peakBackendBytes < 0 ? Double.NaN : peakBackendBytes);
        Json.field(sb, "peak_backend_kind", peakBackendKind);
        Json.number(sb, "peak_heap_bytes", peakHeapBytes);
        Json.number(sb, "h2d_ms", hostToDeviceMs);
        Json.number(sb, "d2h_ms", deviceToHostMs);
        Json.number(sb, "baseline_ms_median", baselineMsMedian);
        Json.number(sb, "speedup_vs_baseline", speedupVsBaseline);
        Json.number(sb, "sgemm_gflops", sgemmGflops);
        Json.number(sb, "fraction_of_sgemm", fractionOfSgemm);
        Json.number(sb, "fma_peak_gflops", fmaPeakGflops);
        Json.number(sb, "fraction_of_fma_peak", fractionOfFmaPeak);
        Json.number(sb, "per_token_vs_smallest_n", perTokenVsSmallestN);
        Json.number(sb, "paired_fwd_ms_median", pairedForwardMs);
        Json.number(sb, "fwdbwd_over_fwd", ratioToForward);
        sb.setLength(sb.length() - 1);
        return sb.append('}').toString();
    }
}
