package dev.la2.nd4j;

import dev.la2.api.BackendInfo;
import dev.la2.api.Backends;
import dev.la2.spi.Availability;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Shared test inputs: fresh random data every run, and the backend the tests run on. */
final class TestData {
    /** Seeded from the clock, printed so a failure can be replayed with -Dla2.test.seed. */
    static final long SEED = Long.getLong("la2.test.seed", System.nanoTime());

    static {
        System.out.println("la2-nd4j tests: seed " + SEED + ", backend " + backend());
    }

    private TestData() {
    }

    /** "cpu" once it is on the test class path and available, else the float64 "reference" backend. */
    static String backend() {
        String forced = System.getProperty("la2.test.backend");
        if (forced != null) {
            return forced;
        }
        for (BackendInfo info : Backends.discover()) {
            if (info.name().equals("cpu") && info.availability() instanceof Availability.Available) {
                return "cpu";
            }
        }
        return "reference";
    }

    static Random random(String salt) {
        return new Random(SEED ^ salt.hashCode());
    }

    /** Normal entries with the given standard deviation. */
    static INDArray normal(Random r, DataType type, double std, long... shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        double[] data = new double[Math.toIntExact(n)];
        for (int i = 0; i < data.length; i++) {
            data[i] = r.nextGaussian() * std;
        }
        return Nd4j.create(data, shape, 'c').castTo(type);
    }

    static double[] doubles(INDArray a) {
        return a.castTo(DataType.DOUBLE).dup('c').data().asDouble();
    }

    /** ||x - ref|| / ||ref||, NaN if x holds a NaN. */
    static double relativeError(double[] x, double[] ref) {
        if (x.length != ref.length) {
            throw new IllegalArgumentException("lengths " + x.length + " and " + ref.length);
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < x.length; i++) {
            if (Double.isNaN(x[i])) {
                return Double.NaN;
            }
            num += (x[i] - ref[i]) * (x[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, Double.MIN_NORMAL));
    }
}
