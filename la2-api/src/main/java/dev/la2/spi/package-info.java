/**
 * The service-provider interface for backends. A backend implements
 * {@link dev.la2.spi.BackendProvider} (registered in {@code META-INF/services} and, on the module
 * path, in a {@code provides} clause) and {@link dev.la2.spi.AttentionBackend}, which receives each
 * call as a record ({@link dev.la2.spi.ForwardCall}, {@link dev.la2.spi.BackwardCall},
 * {@link dev.la2.spi.DecodeCall}, and for the serving calls {@link dev.la2.spi.PackedForwardCall},
 * {@link dev.la2.spi.PackedBackwardCall}, {@link dev.la2.spi.SlotDecodeCall},
 * {@link dev.la2.spi.DraftCall} and {@link dev.la2.spi.CommitCall}) already validated by the API.
 * The serving calls have default implementations that run each sequence through the dense calls on
 * views ({@link dev.la2.spi.AttentionBackend#view}); {@link dev.la2.spi.HostTensor} is a ready-made
 * tensor for backends that compute on host memory. The conformance kit ({@code la2 check}, or a
 * test extending {@code dev.la2.conformance.ConformanceKit}) holds a backend to SPEC.md.
 */
package dev.la2.spi;
