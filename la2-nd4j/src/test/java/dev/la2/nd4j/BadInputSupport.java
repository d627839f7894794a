package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What {@link AdapterBadInputTest} and {@link LayerBadInputTest} share: their seed, the random extents
 * they draw, shape text for messages, exact (NaN-exact) comparisons, snapshots of the caller's arrays,
 * and the text of an exception's cause chain.
 */
final class BadInputSupport {
    /** Seeded from {@code -Dla2.seed} (default: the clock); both tests print it and put it in every message. */
    static final long SEED = Long.getLong("la2.seed", System.nanoTime());

    private BadInputSupport() {
    }

    /** 1 to max, 1 a third of the time: extents of 1 are where degenerate paths (vectors, scalars) hide. */
    static int small(Random r, int max) {
        return r.nextInt(3) == 0 ? 1 : 1 + r.nextInt(max);
    }

    /** One of the options, uniformly. */
    static <T> T pick(Random r, List<T> options) {
        return options.get(r.nextInt(options.size()));
    }

    /** A different extent >= lowest. */
    static int other(Random r, int x, int lowest) {
        return x == lowest || r.nextBoolean() ? x + 1 + r.nextInt(2) : Math.max(lowest, x - 1 - r.nextInt(2));
    }

    static String shape(INDArray a) {
        return Arrays.toString(a.shape());
    }

    static String shape(long... s) {
        return Arrays.toString(s);
    }

    /** Values as doubles (NaN-exact through Arrays.equals), or an empty array for an empty INDArray. */
    static double[] values(INDArray a) {
        return a.isEmpty() ? new double[0] : TestData.doubles(a);
    }

    /** An array as the caller handed it over, to check a call left it exactly so. */
    record Snapshot(INDArray array, INDArray copy, long[] shape, long[] stride, DataType type, double[] data) {
        static Snapshot of(INDArray a) {
            return new Snapshot(a, a.isEmpty() ? null : a.dup(), a.shape().clone(), a.stride().clone(), a.dataType(),
                    values(a));
        }

        void assertUnchanged(String name, String ctx) {
            assertThat(array.shape()).as("%s: shape of caller's %s", ctx, name).containsExactly(shape);
            assertThat(array.stride()).as("%s: strides of caller's %s", ctx, name).containsExactly(stride);
            assertThat(array.dataType()).as("%s: data type of caller's %s", ctx, name).isEqualTo(type);
            assertThat(Arrays.equals(values(array), data))
                    .as("%s: caller's %s changed by a refused call", ctx, name).isTrue();
            if (copy != null) {
                assertThat(Arrays.equals(values(copy), data)).as("%s: dup() snapshot of %s", ctx, name).isTrue();
            }
        }
    }

    /** Same shape and the same values, NaN-exact. */
    static void assertExactlyEqual(INDArray got, INDArray want, String what) {
        assertThat(got.shape()).as(what).containsExactly(want.shape());
        assertThat(Arrays.equals(values(got), values(want)))
                .as("%s: differs (exact comparison)%n%s%nvs%n%s", what, got, want).isTrue();
    }

    /** Every message in the cause chain (and suppressed exceptions), one per line. */
    static String chain(Throwable t) {
        StringBuilder sb = new StringBuilder();
        Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        List<Throwable> todo = new ArrayList<>(List.of(t));
        while (!todo.isEmpty()) {
            Throwable x = todo.remove(0);
            if (x == null || seen.put(x, Boolean.TRUE) != null) {
                continue;
            }
            sb.append(x.getClass().getName()).append(": ").append(x.getMessage()).append('\n');
            StackTraceElement[] st = x.getStackTrace();
            for (int i = 0; i < Math.min(4, st.length); i++) {
                sb.append("    at ").append(st[i]).append('\n');
            }
            todo.add(x.getCause());
            todo.addAll(Arrays.asList(x.getSuppressed()));
        }
        return sb.toString();
    }

    /** What the call throws; an error if it returns, or if it runs out of memory or stack (a crash, not a refusal). */
    static Throwable thrownBy(Supplier<?> call, String ctx) {
        try {
            call.get();
        } catch (Throwable t) {
            if (t instanceof OutOfMemoryError || t instanceof StackOverflowError) {
                throw new AssertionError(ctx + ": " + t, t);
            }
            return t;
        }
        throw new AssertionError(ctx + ": the call was accepted; expected an exception");
    }
}
