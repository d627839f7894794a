package dev.la2.api;

/**
 * The requested backend (or, with none requested, any backend) cannot be used. The message lists
 * every provider found and why each is or is not usable.
 */
public class BackendUnavailableException extends La2Exception {
    private static final long serialVersionUID = 1L;

    public BackendUnavailableException(String message) {
        super(message);
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
