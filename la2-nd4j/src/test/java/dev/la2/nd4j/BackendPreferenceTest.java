package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.Backends;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;

/** The configured backend is a preference: missing here, the best available one runs; the property overrides it. */
class BackendPreferenceTest {

    @Test
    void aModelSavedForCudaLoadsAndRunsHereWithOneWarning() {
        List<LogRecord> warnings = new ArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (record.getLevel().intValue() >= Level.WARNING.intValue()) {
                    warnings.add(record);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger log = Logger.getLogger("dev.la2");
        log.addHandler(handler);
        try {
            String json = Nets.mln(DataType.FLOAT, new Adam(1e-2), RNNFormat.NCW, false, false).toJson()
                    .replace("\"backend\" : \"" + TestData.backend() + "\"", "\"backend\" : \"cuda\"");
            assertThat(json).contains("\"backend\" : \"cuda\"");
            MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
            net.init();
            Random r = TestData.random("cudaFallback");
            INDArray x = Nets.features(r, DataType.FLOAT, RNNFormat.NCW, 2, 6);
            INDArray out = net.output(x);
            net.fit(new DataSet(x, Nets.labels(r, DataType.FLOAT, RNNFormat.NCW, 2, 6)));
            net.output(x);
            assertThat(java.util.Arrays.stream(TestData.doubles(out)).allMatch(Double::isFinite)).isTrue();
            assertThat(warnings).hasSize(1);
            assertThat(warnings.get(0).getMessage() + warnings.get(0).getParameters()[0]).contains("cuda");
        } finally {
            log.removeHandler(handler);
        }
    }

    @Test
    void theSystemPropertyOverridesTheConfiguredBackend() {
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(1e-2), RNNFormat.NCW, false, false));
        net.init();
        INDArray x = Nets.features(TestData.random("override"), DataType.FLOAT, RNNFormat.NCW, 2, 6);
        String before = System.getProperty(Backends.PROPERTY);
        System.setProperty(Backends.PROPERTY, CountingProvider.NAME);
        try {
            long forwards = CountingProvider.FORWARDS.get();
            net.output(x);
            assertThat(CountingProvider.FORWARDS.get()).as("forwards on the property's backend").isEqualTo(forwards + 1);
        } finally {
            if (before == null) {
                System.clearProperty(Backends.PROPERTY);
            } else {
                System.setProperty(Backends.PROPERTY, before);
            }
        }
    }
}
