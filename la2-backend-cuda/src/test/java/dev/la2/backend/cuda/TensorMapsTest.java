package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.spi.AttentionShape;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the tensor maps' dimensions and strides, and which operands they can describe. */
class TensorMapsTest {

    @Test
    void dimensionsAndByteStridesFollowTheLayout() {
        AttentionShape bhnd = new AttentionShape(2, 3, 100, 128, 128, Layout.BHND, DType.BF16);
        assertThat(TensorMaps.Operand.of(bhnd, 4096, DType.BF16, 128))
                .isEqualTo(new TensorMaps.Operand(4096, DType.BF16, 128, 100, 3, 2, 256, 100 * 256, 3 * 100 * 256));
        AttentionShape bnhd = new AttentionShape(2, 3, 100, 128, 128, Layout.BNHD, DType.FP16);
        assertThat(TensorMaps.Operand.of(bnhd, 4096, DType.FP16, 128))
                .isEqualTo(new TensorMaps.Operand(4096, DType.FP16, 128, 100, 3, 2, 3 * 256, 256, 100 * 3 * 256));
    }

    @Test
    void onlyAligned16BitAndFp32OperandsOf128ColumnsAreDescribable() {
        AttentionShape s = new AttentionShape(2, 3, 100, 128, 128, Layout.BHND, DType.BF16);
        assertThat(TensorMaps.Operand.of(s, 4096, DType.BF16, 128).describable()).isTrue();
        assertThat(TensorMaps.Operand.of(s, 4096 + 8, DType.BF16, 128).describable()).as("base 8-byte aligned").isFalse();
        AttentionShape f = new AttentionShape(2, 3, 100, 128, 128, Layout.BNHD, DType.FP32);
        assertThat(TensorMaps.Operand.of(f, 4096, DType.FP32, 128)).as("fp32: 512 bytes a row")
                .isEqualTo(new TensorMaps.Operand(4096, DType.FP32, 128, 100, 3, 2, 3 * 512, 512, 100 * 3 * 512));
        assertThat(TensorMaps.Operand.of(f, 4096, DType.FP32, 128).describable()).as("fp32").isTrue();
        assertThat(TensorMaps.Operand.of(f, 4096 + 4, DType.FP32, 128).describable()).as("fp32, base 4-byte aligned").isFalse();
        assertThat(TensorMaps.Operand.of(f, 4096, DType.FP32, 64).describable()).as("fp32, 64 columns").isFalse();
        assertThat(TensorMaps.Operand.of(s, 4096, DType.BF16, 64).describable()).as("64 columns").isFalse();
        assertThat(new TensorMaps.Operand(4096, DType.BF16, 128, 100, 3, 2, 264, 100 * 264, 3 * 100 * 264).describable())
                .as("token stride of 132 elements").isFalse();
        assertThat(new TensorMaps.Operand(4096, DType.BF16, 128, 100, 3, 2, 256, 1L << 40, 1L << 41).describable())
                .as("strides of 2^40 bytes").isFalse();
    }
}
