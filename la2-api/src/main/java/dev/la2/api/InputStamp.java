package dev.la2.api;

import dev.la2.spi.TrackedTensor;
import java.lang.ref.WeakReference;
import java.util.Arrays;

/**
 * What a kept forward remembers of an input that its backward must find unchanged (the initial
 * state). A {@link TrackedTensor} is remembered by identity and version, so the usual backward,
 * on the very tensor the forward read, compares two numbers and reads nothing back from a device.
 * Host tensors are remembered by value (reading them is a host copy).
 */
final class InputStamp {
    private static final InputStamp ABSENT = new InputStamp(null, -1, null);

    private final WeakReference<Tensor> tensor;
    private final long version;
    private final double[] values;

    private InputStamp(Tensor tensor, long version, double[] values) {
        this.tensor = tensor == null ? null : new WeakReference<>(tensor);
        this.version = version;
        this.values = values;
    }

    static InputStamp of(Tensor t) {
        if (t == null) {
            return ABSENT;
        }
        return t instanceof TrackedTensor tracked ? new InputStamp(t, tracked.version(), null)
                : new InputStamp(t, -1, t.toDoubleArray());
    }

    boolean isAbsent() {
        return tensor == null;
    }

    /**
     * Whether {@code t} holds what was stamped. Only where {@code t} is another tracked tensor than
     * the stamped one are both read back and compared by value.
     */
    boolean matches(Tensor t) {
        if (t == null || tensor == null) {
            return t == null && tensor == null;
        }
        if (values != null) {
            return !(t instanceof TrackedTensor) && Arrays.equals(values, t.toDoubleArray());
        }
        Tensor stamped = tensor.get();
        if (stamped == t) {
            return ((TrackedTensor) t).version() == version;
        }
        return stamped instanceof TrackedTensor s && !s.isClosed() && s.version() == version
                && s.shape().equals(t.shape()) && Arrays.equals(s.toDoubleArray(), t.toDoubleArray());
    }
}
