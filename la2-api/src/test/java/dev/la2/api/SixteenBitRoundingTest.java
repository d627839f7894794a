package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.spi.HostTensor;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Doubles stored as bf16 or fp16 are rounded once, to nearest even, as IEEE 754 asks: against an
 * exact BigDecimal rounding, at and next to every midpoint between adjacent 16-bit values (where
 * rounding through float first goes wrong) and for random doubles of every magnitude.
 */
class SixteenBitRoundingTest {
    private static final Object OWNER = new Object();

    /** The 16-bit format's positive values in order, indexed by bit pattern, ending with infinity's slot. */
    private record Format(DType dtype, double[] values) {
        static Format of(DType dtype) {
            boolean bf16 = dtype == DType.BF16;
            int infinity = bf16 ? 0x7F80 : 0x7C00;
            double[] values = new double[infinity + 1];
            for (int bits = 0; bits < infinity; bits++) {
                values[bits] = bf16 ? Float.intBitsToFloat(bits << 16) : Float.float16ToFloat((short) bits);
            }
            // Where the next binade would begin: at or past the midpoint below it, a value overflows.
            values[infinity] = bf16 ? 0x1p128 : 0x1p16;
            return new Format(dtype, values);
        }

        int infinity() {
            return values.length - 1;
        }

        /** {@code x} rounded to nearest even by exact arithmetic, as a 16-bit pattern; NaN gives -1. */
        int round(double x) {
            if (Double.isNaN(x)) {
                return -1;
            }
            int sign = Double.doubleToRawLongBits(x) < 0 ? 0x8000 : 0;
            double a = Math.abs(x);
            int pos = Arrays.binarySearch(values, a);
            int magnitude;
            if (pos >= 0) {
                magnitude = pos;
            } else if (-pos - 1 > infinity()) {
                magnitude = infinity();
            } else {
                int hi = -pos - 1, lo = hi - 1;
                BigDecimal exact = new BigDecimal(a);
                int c = exact.subtract(new BigDecimal(values[lo])).compareTo(new BigDecimal(values[hi]).subtract(exact));
                magnitude = c < 0 ? lo : c > 0 ? hi : (lo % 2 == 0 ? lo : hi);
            }
            return sign | magnitude;
        }

        boolean isNaN(short bits) {
            int exponent = infinity();
            return (bits & exponent) == exponent && (bits & (0x7FFF & ~exponent)) != 0;
        }
    }

