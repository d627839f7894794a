package dev.la2.nd4j;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;

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
     * Adds the block's vertices, named {@code name + "_..."}, after the vertex {@code input}.
     *
     * @return the name of the block's output vertex, the input of whatever follows
     */
    public String addTo(ComputationGraphConfiguration.GraphBuilder builder, String name, String input) {
        String attentionNorm = name + "_attnNorm";
        String attention = name + "_attn";
        String attentionResidual = name + "_attnRes";
        String ffNorm = name + "_ffNorm";
        String ff = name + "_sglu";
        String output = name + "_out";
        builder.addLayer(attentionNorm, new SRMSNorm.Builder().size(dModel).rnnDataFormat(format).build(), input);
        builder.addLayer(attention, new LightningAttentionLayer.Builder().nIn(dModel).nOut(dModel).nHeads(heads)
                .headSize(dModel / heads).headNorm(true).outputGate(true).hasBias(false)
                .decayScale(decayScale).learnableDecay(learnableDecay).backend(backend).rnnDataFormat(format).build(),
                attentionNorm);
        builder.addVertex(attentionResidual, new ElementWiseVertex(ElementWiseVertex.Op.Add), input, attention);
        builder.addLayer(ffNorm, new SRMSNorm.Builder().size(dModel).rnnDataFormat(format).build(), attentionResidual);
        builder.addLayer(ff, new SGLU.Builder().nIn(dModel).nOut(dModel).hiddenSize(ffHidden).rnnDataFormat(format)
                .build(), ffNorm);
        builder.addVertex(output, new ElementWiseVertex(ElementWiseVertex.Op.Add), attentionResidual, ff);
        return output;
    }
}
