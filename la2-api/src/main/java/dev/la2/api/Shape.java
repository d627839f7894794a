package dev.la2.api;

import java.util.Arrays;

/** Immutable tensor extents, outermost first. Every extent is at least 1. */
public final class Shape {
    private final int[] dims;

    private Shape(int[] dims) {
        this.dims = dims;
    }

    /**
     * @throws La2ArgumentException naming "shape" if there are no extents, one is below 1, or the
     *     element count overflows a long
     */
    public static Shape of(int... dims) {
        if (dims == null || dims.length == 0) {
            throw new La2ArgumentException("shape", "no extents", "at least one");
        }
        int[] copy = dims.clone();
        long count = 1;
        for (int i = 0; i < copy.length; i++) {
            if (copy[i] < 1) {
                throw new La2ArgumentException("shape", "extent " + i + " of " + Arrays.toString(copy) + ", which is " + copy[i],
                        "every extent >= 1");
            }
            try {
                count = Math.multiplyExact(count, copy[i]);
            } catch (ArithmeticException e) {
                throw new La2ArgumentException("shape", Arrays.toString(copy) + ", more than 2^63 elements",
                        "fewer than 2^63 elements");
            }
        }
        return new Shape(copy);
    }

    public int rank() {
        return dims.length;
    }

    public int dim(int axis) {
        return dims[axis];
    }

    public int[] dims() {
        return dims.clone();
    }

    public long elementCount() {
        long count = 1;
        for (int d : dims) {
            count *= d;
        }
        return count;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape other && Arrays.equals(dims, other.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return Arrays.toString(dims);
    }
}
