package dev.la2.spi;

/** Conversions between float and the 16-bit storage types, rounding to nearest even. */
public final class HalfFloats {
    private HalfFloats() {
    }

    public static short toBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x0040); // keep it a NaN after truncation
        }
        bits += 0x7FFF + ((bits >>> 16) & 1);
        return (short) (bits >>> 16);
    }

    public static float fromBf16(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    public static short toFp16(float value) {
        return Float.floatToFloat16(value);
    }

    public static float fromFp16(short bits) {
        return Float.float16ToFloat(bits);
    }
}
