package dev.la2.packaging;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.spi.ToolProvider;

/** Runs an application in a JVM of its own, on jars laid out as a user would lay them out. */
final class Launch {
    private Launch() {
    }

    /** The jar or folder that holds this class in the test's own class path. */
    static Path location(String className) throws ClassNotFoundException, URISyntaxException {
        return Path.of(Class.forName(className, false, Launch.class.getClassLoader())
                .getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** Every entry of the test's class path. */
    static List<Path> testClassPath() {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        return Arrays.stream(cp.split(File.pathSeparator)).filter(s -> !s.isEmpty()).map(Path::of).toList();
    }

    static String join(List<Path> paths) {
        return String.join(File.pathSeparator, paths.stream().map(Path::toString).toList());
    }

    /** Compiles with javac and these arguments, which must succeed. */
    static void javac(String... args) {
        ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow();
        assertThat(javac.run(System.out, System.err, args)).as("javac exit code").isZero();
    }

    /** Runs java with native access and these arguments; its output (also printed), once it exited 0. */
    static String java(Path out, List<String> args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        command.addAll(args);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("finished within a minute: " + command).isTrue();
        String output = Files.readString(out, StandardCharsets.UTF_8);
        System.out.print(output);
        assertThat(process.exitValue()).as(output).isZero();
        return output;
    }
}
