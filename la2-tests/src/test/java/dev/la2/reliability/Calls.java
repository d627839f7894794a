package dev.la2.reliability;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.reference.Problem;
import dev.la2.reference.ReferenceMath;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.random.RandomGenerator;

/** Random valid problems in canonical BHND order, their tensors, and reference answers. */
final class Calls {
    private Calls() {
    }

    record Spec(int b, int h, int n, int d, int e, double scale, float[] q, float[] k, float[] v, float[] decay,
                float[] dOut) {

        static Spec random(Random r, int maxN, int maxDim) {
            int b = 1 + r.nextInt(3), h = 1 + r.nextInt(4), n = 1 + r.nextInt(maxN);
            int d = 1 + r.nextInt(maxDim), e = 1 + r.nextInt(maxDim);
            float[] decay = new float[h];
            for (int i = 0; i < h; i++) {
                decay[i] = r.nextInt(4) == 0 ? 0f : (float) (r.nextDouble() * 2);
            }
            return new Spec(b, h, n, d, e, 0.5 + r.nextDouble(), gaussian(r, b * h * n * d, 1 / Math.sqrt(d)),
                    gaussian(r, b * h * n * d, 1 / Math.sqrt(d)), gaussian(r, b * h * n * e, 1), decay,
                    gaussian(r, b * h * n * e, 1));
        }

        Problem problem() {
            return new Problem(b, h, n, d, e);
        }

        Shape keys() {
            return Shape.of(b, h, n, d);
        }

        Shape values() {
            return Shape.of(b, h, n, e);
        }

        AttentionOptions options() {
            return AttentionOptions.defaults().withScale(scale);
        }

        double[] referenceOutput() {
            return ReferenceMath.forwardRecurrent(problem(), wide(q), wide(k), wide(v), wide(decay), null, scale).output();
        }
    }

    /** Uploads a spec's inputs; close the returned list. */
    static final class Uploaded implements AutoCloseable {
        final List<Tensor> tensors = new ArrayList<>();
        final Tensor q, k, v, decay, dOut;

        Uploaded(LightningAttention la, Spec s) {
            q = keep(la.tensor(s.q(), DType.FP32, s.keys()));
            k = keep(la.tensor(s.k(), DType.FP32, s.keys()));
            v = keep(la.tensor(s.v(), DType.FP32, s.values()));
            decay = keep(la.tensor(s.decay(), DType.FP32, Shape.of(s.h())));
            dOut = keep(la.tensor(s.dOut(), DType.FP32, s.values()));
        }

        private Tensor keep(Tensor t) {
            tensors.add(t);
            return t;
        }

        AttentionInputs inputs() {
            return AttentionInputs.of(q, k, v, decay);
        }

        @Override
        public void close() {
            tensors.forEach(Tensor::close);
        }
    }

    static float[] gaussian(RandomGenerator r, int n, double sigma) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * sigma);
        }
        return a;
    }

    static double[] wide(float[] a) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    /** The kit's ||x - ref|| / ||ref|| (NaN when x has a NaN or infinity), for float results. */
    static double relativeError(float[] x, double[] ref) {
        return dev.la2.reference.ErrorNorms.relative(wide(x), ref);
    }

    /**
     * Resident memory outside the Java heap: the resident set (from /proc, Linux) less the committed
     * heap, which the JVM grows or keeps at will and which is not native memory la2 could leak.
     * G1 hands the regions a collection shrank the heap by back to the system concurrently, a
     * hundred milliseconds or so after the committed heap already leaves them out; until then they
     * would read as native memory. So the reading is repeated until it stops falling.
     */
    static long residentNativeBytes() {
        long last = Long.MAX_VALUE;
        for (int attempt = 0; attempt < 25; attempt++) {
            trimMalloc();
            long rss = residentBytes();
            if (rss < 0) {
                return -1;
            }
            long outside = rss - java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
            if (outside > last - (1L << 20)) {
                return Math.min(outside, last);
            }
            last = outside;
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return last;
            }
        }
        return last;
    }

    /**
     * Hands memory the C allocator holds free back to the system (glibc's malloc_trim), where there
     * is one: the JIT compilers and the allocator's per-thread arenas keep freed memory resident,
     * which a reading of resident memory would count as held.
     */
    private static void trimMalloc() {
        java.lang.foreign.Linker linker = java.lang.foreign.Linker.nativeLinker();
        linker.defaultLookup().find("malloc_trim").ifPresent(f -> {
            try {
                linker.downcallHandle(f, java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT,
                        java.lang.foreign.ValueLayout.JAVA_LONG)).invoke(0L);
            } catch (Throwable e) {
                throw new IllegalStateException("malloc_trim", e);
            }
        });
    }

    /** Resident set size of this process in bytes, from /proc (Linux). */
    static long residentBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (java.io.IOException e) {
            return -1;
        }
        return -1;
    }
}
