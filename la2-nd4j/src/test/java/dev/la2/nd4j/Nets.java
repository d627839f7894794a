package dev.la2.nd4j;

import java.util.Random;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

/** Small networks around one LightningAttentionLayer, shared by the layer tests. */
final class Nets {
    static final int N_IN = 4;
    static final int HEADS = 2;
    static final int HEAD_SIZE = 3;
    static final int VALUE_SIZE = 2;
    static final int N_OUT = 5;
    static final int CLASSES = 3;

    private Nets() {
    }

    static LightningAttentionLayer.Builder attention(boolean learnableDecay, boolean headNorm) {
        return new LightningAttentionLayer.Builder().nIn(N_IN).nOut(N_OUT).nHeads(HEADS).headSize(HEAD_SIZE)
                .valueSize(VALUE_SIZE).decayScale(2.0).learnableDecay(learnableDecay).headNorm(headNorm)
                .backend(TestData.backend());
    }

    static MultiLayerConfiguration mln(DataType type, IUpdater updater, RNNFormat format, boolean learnableDecay,
                                       boolean headNorm) {
        return new NeuralNetConfiguration.Builder().seed(TestData.SEED).dataType(type).updater(updater)
                .weightInit(WeightInit.XAVIER)
                .list()
                .layer(attention(learnableDecay, headNorm).rnnDataFormat(format).build())
                .layer(new RnnOutputLayer.Builder(crossEntropy(type)).activation(Activation.SOFTMAX)
                        .dataFormat(format).nOut(CLASSES).build())
                .setInputType(InputType.recurrent(N_IN, format))
                .build();
    }

    /** in -> attention -> (in + attention) -> softmax output: the residual block of the demo. */
    static ComputationGraphConfiguration graph(DataType type, IUpdater updater, boolean learnableDecay) {
        return graph(type, updater, learnableDecay, TestData.backend());
    }

    /** {@link #graph(DataType, IUpdater, boolean)} with its attention preferring {@code backend}. */
    static ComputationGraphConfiguration graph(DataType type, IUpdater updater, boolean learnableDecay, String backend) {
        return new NeuralNetConfiguration.Builder().seed(TestData.SEED).dataType(type).updater(updater)
                .weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in")
                .addLayer("attn", attention(learnableDecay, true).nOut(N_IN).backend(backend).build(), "in")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "in", "attn")
                .addLayer("out", new RnnOutputLayer.Builder(crossEntropy(type))
                        .activation(Activation.SOFTMAX).nOut(CLASSES).build(), "add")
                .setOutputs("out")
                .setInputTypes(InputType.recurrent(N_IN))
                .build();
    }

    /**
     * Cross-entropy whose softmax clipping survives fp16: DL4J's default clip, 1e-10, is zero there,
     * so once training makes a wrong class's probability underflow the score is 0 * log(0) = NaN
     * (seen at step 47 of 60 in the HALF training test, with every parameter and activation finite).
     */
    static ILossFunction crossEntropy(DataType type) {
        return new LossMCXENT(type == DataType.HALF ? 1e-4 : 1e-10, null);
    }

    /** Features in the format; N(0,1). */
    static INDArray features(Random r, DataType type, RNNFormat format, int batch, int steps) {
        return format == RNNFormat.NCW ? TestData.normal(r, type, 1.0, batch, N_IN, steps)
                : TestData.normal(r, type, 1.0, batch, steps, N_IN);
    }

    /** One-hot labels in the format. */
    static INDArray labels(Random r, DataType type, RNNFormat format, int batch, int steps) {
        return labels(r, type, format, CLASSES, batch, steps);
    }

    /** One-hot labels of {@code classes} classes in the format. */
    static INDArray labels(Random r, DataType type, RNNFormat format, int classes, int batch, int steps) {
        INDArray l = Nd4j.zeros(type, batch, classes, steps);
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < steps; t++) {
                l.putScalar(b, r.nextInt(classes), t, 1.0);
            }
        }
        return format == RNNFormat.NCW ? l : l.permute(0, 2, 1).dup('c');
    }

    /**
     * NCW features and a learnable target for them: the class of each step is the sign pattern of a
     * running sum of the first feature.
     */
    static DataSet runningSumTask(Random r, DataType type, int batch, int steps) {
        INDArray x = features(r, type, RNNFormat.NCW, batch, steps);
        INDArray labels = Nd4j.zeros(type, batch, CLASSES, steps);
        for (int b = 0; b < batch; b++) {
            double sum = 0;
            for (int t = 0; t < steps; t++) {
                sum = 0.7 * sum + x.getDouble(b, 0, t);
                labels.putScalar(b, sum > 0.5 ? 0 : sum < -0.5 ? 1 : 2, t, 1.0);
            }
        }
        return new DataSet(x, labels);
    }

    /** [batch, steps]: example 0 padded at the start, example 1 at the end, others full. */
    static INDArray mask(DataType type, int batch, int steps, int pad) {
        INDArray m = Nd4j.ones(type, batch, steps);
        for (int t = 0; t < pad; t++) {
            m.putScalar(0, t, 0.0);
            if (batch > 1) {
                m.putScalar(1, steps - 1 - t, 0.0);
            }
        }
        return m;
    }
}
