package dev.la2.api;

/**
 * A backend could not allocate memory for a tensor or its scratch space. The backend stays
 * usable for calls that fit.
 */
public class DeviceMemoryException extends La2Exception {
    private static final long serialVersionUID = 1L;

    public DeviceMemoryException(String message) {
        super(message);
    }

    public DeviceMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
