package dev.la2.nd4j;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.layers.Layer;

/**
 * One TransNormerLLM block (arXiv 2307.14995) for a DL4J ComputationGraph, added with one call:
 * <pre>
 *   h = x + GatedLightning(SRMSNorm(x))       gated linear attention, per-head RMS norm, output gate
 *   y = h + SGLU(SRMSNorm(h))
 * </pre>
 * The layers are {@link SRMSNorm}, {@link LightningAttentionLayer} (head norm and output gate on,
 * no bias, as in the paper) and {@link SGLU}; the residuals are {@link ElementWiseVertex} adds.
 * All are ordinary graph vertices, so the graph serialises, trains and runs {@code rnnTimeStep}
 * as any other. Every part is per time step or causal, so the block is causal.
 *
 * <pre>{@code
 * String x = "embed";
 * for (int i = 0; i < layers; i++) {
 *     x = TransNormerBlock.of(256, 8).addTo(graphBuilder, "block" + i, x);
 * }
 * }</pre>
 *
 * @param dModel         the width of the block's input and output
 * @param heads          attention heads; dModel must be a multiple of it
 * @param ffHidden       the SGLU's hidden width
 * @param decayScale     the attention's ALiBi decay scale (TransNormerLLM lowers it in deeper layers)
 * @param learnableDecay whether the decay rates train
 * @param backend        the preferred la2 backend, or null to choose automatically
 * @param format         the sequence layout between the block's layers (NCW is DL4J's default)
 */
public record TransNormerBlock(int dModel, int heads, long ffHidden, double decayScale, boolean learnableDecay,
                               String backend, RNNFormat format) {

    public TransNormerBlock {
        if (dModel < 1 || heads < 1 || dModel % heads != 0) {
            throw new IllegalArgumentException("dModel, heads: got " + dModel + ", " + heads
                    + "; expected dModel >= 1 a multiple of heads >= 1");
        }
        if (ffHidden < 1) {
            throw new IllegalArgumentException("ffHidden: got " + ffHidden + "; expected >= 1");
        }
        if (format == null) {
            throw new IllegalArgumentException("format: got null; expected NCW or NWC");
        }
    }

    /** A block of the given width and heads: SGLU hidden width 2 dModel, decay scale 1, fixed decay, NCW. */
    public static TransNormerBlock of(int dModel, int heads) {
        return new TransNormerBlock(dModel, heads, 2L * dModel, 1.0, false, null, RNNFormat.NCW);
    }

    public TransNormerBlock withFfHidden(long ffHidden) {
        return new TransNormerBlock(dModel, heads, ffHidden, decayScale, learnableDecay, backend, format);
    }

    public TransNormerBlock withDecay(double decayScale, boolean learnableDecay) {
        return new TransNormerBlock(dModel, heads, ffHidden, decayScale, learnableDecay, backend, format);
    }

    public TransNormerBlock withBackend(String backend) {
        return new TransNormerBlock(dModel, heads, ffHidden, decayScale, learnableDecay, backend, format);
    }

    public TransNormerBlock withFormat(RNNFormat format) {
        return new TransNormerBlock(dModel, heads, ffHidden, decayScale, learnableDecay, backend, format);
    }

    /**
     * Adds the block's vertices, named {@code name + "_..."}, after the vertex {@code input}. The
     * arguments and every part's configuration are checked before anything is added.
     *
     * @return the name of the block's output vertex, the input of whatever follows
     */
    public String addTo(ComputationGraphConfiguration.GraphBuilder builder, String name, String input) {
        if (builder == null) {
            throw new IllegalArgumentException("builder: got null; expected a ComputationGraph GraphBuilder");
        }
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("name: got " + (name == null ? "null" : "\"" + name + "\"")
                    + "; expected a non-blank prefix for the block's vertices");
        }
        if (input == null) {
            throw new IllegalArgumentException("input: got null; expected the name of the vertex before block '"
                    + name + "'");
        }
        String attentionNorm = name + "_attnNorm";
        String attention = name + "_attn";
        String attentionResidual = name + "_attnRes";
        String ffNorm = name + "_ffNorm";
        String ff = name + "_sglu";
        String output = name + "_out";
        for (String vertex : new String[] {attentionNorm, attention, attentionResidual, ffNorm, ff, output}) {
            if (builder.getVertices().containsKey(vertex) || builder.getNetworkInputs().contains(vertex)) {
                throw new IllegalArgumentException("name: got \"" + name + "\", whose vertex \"" + vertex
                        + "\" the graph already has; expected a name no other block or vertex uses");
            }
        }
        Layer attentionNormLayer = new SRMSNorm.Builder().size(dModel).rnnDataFormat(format).build();
        Layer attentionLayer = new LightningAttentionLayer.Builder().nIn(dModel).nOut(dModel).nHeads(heads)
                .headSize(dModel / heads).headNorm(true).outputGate(true).hasBias(false)
                .decayScale(decayScale).learnableDecay(learnableDecay).backend(backend).rnnDataFormat(format).build();
        Layer ffNormLayer = new SRMSNorm.Builder().size(dModel).rnnDataFormat(format).build();
        Layer ffLayer = new SGLU.Builder().nIn(dModel).nOut(dModel).hiddenSize(ffHidden).rnnDataFormat(format).build();
        builder.addLayer(attentionNorm, attentionNormLayer, input);
        builder.addLayer(attention, attentionLayer, attentionNorm);
        builder.addVertex(attentionResidual, new ElementWiseVertex(ElementWiseVertex.Op.Add), input, attention);
        builder.addLayer(ffNorm, ffNormLayer, attentionResidual);
        builder.addLayer(ff, ffLayer, ffNorm);
        builder.addVertex(output, new ElementWiseVertex(ElementWiseVertex.Op.Add), attentionResidual, ff);
        return output;
    }
}
