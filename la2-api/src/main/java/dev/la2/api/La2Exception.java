package dev.la2.api;

/** Root of la2's own unchecked exceptions (argument errors are {@link La2ArgumentException}). */
public class La2Exception extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public La2Exception(String message) {
        super(message);
    }

    public La2Exception(String message, Throwable cause) {
        super(message, cause);
    }
}
