package dev.la2.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.spi.BackendOptions;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The CPU backend is bitwise reproducible for a given thread count, across calls and instances. */
class DeterminismTest {

    @Test
    void cpuIsBitwiseReproducibleForAGivenThreadCount() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Backends4Test.fast().anyMatch("cpu"::equals),
                "the cpu backend is not on this class path");
        long seed = Long.getLong("la2.seed", System.nanoTime());
        Calls.Spec s = Calls.Spec.random(new Random(seed), 700, 70);
        for (int threads : new int[] {1, 2, 3}) {
            float[][] first = run(threads, s);
            float[][] again = run(threads, s);
            for (int i = 0; i < first.length; i++) {
                assertThat(again[i]).as("threads %d, part %d, seed %d", threads, i, seed).containsExactly(first[i]);
            }
        }
    }

    private static float[][] run(int threads, Calls.Spec s) {
        try (LightningAttention la = LightningAttention.open("cpu", BackendOptions.defaults().withThreads(threads));
             Calls.Uploaded up = new Calls.Uploaded(la, s);
             ForwardResult f = la.forward(up.inputs(), s.options());
             Gradients g = la.backward(up.inputs(), up.dOut, null, s.options().withLearnableDecay(true))) {
            return new float[][] {f.output().toFloatArray(), f.finalState().toFloatArray(), g.dq().toFloatArray(),
                    g.dk().toFloatArray(), g.dv().toFloatArray(), g.dDecay().toFloatArray()};
        }
    }
}
