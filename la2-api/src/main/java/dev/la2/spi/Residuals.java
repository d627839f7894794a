package dev.la2.spi;

/**
 * What a backend's forward kept so that the backward of the same call need not recompute it (for
 * example the state entering every block), in the backend's own memory. Handed back to the backend
 * in {@link BackwardCall#residuals()}; the backend alone knows its contents.
 */
public interface Residuals extends AutoCloseable {

    /** Memory held, in bytes. */
    long byteSize();

    /** Frees the memory; idempotent. */
    @Override
    void close();
}
