package dev.la2.cli;

/** A file is not a .npy array la2 can read; the message names the file and what is wrong. */
public final class NpyFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NpyFormatException(String message) {
        super(message);
    }
}
