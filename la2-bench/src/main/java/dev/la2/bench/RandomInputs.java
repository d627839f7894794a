package dev.la2.bench;

import dev.la2.api.DType;
import dev.la2.spi.HalfFloats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Inputs drawn as SPEC.md section 3 prescribes: q, k ~ N(0, 1/D), v ~ N(0, 1). The values do not
 * depend on the layout (they are i.i.d.), so one array serves BHND and BNHD tensors alike.
 */
public final class RandomInputs {
    private RandomInputs() {
    }

    public static float[] normal(long count, double stdDev, SplittableRandom random) {
        float[] out = new float[Math.toIntExact(count)];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (random.nextGaussian() * stdDev);
        }
        return out;
    }

    public static float[] queries(BenchProblem p, SplittableRandom random) {
        return normal(p.keyElements(), 1 / Math.sqrt(p.keyDim()), random);
    }

    public static float[] values(BenchProblem p, SplittableRandom random) {
        return normal(p.valueElements(), 1, random);
    }

    /** Values drawn per tiled block: enough that no cache line or tile sees a repeat within a call's reach. */
    static final int TILE = 1 << 22;

    /**
     * {@code count} elements of {@code dtype} (raw, native byte order, ready for
     * {@code Tensor.copyFrom(MemorySegment)}), made of one block of up to {@value #TILE} Gaussian
     * values repeated. Kernel speed does not depend on the values, and drawing billions of Gaussians
     * and converting them in Java would take far longer than the runs being measured.
     */
    public static MemorySegment tiled(Arena arena, DType dtype, long count, double stdDev, SplittableRandom random) {
        int block = (int) Math.min(count, TILE);
        int size = dtype.byteSize();
        MemorySegment tile = arena.allocate((long) block * size, 64);
        for (int i = 0; i < block; i++) {
            float x = (float) (random.nextGaussian() * stdDev);
            switch (dtype) {
                case FP32 -> tile.setAtIndex(ValueLayout.JAVA_FLOAT, i, x);
                case FP64 -> tile.setAtIndex(ValueLayout.JAVA_DOUBLE, i, x);
                case BF16 -> tile.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toBf16(x));
                case FP16 -> tile.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.toFp16(x));
            }
        }
        MemorySegment out = arena.allocate(count * size, 64);
        for (long done = 0; done < out.byteSize(); done += tile.byteSize()) {
            MemorySegment.copy(tile, 0, out, done, Math.min(tile.byteSize(), out.byteSize() - done));
        }
        return out;
    }
}
