package dev.la2.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Packs a kernel's parameter struct: every field of the C structs in la2_kernels.cu is 8 bytes
 * (pointers, long long, double), so the layout is the field order with no padding.
 */
final class Params {
    private final ByteBuffer buf;

    Params(int fields) {
        buf = ByteBuffer.allocate(fields * 8).order(ByteOrder.nativeOrder());
    }

    Params ptr(long address) {
        buf.putLong(address);
        return this;
    }

    Params ptr(CudaTensor t) {
        buf.putLong(t == null ? 0L : t.address());
        return this;
    }

    Params i64(long value) {
        buf.putLong(value);
        return this;
    }

    Params f64(double value) {
        buf.putDouble(value);
        return this;
    }

    byte[] bytes() {
        if (buf.hasRemaining()) {
            throw new IllegalStateException("kernel parameters: " + buf.position() / 8 + " of " + buf.capacity() / 8 + " fields set");
        }
        return buf.array();
    }
}
