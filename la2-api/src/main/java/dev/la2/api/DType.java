package dev.la2.api;

/** Storage type of a tensor's elements. Arithmetic is at least fp32 whatever the storage. */
public enum DType {
    FP32(4),
    FP64(8),
    /** bfloat16 storage, fp32 accumulation. */
    BF16(2),
    /** IEEE half storage, fp32 accumulation. */
    FP16(2);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    /**
     * The type recurrent states and decay rates are held in when sequences are stored in this
     * type: FP64 for FP64, FP32 otherwise (SPEC.md section 3: states are fp32).
     */
    public DType stateType() {
        return this == FP64 ? FP64 : FP32;
    }
}
