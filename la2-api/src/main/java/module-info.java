/**
 * la2's stable API ({@code dev.la2.api}) and the service-provider interface backends implement
 * ({@code dev.la2.spi}). No dependencies beyond the JDK.
 */
module dev.la2.api {
    exports dev.la2.api;
    exports dev.la2.spi;

    uses dev.la2.spi.BackendProvider;
}
