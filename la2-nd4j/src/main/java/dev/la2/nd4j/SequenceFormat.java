package dev.la2.nd4j;

import dev.la2.api.Layout;

/**
 * How a sequence array (q, k, v, the output and their gradients) is laid out in an INDArray.
 *
 * <p>NWC is BNHD with each token's {@code H*F} features split into heads, so a dense NWC array
 * is passed to la2 as it is. NCW puts features before time; la2 has no such layout, so NCW
 * arrays take one dense copy each way.
 */
public enum SequenceFormat {
    /** [B, H, N, F], rank 4. */
    BHND,
    /** [B, N, H, F], rank 4. */
    BNHD,
    /** DL4J's default recurrent layout [minibatch, H*F, N], rank 3. */
    NCW,
    /** DL4J's channels-last recurrent layout [minibatch, N, H*F], rank 3. */
    NWC;

    /** The la2 layout the arrays are handed over in. */
    public Layout layout() {
        return this == BHND ? Layout.BHND : Layout.BNHD;
    }

    /** Expected rank of a sequence array in this format. */
    public int rank() {
        return this == BHND || this == BNHD ? 4 : 3;
    }
}
