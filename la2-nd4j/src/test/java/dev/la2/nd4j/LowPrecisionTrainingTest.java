package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.la2.api.BackendInfo;
import dev.la2.api.Backends;
import dev.la2.spi.Availability;
import java.util.Random;
import java.util.stream.DoubleStream;
import java.util.stream.Stream;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * BFLOAT16 and HALF networks train through the layer on each backend: a few fit() steps of a small
 * ComputationGraph lower the loss, and the gradients stay finite. The cuda cases run where both
 * ND4J's natives and a GPU with the cuda backend are present, and are skipped, saying so, elsewhere.
 */
class LowPrecisionTrainingTest {
    private static final int BATCH = 4;
    private static final int STEPS = 12;
    private static final int FITS = 30;

    static Stream<Arguments> backendsAndTypes() {
        return Stream.of("cpu", "cuda").flatMap(backend -> Stream.of(DataType.BFLOAT16, DataType.HALF)
                .map(type -> Arguments.of(backend, type)));
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("backendsAndTypes")
    void aSmallGraphTrainsWithFiniteGradients(String backend, DataType type) {
        assumeUsable(backend);
        Random r = TestData.random("lowPrecision" + backend + type);
        ComputationGraph net = network(type, backend);
        assertThat(((LightningAttentionImpl) net.getLayer("attn")).backendName()).as("backend the layer runs on")
                .isEqualTo(backend);
        DataSet data = Nets.runningSumTask(r, type, BATCH, STEPS);

        net.setInputs(data.getFeatures());
        net.setLabels(data.getLabels());
        net.computeGradientAndScore();
        INDArray gradient = net.gradient().gradient();
        assertThat(gradient.dataType()).isEqualTo(type);
        double[] g = TestData.doubles(gradient);
        assertThat(DoubleStream.of(g).boxed().toList()).as("gradient entries").allMatch(Double::isFinite);
        assertThat(Nd4j.createFromArray(g).norm2Number().doubleValue()).as("gradient norm").isPositive();

        double before = net.score(data);
        for (int i = 0; i < FITS; i++) {
            net.fit(data);
            assertThat(net.score()).as("score after fit %d", i + 1).isFinite();
        }
        assertThat(DoubleStream.of(TestData.doubles(net.params())).boxed().toList()).as("parameters after training")
                .allMatch(Double::isFinite);
        assertThat(net.getLayer("attn").getParam("Wq").dataType()).isEqualTo(type);
        assertThat(net.score(data)).as("score after %d fits, from %s", FITS, before).isLessThan(0.9 * before);
    }

    /**
     * The residual attention graph of the layer tests in {@code type}. DL4J's builder takes DOUBLE,
     * FLOAT and HALF only; a BFLOAT16 network is the FLOAT configuration with its data type set after.
     * Plain SGD: the test asks whether gradients in the network's type train it, and SGD's step
     * follows the gradient alone (Adam's normalised steps, its moments held in BFLOAT16, made the
     * score climb for some inputs).
     */
    private static ComputationGraph network(DataType type, String backend) {
        DataType built = type == DataType.BFLOAT16 ? DataType.FLOAT : type;
        ComputationGraphConfiguration conf = Nets.graph(built, new Sgd(0.05), true, backend);
        conf.setDataType(type);
        conf.getVertices().values().forEach(v -> {
            if (v instanceof LayerVertex layer) {
                layer.getLayerConf().getLayer().setDataType(type);
            }
        });
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    /** Skips a backend this machine cannot run the layer on, naming what is missing. */
    private static void assumeUsable(String backend) {
        Availability availability = Backends.discover().stream().filter(b -> b.name().equals(backend))
                .map(BackendInfo::availability).findFirst().orElse(null);
        if (backend.equals("cuda")) {
            assumeTrue(availability instanceof Availability.Available && nd4jLoads(),
                    "ND4J natives and a GPU are both needed for the cuda cases: cuda backend "
                            + (availability == null ? "not on the class path" : availability)
                            + ", ND4J natives " + (nd4jLoads() ? "loaded" : "not loadable"));
        }
        assertThat(availability).as("backend " + backend).isInstanceOf(Availability.Available.class);
    }

    private static boolean nd4jLoads() {
        try {
            return Nd4j.create(DataType.FLOAT, 1).length() == 1;
        } catch (Throwable e) {
            return false;
        }
    }
}
