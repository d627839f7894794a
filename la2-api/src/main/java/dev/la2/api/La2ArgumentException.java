package dev.la2.api;

/**
 * A call argument is unusable. The message names the argument, what it got and what was
 * expected; the accessors give the same three parts. Thrown before any work is done, so neither
 * the backend nor the caller's data is changed.
 */
public class La2ArgumentException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String argument;
    private final String got;
    private final String expected;

    public La2ArgumentException(String argument, String got, String expected) {
        super(argument + ": got " + got + "; expected " + expected);
        this.argument = argument;
        this.got = got;
        this.expected = expected;
    }

    public String argument() {
        return argument;
    }

    public String got() {
        return got;
    }

    public String expected() {
        return expected;
    }
}