    /** Every midpoint m between adjacent values, and m nudged by one double ulp and by half a float ulp (plus or minus one double ulp). */
    private static double[] nearMidpoints(Format f) {
        double[] v = f.values();
        double[] out = new double[(v.length - 1) * 18];
        int n = 0;
        for (int i = 0; i + 1 < v.length; i++) {
            double m = (v[i] + v[i + 1]) / 2;
            double halfFloatUlp = Math.ulp((float) m) / 2;
            for (double x : new double[] {m, Math.nextUp(m), Math.nextDown(m), m + halfFloatUlp, m - halfFloatUlp,
                    Math.nextUp(m + halfFloatUlp), Math.nextDown(m - halfFloatUlp), Math.nextDown(m + halfFloatUlp),
                    Math.nextUp(m - halfFloatUlp)}) {
                out[n++] = x;
                out[n++] = -x;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** Random bit patterns (every magnitude, NaNs, subnormals) and random values in the format's range. */
    private static double[] random(Format f, SplittableRandom rng, int count) {
        double[] out = new double[count];
        double max = f.values()[f.infinity()];
        for (int i = 0; i < count; i++) {
            out[i] = switch (i % 3) {
                case 0 -> Double.longBitsToDouble(rng.nextLong());
                case 1 -> (rng.nextBoolean() ? -1 : 1) * rng.nextDouble() * max;
                default -> (rng.nextBoolean() ? -1 : 1) * Math.scalb(1 + rng.nextDouble(), rng.nextInt(-160, 130));
            };
        }
        return out;
    }

    private static double[] specials() {
        return new double[] {0.0, -0.0, Double.NaN, -Double.NaN, Double.longBitsToDouble(0x7FF0000000000001L),
            Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.MAX_VALUE, -Double.MAX_VALUE, Double.MIN_VALUE,
            -Double.MIN_VALUE, Float.MAX_VALUE, Math.nextUp((double) Float.MAX_VALUE), Float.MIN_VALUE,
            Float.MIN_VALUE / 2, Math.nextUp(Float.MIN_VALUE / 2.0), -Math.nextUp(Float.MIN_VALUE / 2.0), 65504, 65519.99,
            65520, -65520, 0x1p-24, 0x1p-25, Math.nextUp(0x1p-25), -Math.nextUp(0x1p-25), 0x1p-133, 0x1p-134,
            Math.nextUp(0x1p-134), 1 + 0x1p-8 + 0x1p-40, 1 + 0x1p-11 + 0x1p-40};
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "FP16"})
    void copyFromDoublesRoundsOnceAtAndNextToEveryMidpoint(DType dtype) {
        Format f = Format.of(dtype);
        assertStoredAsRounded(f, nearMidpoints(f));
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "FP16"})
    void copyFromDoublesRoundsRandomAndSpecialValuesOnce(DType dtype) {
        Format f = Format.of(dtype);
        assertStoredAsRounded(f, random(f, new SplittableRandom(0x16B17L + dtype.ordinal()), 300_000));
        assertStoredAsRounded(f, specials());
    }

    /** set and fill take the same rounding as copyFrom. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "FP16"})
    void setAndFillRoundOnce(DType dtype) {
        Format f = Format.of(dtype);
        double[] tricky = Arrays.copyOf(nearMidpoints(f), 4000);
        try (HostTensor t = HostTensor.allocate(OWNER, "test", dtype, Shape.of(tricky.length))) {
            for (int i = 0; i < tricky.length; i++) {
                t.set(i, tricky[i]);
            }
            assertBits(f, tricky, t);
        }
        try (HostTensor t = HostTensor.allocate(OWNER, "test", dtype, Shape.of(1))) {
            for (int i = 0; i < tricky.length; i += 37) {
                t.fill(tricky[i]);
                assertBits(f, new double[] {tricky[i]}, t);
            }
        }
    }

    @Test
    void theReferenceRoundsKnownCases() {
        Format bf16 = Format.of(DType.BF16), fp16 = Format.of(DType.FP16);
        assertThat(bf16.round(1 + 0x1p-8)).isEqualTo(0x3F80);
        assertThat(bf16.round(1 + 0x1p-8 + 0x1p-50)).isEqualTo(0x3F81);
        assertThat(bf16.round(-(1 + 0x1p-7 + 0x1p-8))).isEqualTo(0x8000 | 0x3F82);
        assertThat(fp16.round(65520)).isEqualTo(0x7C00);
        assertThat(fp16.round(Math.nextDown(65520.0))).isEqualTo(0x7BFF);
        assertThat(fp16.round(-0x1p-25)).isEqualTo(0x8000);
        assertThat(fp16.round(Math.nextUp(0x1p-25))).isEqualTo(0x0001);
        assertThat(bf16.round(Double.MAX_VALUE)).isEqualTo(0x7F80);
    }

    private static void assertStoredAsRounded(Format f, double[] values) {
        try (HostTensor t = HostTensor.allocate(OWNER, "test", f.dtype(), Shape.of(values.length))) {
            t.copyFrom(values);
            assertBits(f, values, t);
        }
    }

    private static void assertBits(Format f, double[] values, HostTensor t) {
        int wrong = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            short got = t.segment().getAtIndex(ValueLayout.JAVA_SHORT, i);
            int want = f.round(values[i]);
            boolean ok = want < 0 ? f.isNaN(got) : (got & 0xFFFF) == want;
            if (!ok && wrong++ < 5) {
                first.append(String.format("%n  %s (%s) -> 0x%04X, expected 0x%04X", values[i],
                        Double.toHexString(values[i]), got & 0xFFFF, want));
            }
        }
        assertThat(wrong).as(f.dtype() + ": " + wrong + " of " + values.length + " rounded wrongly, first" + first)
                .isZero();
    }
}
