package dev.la2.cli;

import java.util.Optional;

/**
 * Whether the Vector API (incubator module jdk.incubator.vector) is usable in this JVM and its
 * preferred float vector width, found by reflection so la2-cli needs no --add-modules to compile
 * or to start.
 */
record VectorApiStatus(boolean present, int preferredBits, String detail) {

    static VectorApiStatus probe() {
        Optional<Module> module = ModuleLayer.boot().findModule("jdk.incubator.vector");
        if (module.isEmpty()) {
            return new VectorApiStatus(false, 0,
                    "absent: start java with --add-modules jdk.incubator.vector (./la2 does)");
        }
        try {
            Class<?> floatVector = Class.forName("jdk.incubator.vector.FloatVector");
            Object species = floatVector.getField("SPECIES_PREFERRED").get(null);
            // Through the exported interface: the implementing class is internal to the module.
            Class<?> speciesType = Class.forName("jdk.incubator.vector.VectorSpecies");
            int bits = (int) speciesType.getMethod("vectorBitSize").invoke(species);
            int lanes = (int) speciesType.getMethod("length").invoke(species);
            return new VectorApiStatus(true, bits, "present: preferred FloatVector " + bits + " bits (" + lanes + " floats)");
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            return new VectorApiStatus(true, 0, "present but unusable: " + e);
        }
    }
}
