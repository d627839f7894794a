/** The float64 oracle of SPEC.md, and the lowest-priority "reference" backend built on it. */
module dev.la2.reference {
    requires dev.la2.api;

    exports dev.la2.reference;

    provides dev.la2.spi.BackendProvider with dev.la2.reference.ReferenceProvider;
}
