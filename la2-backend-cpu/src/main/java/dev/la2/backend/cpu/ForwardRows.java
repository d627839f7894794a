package dev.la2.backend.cpu;

import dev.la2.spi.ForwardCall;

/** A forward call's tensors as token rows: inputs q, k, v and the output o. */
record ForwardRows(TokenRows q, TokenRows k, TokenRows v, TokenRows o) {

    static ForwardRows of(ForwardCall call, Kernels kx) {
        return new ForwardRows(TokenRows.of(call.q(), kx), TokenRows.of(call.k(), kx), TokenRows.of(call.v(), kx),
                TokenRows.of(call.output(), kx));
    }

    /** The same inputs, the output written to {@code out}. */
    ForwardRows writingTo(TokenRows out) {
        return new ForwardRows(q, k, v, out);
    }
}
