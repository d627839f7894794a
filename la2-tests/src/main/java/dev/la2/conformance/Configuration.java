package dev.la2.conformance;

import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.Precision;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** A storage type and, for FP32, a precision: the kit runs every case once per configuration. */
record Configuration(DType dtype, Precision precision) {

    /** What {@code la} offers: each storage type, FP32 once per precision, in a stable order. */
    static List<Configuration> of(LightningAttention la) {
        List<Configuration> out = new ArrayList<>();
        for (DType dtype : la.dtypes().stream().sorted().toList()) {
            if (dtype == DType.FP32) {
                for (Precision p : la.precisions().stream().sorted().toList()) {
                    out.add(new Configuration(dtype, p));
                }
            } else {
                out.add(new Configuration(dtype, Precision.STRICT));
            }
        }
        return out;
    }

    /** Random inputs of {@code c}, stored in this configuration's type on {@code la}. */
    Fixture fixture(LightningAttention la, Case c, SplittableRandom rng) {
        return Fixture.random(la, dtype, precision, c, rng);
    }

    @Override
    public String toString() {
        return dtype == DType.FP32 ? dtype + "/" + precision : dtype.toString();
    }
}
