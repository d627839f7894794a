package dev.la2.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Packs one kernel parameter struct of params.cuh, field by named field: every field is 8 bytes
 * (a pointer, i64 or double), so field i sits at byte 8 i ({@link ParamLayouts} mirrors the
 * structs, ParamLayoutTest checks the mirror). {@link #bytes()} refuses a struct with a field
 * left unset.
 */
final class KernelArgs<F extends Enum<F> & ParamLayouts.Field> {
    private final ByteBuffer buf;
    private final boolean[] set;
    private final F[] fields;

    private KernelArgs(Class<F> struct) {
        fields = struct.getEnumConstants();
        buf = ByteBuffer.allocate(fields.length * 8).order(ByteOrder.nativeOrder());
        set = new boolean[fields.length];
    }

    static <F extends Enum<F> & ParamLayouts.Field> KernelArgs<F> of(Class<F> struct) {
        return new KernelArgs<>(struct);
    }

    KernelArgs<F> ptr(F field, long address) {
        return put(field, ParamLayouts.Kind.PTR).putLong(field, address);
    }

    /** The tensor's device address, or null (0) for an absent optional tensor. */
    KernelArgs<F> ptr(F field, CudaTensor t) {
        return ptr(field, t == null ? 0L : t.address());
    }

    KernelArgs<F> i64(F field, long value) {
        return put(field, ParamLayouts.Kind.I64).putLong(field, value);
    }

    KernelArgs<F> f64(F field, double value) {
        put(field, ParamLayouts.Kind.F64);
        buf.putDouble(8 * field.ordinal(), value);
        return this;
    }

    byte[] bytes() {
        for (int i = 0; i < set.length; i++) {
            if (!set[i]) {
                throw new IllegalStateException("kernel parameters: " + fields[i] + " of " + fields[i].getDeclaringClass().getSimpleName()
                        + " not set");
            }
        }
        return buf.array().clone();
    }

    private KernelArgs<F> put(F field, ParamLayouts.Kind kind) {
        if (field.kind() != kind) {
            throw new IllegalArgumentException(field + " is " + field.kind() + ", not " + kind);
        }
        set[field.ordinal()] = true;
        return this;
    }

    private KernelArgs<F> putLong(F field, long value) {
        buf.putLong(8 * field.ordinal(), value);
        return this;
    }
}
