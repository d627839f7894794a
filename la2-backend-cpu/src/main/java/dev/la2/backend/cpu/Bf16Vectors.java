package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.Species.F;
import static dev.la2.backend.cpu.Species.H;
import static dev.la2.backend.cpu.Species.I;
import static dev.la2.backend.cpu.Species.L;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The bf16 conversions of {@link Kernels} on the Vector API, over whole vectors: each returns how
 * many elements it converted, and the caller's scalar loop does the rest. Only with {@link Species#H}.
 */
final class Bf16Vectors {
    private Bf16Vectors() {
    }

    /** bf16 is the high half of a float: widen each short to an int and shift it into place. */
    static int widen(MemorySegment seg, long offset, float[] dst, int at, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            ShortVector s = ShortVector.fromMemorySegment(H, seg, offset + 2L * i, ByteOrder.nativeOrder());
            ((IntVector) s.convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats().intoArray(dst, at + i);
        }
        return i;
    }

    /**
     * Round to nearest even on the bits (add 0x7FFF plus the lowest kept bit, keep the high half),
     * a NaN truncated with a mantissa bit set so it stays a NaN: {@code HalfFloats.toBf16} lane by
     * lane, since the JIT does not vectorize the element loop.
     */
    static int narrow(float[] src, int at, MemorySegment seg, long offset, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector f = FloatVector.fromArray(F, src, at + i);
            IntVector bits = f.reinterpretAsInts();
            IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
            IntVector rounded = bits.add(high.and(1)).add(0x7FFF).lanewise(VectorOperators.LSHR, 16);
            IntVector kept = rounded.blend(high.or(0x40), f.test(VectorOperators.IS_NAN).cast(I));
            kept.convertShape(VectorOperators.I2S, H, 0).reinterpretAsShorts()
                    .intoMemorySegment(seg, offset + 2L * i, ByteOrder.nativeOrder());
        }
        return i;
    }
}
