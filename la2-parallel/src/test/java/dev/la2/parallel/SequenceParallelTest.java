package dev.la2.parallel;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * P = 2, 3 and 5 in-process ranks equal one call over the whole sequence (SPEC.md section 9), on
 * the float64 reference backend and the cpu backend (blocks of 64 tokens): pieces of unequal
 * length, of one token, and not multiples of the block; with and without an initial state, a
 * final-state gradient and a learnable decay; fp32, fp64, bf16 and fp16; both layouts.
 */
class SequenceParallelTest {
    private static LightningAttention reference;
    private static LightningAttention cpu;

    @BeforeAll
    static void open() {
        reference = LightningAttention.open("reference");
        cpu = LightningAttention.open("cpu");
    }

    @AfterAll
    static void close() {
        reference.close();
        cpu.close();
    }

    static Stream<Arguments> cases() {
        List<SplitCase> cases = List.of(
                new SplitCase(DType.FP32, Layout.BHND, new int[] {70, 59}, true, true, true),
                new SplitCase(DType.FP32, Layout.BHND, new int[] {1, 64, 37}, false, false, false),
                new SplitCase(DType.FP32, Layout.BHND, new int[] {33, 1, 65, 7, 20}, true, true, true),
                new SplitCase(DType.FP32, Layout.BHND, new int[] {20, 45, 1, 9, 1}, false, true, false),
                new SplitCase(DType.FP32, Layout.BNHD, new int[] {65, 30, 40}, true, true, true),
                new SplitCase(DType.BF16, Layout.BHND, new int[] {40, 1, 77}, true, true, true),
                new SplitCase(DType.FP16, Layout.BNHD, new int[] {50, 80}, false, true, true),
                new SplitCase(DType.FP64, Layout.BNHD, new int[] {3, 64, 1, 60}, true, true, true),
                new SplitCase(DType.FP32, Layout.BHND, new int[] {129}, true, true, true));
        return Stream.of("reference", "cpu").flatMap(backend -> cases.stream().map(c -> Arguments.of(backend, c)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void piecesEqualOneCall(String backend, SplitCase c) {
        LightningAttention la = backend.equals("reference") ? reference : cpu;
        try (SplitRun run = new SplitRun(la, c, ThreadLocalRandom.current().nextLong())) {
            run.assertPiecesEqualOneCall(new InProcessGroup(c.lengths().length).communicators());
        }
    }
}
