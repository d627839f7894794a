package dev.la2.spi;

/**
 * Conversions between float or double and the 16-bit storage types, rounding to nearest even
 * once: a NaN stays a NaN, signed zeros and infinities are kept, values past the largest finite
 * one overflow to infinity and small ones round to subnormals.
 */
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

    /** {@code value} rounded once to nearest even bf16 (not through the nearest float, see {@link #toOddFloat}). */
    public static short toBf16(double value) {
        return toBf16(toOddFloat(value));
    }

    public static float fromBf16(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    public static short toFp16(float value) {
        return Float.floatToFloat16(value);
    }

    /** {@code value} rounded once to nearest even fp16 (not through the nearest float, see {@link #toOddFloat}). */
    public static short toFp16(double value) {
        return Float.floatToFloat16(toOddFloat(value));
    }

    public static float fromFp16(short bits) {
        return Float.float16ToFloat(bits);
    }

    /**
     * {@code value} rounded to float toward zero, with the last bit set when that dropped anything
     * (round to odd). Rounding the nearest float to 16 bits would round twice: a double just past
     * a 16-bit midpoint can round to the midpoint itself as a float, and the tie then goes to even,
     * the wrong way. The odd last bit keeps "past the midpoint" visible, and since float carries at
     * least two more bits than a 16-bit type at every magnitude (subnormals included), rounding
     * the odd float to nearest even 16 bits equals rounding the double directly. A NaN, an
     * infinity, a zero and every value a float holds exactly pass unchanged; a finite value beyond
     * the float range becomes the largest float, which still rounds to a 16-bit infinity.
     */
    static float toOddFloat(double value) {
        float nearest = (float) value;
        if (nearest == value || Double.isNaN(value)) {
            return nearest;
        }
        int bits = Float.floatToRawIntBits(nearest);
        if (Math.abs((double) nearest) > Math.abs(value)) {
            bits--; // rounded away from zero: one step back toward it (sign and magnitude)
        }
        return Float.intBitsToFloat(bits | 1);
    }
}
