package dev.la2.bench;

import dev.la2.api.DType;
import dev.la2.api.Precision;
import java.util.Locale;

/**
 * One measurement of a {@link ServingBench}: the serving call and its dense counterpart timed in
 * the same run, in ms; NaN where unknown.
 *
 * @param tokens      T, the tokens of one call (slot-decode: S, one per sequence)
 * @param maxLength   the longest length the packed lengths were drawn up to (slot-decode: 1)
 * @param warmupSeconds      the serving call's shortest warm-up, in seconds
 * @param denseWarmupSeconds the dense call's, after the serving call's
 * @param denseBatch  B of the dense counterpart (S in every mode)
 * @param denseTokens N of the dense counterpart: round(T/S) for the packed modes, 1 for decode
 * @param perTokenRatio the serving call's time per token over the dense call's
 * @param floorMs     SPEC.md section 6's memory floor of the serving call at the copy bandwidth:
 *                    for slot-decode, the states read and written plus q, k, v and the output
 */
public record ServingRow(String backend, DType dtype, Precision precision, ServingMode mode,
                         int sequences, int tokens, int maxLength, int h, int d, int e, int warmup,
                         double warmupSeconds, double denseWarmupSeconds, Stats ms, double msPerMillionTokens,
                         int denseBatch, int denseTokens, Stats denseMs, double denseMsPerMillionTokens,
                         double perTokenRatio, double floorMs) {

    /** One JSON object on one line; unknown figures are null. */
    public String toJson() {
        StringBuilder sb = new StringBuilder("{");
        Json.field(sb, "backend", backend);
        Json.field(sb, "dtype", dtype.name().toLowerCase(Locale.ROOT));
        Json.field(sb, "precision", precision.name().toLowerCase(Locale.ROOT));
        Json.field(sb, "mode", mode.label());
        Json.number(sb, "s", sequences);
        Json.number(sb, "t", tokens);
        Json.number(sb, "max_len", maxLength);
        Json.number(sb, "h", h);
        Json.number(sb, "d", d);
        Json.number(sb, "e", e);
        Json.number(sb, "warmup", warmup);
        Json.number(sb, "warmup_s", warmupSeconds);
        Json.number(sb, "dense_warmup_s", denseWarmupSeconds);
        Json.number(sb, "repeats", ms.count());
        Json.stats(sb, "ms", ms);
        Json.number(sb, "ms_per_mtok", msPerMillionTokens);
        Json.number(sb, "dense_b", denseBatch);
        Json.number(sb, "dense_n", denseTokens);
        Json.stats(sb, "dense_ms", denseMs);
        Json.number(sb, "dense_ms_per_mtok", denseMsPerMillionTokens);
        Json.number(sb, "per_token_ratio", perTokenRatio);
        Json.number(sb, "floor_ms", floorMs);
        sb.setLength(sb.length() - 1);
        return sb.append('}').toString();
    }
}
