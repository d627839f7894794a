package dev.la2.demo;

import dev.la2.nd4j.LightningAttentionImpl;
import dev.la2.nd4j.SRMSNorm;
import dev.la2.nd4j.TransNormerBlock;
import java.util.Random;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A small causal character model: embedding, then TransNormerLLM blocks ({@link TransNormerBlock}:
 * SRMSNorm, gated lightning attention, residual, SRMSNorm, SGLU, residual), then a final SRMSNorm
 * and softmax over the next character. Every part is per token or causal, so stateful sampling
 * through rnnTimeStep is exact.
 */
final class CharLanguageModel {
    private CharLanguageModel() {
    }

    record Size(int vocabulary, int model, int heads, int layers) {
    }

    static ComputationGraph build(Size s, double learningRate, String backend, long seed) {
        if (s.model() % s.heads() != 0) {
            throw new IllegalArgumentException("--d-model: got " + s.model() + "; expected a multiple of --heads=" + s.heads());
        }
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .updater(new Adam(learningRate))
                .weightInit(WeightInit.XAVIER)
                .gradientNormalization(GradientNormalization.ClipL2PerLayer)
                .gradientNormalizationThreshold(1.0)
                .graphBuilder()
                // No input types: they would reset the embedding's nIn to the index channel count (1).
                .addInputs("chars");
        g.addLayer("embed", new EmbeddingSequenceLayer.Builder().nIn(s.vocabulary()).nOut(s.model())
                .outputDataFormat(RNNFormat.NCW).build(), "chars");
        String x = "embed";
        for (int i = 0; i < s.layers(); i++) {
            // Slower decay in deeper layers, as TransNormerLLM scales the slopes per layer.
            double decayScale = 1.0 - (double) i / Math.max(1, s.layers());
            x = TransNormerBlock.of(s.model(), s.heads()).withDecay(Math.max(decayScale, 0.25), true)
                    .withBackend(backend).addTo(g, "block" + i, x);
        }
        g.addLayer("norm", new SRMSNorm.Builder().size(s.model()).rnnDataFormat(RNNFormat.NCW).build(), x);
        g.addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                .dataFormat(RNNFormat.NCW).nIn(s.model()).nOut(s.vocabulary()).build(), "norm");
        g.setOutputs("out");
        ComputationGraph net = new ComputationGraph(g.build());
        net.init();
        return net;
    }

    /** The la2 backend the network's attention layers run on, as they resolve their configured preference. */
    static String backendName(ComputationGraph net) {
        for (Layer layer : net.getLayers()) {
            if (layer instanceof LightningAttentionImpl attention) {
                return attention.backendName();
            }
        }
        throw new IllegalStateException("the network has no LightningAttentionLayer");
    }

    /**
     * Feeds the prompt through the network's recurrent state, then draws one character at a time,
     * each a single rnnTimeStep: the cost per character does not depend on how much came before.
     */
    static String sample(ComputationGraph net, Corpus corpus, String prompt, int length, double temperature, Random random) {
        net.rnnClearPreviousState();
        float[] ids = new float[prompt.length()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = corpus.id(prompt.charAt(i));
        }
        INDArray probs = net.rnnTimeStep(Nd4j.create(ids, new long[] {1, ids.length}, 'c'))[0];
        INDArray last = probs.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.point(ids.length - 1));
        StringBuilder out = new StringBuilder(prompt);
        for (int i = 0; i < length; i++) {
            int next = draw(last.toDoubleVector(), temperature, random);
            out.append(corpus.character(next));
            INDArray step = net.rnnTimeStep(Nd4j.create(new float[] {next}, new long[] {1, 1}, 'c'))[0];
            last = step.reshape(step.length());
        }
        net.rnnClearPreviousState();
        return out.toString();
    }

    private static int draw(double[] p, double temperature, Random random) {
        double[] w = new double[p.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            w[i] = Math.pow(Math.max(p[i], 0), 1 / temperature);
            sum += w[i];
        }
        double u = random.nextDouble() * sum;
        for (int i = 0; i < w.length; i++) {
            u -= w[i];
            if (u <= 0) {
                return i;
            }
        }
        return w.length - 1;
    }
}
