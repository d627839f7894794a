package dev.la2.cli;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The test class path cut in two as the build cuts la2-cli's: what the launcher's class path has,
 * and the ND4J kit (ND4J, JavaCPP, OpenBLAS, DL4J, la2-nd4j, la2-demo). Decided by file name, never
 * by the folders above (the checkout's may contain "nd4j").
 */
record SplitClassPath(List<Path> launcher, List<Path> kit) {

    private static final String KIT = ".*(nd4j|javacpp|openblas|deeplearning4j|la2-demo).*";

    static SplitClassPath ofTests() {
        List<Path> launcher = new ArrayList<>();
        List<Path> kit = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry);
            (name(p).matches(KIT) ? kit : launcher).add(p);
        }
        return new SplitClassPath(launcher, kit);
    }

    /** A jar's file name; for a module's target/classes folder (a build that did not package it), the module's. */
    private static String name(Path entry) {
        Path module = entry.getParent() == null ? null : entry.getParent().getParent();
        return Files.isDirectory(entry) && module != null && module.getFileName() != null
                ? module.getFileName().toString() : entry.getFileName().toString();
    }

    /** Links every kit entry into {@code dir}, as the build's lib-nd4j holds them. */
    Path linkKit(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (Path p : kit) {
            Files.createSymbolicLink(dir.resolve(name(p)), p.toAbsolutePath());
        }
        return dir;
    }

    /** Runs the la2 command in a JVM on the launcher's half, with {@code -Dla2.nd4j.lib=kitDir}; output and exit code. */
    Cli run(Path kitDir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-D" + Nd4jKit.PROPERTY + "=" + kitDir,
                "-cp", String.join(File.pathSeparator, launcher.stream().map(Path::toString).toList()),
                La2Cli.class.getName()));
        command.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Cli(p.waitFor(), output, "");
    }
}
