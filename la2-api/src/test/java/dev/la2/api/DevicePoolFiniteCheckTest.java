package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.spi.AttentionBackend;
import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The finite check of a pooled call on a pool outside host memory (SPEC.md sections 3 and 8), as
 * a device backend's: it copies the named slots only, each through the backend's view, and names a
 * non-finite element by its index in the whole pool. The "device" tensors here are host tensors
 * behind a wrapper that is no {@link HostTensor}, so the check takes its copying path.
 */
class DevicePoolFiniteCheckTest {
    private static final int SLOTS = 5, H = 2, D = 3, E = 4;

    /** A tensor the check cannot read in place; it records each copy out of it. */
    private record Remote(HostTensor data, List<String> copies) implements Tensor {
        public Shape shape() { return data.shape(); }
        public DType dtype() { return data.dtype(); }
        public String backend() { return data.backend(); }
        public boolean isClosed() { return data.isClosed(); }
        public void copyFrom(float[] src) { data.copyFrom(src); }
        public void copyFrom(double[] src) { data.copyFrom(src); }
        public void copyFrom(MemorySegment src) { data.copyFrom(src); }
        public void copyTo(float[] dst) { copies.add(shape().toString()); data.copyTo(dst); }
        public void copyTo(double[] dst) { copies.add(shape().toString()); data.copyTo(dst); }
        public void copyTo(MemorySegment dst) { copies.add(shape().toString()); data.copyTo(dst); }
        public void fill(double value) { data.fill(value); }
        public void close() { data.close(); }
    }

    /** A backend that can only view its Remote tensors: all the check may ask of it. */
    private static AttentionBackend viewing(List<String> copies) {
        return (AttentionBackend) Proxy.newProxyInstance(AttentionBackend.class.getClassLoader(),
                new Class<?>[] {AttentionBackend.class}, (proxy, method, args) -> {
                    if (method.getName().equals("view")) {
                        Remote t = (Remote) args[0];
                        return new Remote(t.data().view((long) args[1], (Shape) args[2]), copies);
                    }
                    throw new AssertionError("the finite check called " + method.getName());
                });
    }

    @Test
    void namedSlotsAreCopiedOneByOneAndReportedInPoolCoordinates() {
        List<String> copies = new ArrayList<>();
        AttentionBackend backend = viewing(copies);
        float[] values = new float[SLOTS * H * D * E];
        values[1 * H * D * E + 7] = Float.NaN; // slot 1: named by no call
        values[3 * H * D * E + D * E + 2 * E + 1] = Float.NEGATIVE_INFINITY; // slot 3, h 1, d 2, e 1
        try (HostTensor host = HostTensor.allocate(null, "remote", DType.FP32, Shape.of(SLOTS, H, D, E))) {
            host.copyFrom(values);
            Remote pool = new Remote(host, copies);
            FiniteCheck.pool(pool, new int[] {0, -1, 4}, backend);
            assertThat(copies).containsExactly("[1, 2, 3, 4]", "[1, 2, 3, 4]");
            copies.clear();
            assertThatThrownBy(() -> FiniteCheck.pool(pool, new int[] {2, 3}, backend))
                    .isInstanceOf(La2ArgumentException.class)
                    .hasMessage("pool: got -Infinity at [3, 1, 2, 1] (slot, h, d, e) of shape [5, 2, 3, 4]; expected finite"
                            + " values, since options.checkFinite() is true");
            assertThat(copies).hasSize(2);
        }
    }
}
