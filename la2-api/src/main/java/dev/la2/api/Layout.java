package dev.la2.api;

/**
 * Memory order of a sequence tensor (q, k, v, the output and their gradients); SPEC.md section 5.
 * Both are dense and row-major; they differ only in whether heads or tokens vary slower.
 */
public enum Layout {
    /** [B, H, N, F]: each head's sequence is contiguous. */
    BHND,
    /** [B, N, H, F]: what a projection of [B, N, H*F] gives without a copy. */
    BNHD;

    /** The physical shape of a tensor holding B x H x N rows of F features in this layout. */
    public Shape shape(int batch, int heads, int tokens, int features) {
        return this == BHND ? Shape.of(batch, heads, tokens, features) : Shape.of(batch, tokens, heads, features);
    }

    public int batch(Shape physical) {
        return physical.dim(0);
    }

    public int heads(Shape physical) {
        return physical.dim(this == BHND ? 1 : 2);
    }

    public int tokens(Shape physical) {
        return physical.dim(this == BHND ? 2 : 1);
    }

    public int features(Shape physical) {
        return physical.dim(3);
    }

    /** Names of the four axes in physical order, for messages. */
    public String axes(char featureAxis) {
        return this == BHND ? "[B, H, N, " + featureAxis + "]" : "[B, N, H, " + featureAxis + "]";
    }

    /** Element offset of row (b, h, t) in a tensor of this layout with the given extents. */
    public long rowOffset(int b, int h, int t, int heads, int tokens, int features) {
        long row = this == BHND
                ? ((long) b * heads + h) * tokens + t
                : ((long) b * tokens + t) * heads + h;
        return row * features;
    }

    /** Elements between token t and t+1 of one (b, h) sequence. */
    public long tokenStride(int heads, int features) {
        return this == BHND ? features : (long) heads * features;
    }
}
