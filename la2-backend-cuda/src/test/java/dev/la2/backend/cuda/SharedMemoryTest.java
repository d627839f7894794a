package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the Java shared-memory formulas at the values smem.cuh pins for the compiler. */
class SharedMemoryTest {

    @Test
    void javaFormulasMatchThePinnedValuesOfTheHeader() throws Exception {
        String source = Files.readString(Path.of("src/main/cuda/smem.cuh"));
        Matcher m = Pattern.compile("static_assert\\(sharedBytes::(\\w+)\\(([^)]*)\\) == (\\d+)\\);").matcher(source);
        int checked = 0;
        while (m.find()) {
            long[] args = Arrays.stream(m.group(2).split(",")).map(String::trim).mapToLong(Long::parseLong).toArray();
            Class<?>[] types = new Class<?>[args.length];
            Arrays.fill(types, long.class);
            Method f = SharedMemory.class.getDeclaredMethod(m.group(1), types);
            Object[] boxed = Arrays.stream(args).boxed().toArray();
            assertThat((long) f.invoke(null, boxed)).as(m.group(0)).isEqualTo(Long.parseLong(m.group(3)));
            checked++;
        }
        assertThat(checked).as("pinned values in smem.cuh").isGreaterThanOrEqualTo(4);
        // every formula of the class is pinned at least once
        for (Method f : SharedMemory.class.getDeclaredMethods()) {
            if (!f.isSynthetic()) {
                assertThat(source).as(f.getName()).contains("sharedBytes::" + f.getName() + "(");
            }
        }
    }
}
