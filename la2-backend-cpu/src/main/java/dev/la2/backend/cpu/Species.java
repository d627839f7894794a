package dev.la2.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector shapes every Vector API kernel uses, fixed for the JVM: {@code static final}
 * constants, so that the JIT folds them. The float species is the preferred one unless the system
 * property {@code la2.cpu.vectorBits} names 64, 128, 256 or 512.
 */
final class Species {
    static final VectorSpecies<Float> F = species();
    static final int L = F.length();
    /** Four vectors per row need 16 accumulators: only 512-bit machines (32 registers) hold them all. */
    static final boolean WIDE = F.vectorBitSize() >= 512;
    static final VectorSpecies<Integer> I = F.withLanes(int.class);
    /** L shorts: half the float vector's bits (none below 128-bit floats, which keep the scalar loops). */
    static final VectorSpecies<Short> H =
            F.vectorBitSize() >= 128 ? VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : null;
    /** Doubles in the float vector's bits: each float vector widens into two of these. */
    static final VectorSpecies<Double> DOUBLES =
            F.vectorBitSize() >= 128 ? VectorSpecies.of(double.class, VectorShape.forBitSize(F.vectorBitSize())) : null;

    private Species() {
    }

    private static VectorSpecies<Float> species() {
        int bits = Integer.getInteger(CpuProvider.VECTOR_BITS_PROPERTY, FloatVector.SPECIES_PREFERRED.vectorBitSize());
        return switch (bits) {
            case 64 -> FloatVector.SPECIES_64;
            case 128 -> FloatVector.SPECIES_128;
            case 256 -> FloatVector.SPECIES_256;
            case 512 -> FloatVector.SPECIES_512;
            default -> FloatVector.SPECIES_PREFERRED;
        };
    }

    /** For example "512-bit FloatVector (AVX-512)". */
    static String describe() {
        return F.vectorBitSize() + "-bit FloatVector" + switch (F.vectorBitSize()) {
            case 512 -> " (AVX-512)";
            case 256 -> " (AVX2)";
            default -> "";
        };
    }
}
