package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * SRMSNorm's forward and dL/dx against its formula in float64 at the magnitudes where squares and
 * their products leave a data type's range, and where the RMS is close to zero.
 */
@ExtendWith(DoublePrecision.class)
class SRMSNormTest {
    private static final int ROWS = 4;
    private static final int WIDTH = 8;
    private static final double EPS = 1e-6;

    /** One SRMSNorm of width {@link #WIDTH}, NWC, with a random gain. */
    private static Layer norm(DataType type, Random r) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(type).list()
                .layer(new SRMSNorm.Builder().eps(EPS).rnnDataFormat(RNNFormat.NWC).build())
                .layer(new RnnLossLayer.Builder(LossFunctions.LossFunction.MSE).dataFormat(RNNFormat.NWC).build())
                .setInputType(InputType.recurrent(WIDTH, RNNFormat.NWC))
                .build());
        net.init();
        net.initGradientsView();
        net.getLayer(0).getParam(SRMSNorm.GAIN).assign(TestData.normal(r, type, 0.5, 1, WIDTH).addi(1.0));
        return net.getLayer(0);
    }

    /**
     * y = g x / (r + eps) and dL/dx = (g dy - x (g dy . x) / ((r + eps) d r)) / (r + eps), r = ||x|| / sqrt(d),
     * per row of [rows, d] arrays; the second term is 0 for a zero row.
     */
    private static double[][] formula(double[] x, double[] g, double[] dy) {
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        for (int row = 0; row < x.length / WIDTH; row++) {
            int at = row * WIDTH;
            double squares = 0;
            double dot = 0;
            for (int j = 0; j < WIDTH; j++) {
                squares += x[at + j] * x[at + j];
                dot += g[j] * dy[at + j] * x[at + j];
            }
            double r = Math.sqrt(squares / WIDTH);
            double denominator = r + EPS;
            for (int j = 0; j < WIDTH; j++) {
                y[at + j] = g[j] * x[at + j] / denominator;
                double along = r == 0 ? 0 : x[at + j] * dot / (denominator * WIDTH * r);
                dx[at + j] = (g[j] * dy[at + j] - along) / denominator;
            }
        }
        return new double[][] {y, dx};
    }

    /** The layer's y and dL/dx, and the formula's, for x of the given scale; row 0 all zeros with dy = 0 there. */
    private static void check(DataType type, double scale, double tolerance, String salt) {
        Random r = TestData.random(salt);
        Layer layer = norm(type, r);
        INDArray x = TestData.normal(r, type, scale, 1, ROWS, WIDTH);
        INDArray dy = TestData.normal(r, type, 1.0, 1, ROWS, WIDTH);
        x.slice(0).getRow(0).assign(0.0);
        dy.slice(0).getRow(0).assign(0.0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        layer.setInput(x, mgr);
        INDArray y = layer.activate(true, mgr);
        Pair<Gradient, INDArray> back = layer.backpropGradient(dy, mgr);

        double[][] expected = formula(TestData.doubles(x), TestData.doubles(layer.getParam(SRMSNorm.GAIN)),
                TestData.doubles(dy));
        assertThat(TestData.relativeError(TestData.doubles(y), expected[0])).as("y").isLessThan(tolerance);
        assertThat(TestData.relativeError(TestData.doubles(back.getSecond()), expected[1])).as("dL/dx")
                .isLessThan(tolerance);
    }

    /**
     * fp16 squares overflow above 256 (the RMS came out infinite, the output zero) and a zero row's
     * (r + eps)^2 underflows (its dL/dx came out NaN); fp32 squares overflow above 1.8e19; an RMS
     * below 1e-5 was taken for zero by ND4J's equals condition, dropping dL/dx's second term.
     */
    @ParameterizedTest(name = "{0}, x ~ {1}")
    @CsvSource({
        "HALF, 1.0, 3e-3", "HALF, 300, 3e-3", "HALF, 2e-3, 3e-3",
        "FLOAT, 1.0, 1e-6", "FLOAT, 1e20, 1e-6", "FLOAT, 1e-7, 1e-6",
        "DOUBLE, 1.0, 1e-13", "DOUBLE, 3e-6, 1e-13", "DOUBLE, 1e-7, 1e-13", "DOUBLE, 1e100, 1e-13"})
    void followsItsFormulaAtEveryScale(DataType type, double scale, double tolerance) {
        check(type, scale, tolerance, "srms" + type + scale);
    }
}
