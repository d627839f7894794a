package dev.la2.conformance;

/** The kit against the float64 reference backend: the oracle must agree with itself through the facade. */
class ReferenceConformanceTest extends ConformanceKit {
    @Override
    protected String backendName() {
        return "reference";
    }
}
