package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.backend.cuda.DeviceContext.Grid;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the Java decode launch against the constants decode.cuh tiles by. */
class DecodeGridTest {

    @Test
    void constantsMatchTheKernel() throws Exception {
        String source = Files.readString(Path.of("src/main/cuda/decode.cuh"));
        assertThat(constant(source, "DECODE_THREADS")).isEqualTo(DecodeGrid.THREADS);
        assertThat(constant(source, "DECODE_SLICE")).isEqualTo(DecodeGrid.SLICE);
    }

    @Test
    void oneBlockPerSliceOfEachState() {
        assertThat(DecodeGrid.of(32, 128)).isEqualTo(new Grid(128, 1, 1, DecodeGrid.THREADS));
        assertThat(DecodeGrid.of(12, 130)).isEqualTo(new Grid(12 * 5, 1, 1, DecodeGrid.THREADS));
        assertThat(DecodeGrid.of(3, 1)).isEqualTo(new Grid(3, 1, 1, DecodeGrid.THREADS));
    }

    private static int constant(String source, String name) {
        Matcher m = Pattern.compile("constexpr int " + name + " = (\\d+);").matcher(source);
        assertThat(m.find()).as(name + " in decode.cuh").isTrue();
        return Integer.parseInt(m.group(1));
    }
}
