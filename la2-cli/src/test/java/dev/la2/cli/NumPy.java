package dev.la2.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Runs python3 with NumPy when this machine has both; tests that need it are skipped otherwise. */
final class NumPy {
    private static Boolean available;

    private NumPy() {
    }

    static synchronized boolean available() {
        if (available == null) {
            try {
                available = exec(Path.of("."), "import numpy") == 0;
            } catch (IOException e) {
                available = false;
            }
        }
        return available;
    }

    /** Runs {@code script} in {@code dir}; returns the exit code. */
    static int exec(Path dir, String script) throws IOException {
        Process p = new ProcessBuilder("python3", "-c", script).directory(dir.toFile()).redirectErrorStream(true).start();
        try {
            byte[] output = p.getInputStream().readAllBytes();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("python3 timed out");
            }
            if (p.exitValue() != 0) {
                System.err.println(new String(output, StandardCharsets.UTF_8));
            }
            return p.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }
}
