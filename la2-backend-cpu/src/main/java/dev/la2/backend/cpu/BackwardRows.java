package dev.la2.backend.cpu;

import dev.la2.spi.BackwardCall;

/** A backward call's tensors as token rows: inputs q, k, v, the output gradient g = dO, and dq, dk, dv. */
record BackwardRows(TokenRows q, TokenRows k, TokenRows v, TokenRows g, TokenRows dq, TokenRows dk, TokenRows dv) {

    static BackwardRows of(BackwardCall call, Kernels kx) {
        return new BackwardRows(TokenRows.of(call.q(), kx), TokenRows.of(call.k(), kx), TokenRows.of(call.v(), kx),
                TokenRows.of(call.dOutput(), kx), TokenRows.of(call.dq(), kx), TokenRows.of(call.dk(), kx),
                TokenRows.of(call.dv(), kx));
    }

    /** The same inputs, the gradients written to {@code dqOut}, {@code dkOut} and {@code dvOut}. */
    BackwardRows writingTo(TokenRows dqOut, TokenRows dkOut, TokenRows dvOut) {
        return new BackwardRows(q, k, v, g, dqOut, dkOut, dvOut);
    }
}
