package dev.la2.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * How the commands write a result file: under a hidden temporary name beside it, then renamed over
 * it, so a reader never sees half a file. The temporary file is created like any other, so the
 * result gets the permissions the umask gives (as np.save's do), not a temporary file's 0600.
 */
final class ResultFile {
    private ResultFile() {
    }

    /**
     * Where a result given as {@code value} for {@code option} goes: the file a symbolic link names
     * (the link stays), or the absolute path. Anything there that is not a regular file (a
     * directory, a device, a pipe) is a usage error: renaming over it would replace it.
     */
    static Path target(String option, Path value) {
        Path path = value.toAbsolutePath();
        if (Files.isSymbolicLink(path)) {
            try {
                path = path.toRealPath();
            } catch (IOException e) {
                throw new CliException(option + " " + value + ": a link to nothing (" + reason(e) + ")", e);
            }
        }
        if (Files.exists(path) && !Files.isRegularFile(path)) {
            throw new CliException(option + " " + value + ": is " + (Files.isDirectory(path) ? "a directory" : "not a regular file")
                    + "; expected a file to replace or none");
        }
        return path;
    }

    /** A fresh hidden name beside {@code target}. */
    static Path temporary(Path target) {
        return target.resolveSibling("." + target.getFileName() + "." + ProcessHandle.current().pid() + "."
                + System.nanoTime() + ".tmp");
    }

    /** Renames the written {@code temporary} over {@code target} in one step. */
    static void publish(Path temporary, Path target) throws IOException {
        Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Creates {@code dir} and its parents; a failure is a usage error naming {@code option}. */
    static void createDirectories(String option, Path value, Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new CliException(option + " " + value + ": cannot create the directory (" + reason(e) + ")", e);
        }
    }

    /**
     * Fails now, as a usage error naming {@code option}, where {@code target} could not be written
     * later: its directory is created, then a file is made beside it under a temporary name and
     * removed again, which is what {@link #publish} will need.
     */
    static void requireWritable(String option, Path value, Path target) {
        createDirectories(option, value, target.getParent());
        Path probe = temporary(target);
        try {
            Files.createFile(probe);
            Files.delete(probe);
        } catch (IOException e) {
            throw new CliException(option + " " + value + ": cannot write (" + reason(e) + ")", e);
        }
    }

    /** What went wrong with a file, without the exception's class name. */
    static String reason(Exception e) {
        if (e instanceof NoSuchFileException f) {
            return f.getFile() + ": no such file or directory";
        }
        if (e instanceof AccessDeniedException f) {
            return f.getFile() + ": permission denied";
        }
        if (e instanceof FileAlreadyExistsException f) {
            return f.getFile() + ": exists and is not a directory";
        }
        return String.valueOf(e.getMessage());
    }
}
