package dev.la2.cli;

/**
 * A user error the command reports as one line on stderr with exit code 2: a missing or malformed
 * file, a shape that does not fit, an unavailable backend.
 */
public final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CliException(String message) {
        super(message);
    }

    public CliException(String message, Throwable cause) {
        super(message, cause);
    }
}
