package dev.la2.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Nd4jKitTest {

    @TempDir
    Path dir;

    @Test
    void ND4JOnTheClassPathIsUsedAsItIs() {
        Nd4jKit kit = Nd4jKit.locate(dir.resolve("absent").toString());
        assertThat(kit.present()).isTrue();
        assertThat(kit.loader()).isSameAs(Nd4jKit.class.getClassLoader());
        assertThat(kit.bench().unavailableReason()).isEmpty();
    }

    @Test
    void withoutTheKitTheDemoSaysWhereItLooked() throws Exception {
        Path missing = dir.resolve("lib-nd4j");
        Cli r = SplitClassPath.ofTests().run(missing, "demo", "--steps", "1");
        assertThat(r.code()).as(r.out()).isEqualTo(2);
        assertThat(r.out()).contains("la2 demo: the demo needs ND4J: nd4j not on class path, and no ND4J kit at " + missing);
    }

    @Test
    void theKitIsLoadedFromItsFolderWhenTheDemoOrTheBaselineRuns() throws Exception {
        SplitClassPath cp = SplitClassPath.ofTests();
        Path kit = cp.linkKit(dir.resolve("kit"));

        Cli help = cp.run(kit, "demo", "--help");
        assertThat(help.code()).as(help.out()).isZero();
        assertThat(help.out()).contains("Usage: la2 demo", "--steps");

        Cli bench = cp.run(kit, "bench", "--backend", "reference", "--n", "8", "--h", "1", "--d", "4", "--e", "4",
                "--warmup", "0", "--warmup-s", "0", "--repeats", "1", "--gemm-size", "32");
        assertThat(bench.code()).as(bench.out()).isZero();
        assertThat(bench.out()).contains("baseline (xND4J = its median / ours): ND4J CpuBackend ops",
                "sgemm ceiling (%sgemm = our GFLOP/s / its): ND4J gemm (CpuBackend)");
    }
}
