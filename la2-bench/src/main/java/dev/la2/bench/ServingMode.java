package dev.la2.bench;

/** What a {@link ServingBench} times (SPEC.md section 8), each beside its dense counterpart. */
public enum ServingMode {
    /** A packed forward of sequences of different lengths, beside an equal-length batch of as many tokens. */
    PACKED_FWD("packed-fwd"),
    /** A packed forward and backward, beside the same on an equal-length batch. */
    PACKED_FWDBWD("packed-fwdbwd"),
    /** One decode step of S sequences by pool slot, beside the dense decode of S sequences. */
    SLOT_DECODE("slot-decode");

    private final String label;

    ServingMode(String label) {
        this.label = label;
    }

    /** The name {@code la2 bench --mode} takes and the JSON rows carry. */
    public String label() {
        return label;
    }

    public boolean packed() {
        return this != SLOT_DECODE;
    }

    public boolean backward() {
        return this == PACKED_FWDBWD;
    }
}
