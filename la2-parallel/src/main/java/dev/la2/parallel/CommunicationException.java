package dev.la2.parallel;

import dev.la2.api.La2Exception;

/** A collective failed: another rank failed or timed out, or the transport reported an error. */
public class CommunicationException extends La2Exception {
    private static final long serialVersionUID = 1L;

    public CommunicationException(String message) {
        super(message);
    }

    public CommunicationException(String message, Throwable cause) {
        super(message, cause);
    }
}
