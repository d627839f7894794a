package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.la2.spi.HalfFloats;
import dev.la2.spi.HostTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class HostTensorTest {
    private final Object owner = new Object();

    @Test
    void roundTripsEveryDtype() {
        float[] data = {1f, -2.5f, 3.25f, 0f, 1e-3f, -7f};
        for (DType t : DType.values()) {
            try (HostTensor x = HostTensor.allocate(owner, "test", t, Shape.of(2, 3))) {
                x.copyFrom(data);
                float[] back = x.toFloatArray();
                for (int i = 0; i < data.length; i++) {
                    assertThat(back[i]).as("%s element %d", t, i).isCloseTo(data[i], org.assertj.core.data.Percentage.withPercentage(0.5));
                }
            }
        }
    }

    @Test
    void bf16RoundsToNearestEvenAndKeepsNan() {
        // 1 + 2^-8 lies exactly between two bf16 values (1 and 1 + 2^-7): ties go to the even one, 1.
        assertThat(HalfFloats.fromBf16(HalfFloats.toBf16(1f + 0x1p-8f))).isEqualTo(1f);
        assertThat(HalfFloats.fromBf16(HalfFloats.toBf16(1f + 0x1p-8f + 0x1p-12f))).isEqualTo(1f + 0x1p-7f);
        assertThat(HalfFloats.fromBf16(HalfFloats.toBf16(Float.NaN))).isNaN();
        assertThat(HalfFloats.fromFp16(HalfFloats.toFp16(65504f))).isEqualTo(65504f);
    }

    @Test
    void wrapViewsCallerMemoryWithoutCopy() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate(6 * Float.BYTES);
            HostTensor view = HostTensor.wrap(owner, "test", mem, DType.FP32, Shape.of(6));
            view.copyFrom(new float[] {1, 2, 3, 4, 5, 6});
            assertThat(mem.getAtIndex(ValueLayout.JAVA_FLOAT, 4)).isEqualTo(5f);
            assertThatThrownBy(() -> HostTensor.wrap(owner, "test", mem, DType.FP32, Shape.of(7)))
                    .hasMessageStartingWith("memory: got 24 bytes; expected 28 bytes");
        }
    }

    @Test
    void liveBytesFollowAllocationAndClose() {
        long before = HostTensor.liveBytes();
        HostTensor x = HostTensor.allocate(owner, "test", DType.FP64, Shape.of(1000));
        assertThat(HostTensor.liveBytes() - before).isEqualTo(8000);
        assertThat(HostTensor.peakBytes()).isGreaterThanOrEqualTo(before + 8000);
        x.close();
        x.close();
        assertThat(HostTensor.liveBytes()).isEqualTo(before);
        assertThatThrownBy(x::segment).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void copiesCheckLengths() {
        try (HostTensor x = HostTensor.allocate(owner, "test", DType.FP32, Shape.of(3))) {
            assertThatThrownBy(() -> x.copyFrom(new float[4]))
                    .hasMessage("src: got an array of 4 elements; expected 3 elements (FP32 [3])");
        }
    }

    @Test
    void layoutOffsets() {
        Shape bnhd = Layout.BNHD.shape(2, 3, 5, 4);
        assertThat(bnhd).isEqualTo(Shape.of(2, 5, 3, 4));
        assertThat(Layout.BNHD.heads(bnhd)).isEqualTo(3);
        assertThat(Layout.BNHD.tokens(bnhd)).isEqualTo(5);
        assertThat(Layout.BNHD.rowOffset(1, 2, 4, 3, 5, 4)).isEqualTo(((1L * 5 + 4) * 3 + 2) * 4);
        assertThat(Layout.BHND.rowOffset(1, 2, 4, 3, 5, 4)).isEqualTo(((1L * 3 + 2) * 5 + 4) * 4);
        assertThat(Layout.BNHD.tokenStride(3, 4)).isEqualTo(12);
    }

    @Test
    void nullArraysAndSegmentsAreRefusedByName() {
        try (HostTensor x = HostTensor.allocate(owner, "test", DType.FP32, Shape.of(2, 3))) {
            x.fill(1);
            assertThatThrownBy(() -> x.copyFrom((float[]) null)).isInstanceOf(La2ArgumentException.class)
                    .hasMessage("src: got null; expected an array of 6 elements (FP32 [2, 3])");
            assertThatThrownBy(() -> x.copyFrom((double[]) null)).isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("src: got null;");
            assertThatThrownBy(() -> x.copyFrom((MemorySegment) null)).isInstanceOf(La2ArgumentException.class)
                    .hasMessage("src: got null; expected a memory segment");
            assertThatThrownBy(() -> x.copyTo((float[]) null)).isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("dst: got null;");
            assertThatThrownBy(() -> x.copyTo((double[]) null)).isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("dst: got null;");
            assertThatThrownBy(() -> x.copyTo((MemorySegment) null)).isInstanceOf(La2ArgumentException.class)
                    .hasMessageStartingWith("dst: got null;");
            assertThat(x.toFloatArray()).containsOnly(1f);
        }
    }
}
