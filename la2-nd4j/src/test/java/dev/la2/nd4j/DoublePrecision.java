package dev.la2.nd4j;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** ND4J's default types set to DOUBLE for a test class, as DL4J's gradient checks require, and restored after. */
final class DoublePrecision implements BeforeAllCallback, AfterAllCallback {
    private DataType savedDefault;
    private DataType savedFloating;

    @Override
    public void beforeAll(ExtensionContext context) {
        savedDefault = Nd4j.dataType();
        savedFloating = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        Nd4j.setDefaultDataTypes(savedDefault, savedFloating);
    }
}
