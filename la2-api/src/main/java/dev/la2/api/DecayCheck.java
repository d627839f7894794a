package dev.la2.api;

import dev.la2.spi.TrackedTensor;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Validates decay rates (finite, non-negative: SPEC.md section 1) and remembers, per tracked
 * tensor, the version it validated: a call on the same device tensor as the last one reads
 * nothing back. Host tensors are read every call (a copy of H numbers).
 */
final class DecayCheck {
    private record Checked(long version, double[] rates) {
    }

    private final Map<Tensor, Checked> checked = Collections.synchronizedMap(new WeakHashMap<>());

    /** The rates of {@code decay}, after checking each; throws naming {@code decay} and the head. */
    double[] rates(Tensor decay) {
        if (decay instanceof TrackedTensor tracked) {
            long version = tracked.version();
            Checked known = checked.get(decay);
            if (known != null && known.version() == version) {
                return known.rates();
            }
            double[] rates = validated(decay);
            checked.put(decay, new Checked(version, rates));
            return rates;
        }
        return validated(decay);
    }

    private static double[] validated(Tensor decay) {
        double[] rates = decay.toDoubleArray();
        for (int i = 0; i < rates.length; i++) {
            if (!(rates[i] >= 0) || Double.isInfinite(rates[i])) {
                // as stored: a float rate printed as a float, not widened to a double's digits
                String rate = decay.dtype() == DType.FP64 ? String.valueOf(rates[i]) : String.valueOf((float) rates[i]);
                throw new La2ArgumentException("decay", "rate " + rate + " for head " + i,
                        "finite rates >= 0 (lambda = exp(-rate); 0 means no decay)");
            }
        }
        return rates;
    }
}
