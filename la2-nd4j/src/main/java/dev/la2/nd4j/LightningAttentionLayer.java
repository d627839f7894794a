package dev.la2.nd4j;

import java.util.Collection;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Configuration of a Lightning Attention-2 layer for DL4J: causal linear attention with per-head
 * exponential decay (SPEC.md), computed by an la2 backend, at a cost per token that does not grow
 * with the sequence length.
 *
 * <p>For input x_t (nIn features per time step):
 * <pre>
 *   q_t = x_t Wq, k_t = m_t x_t Wk, v_t = m_t x_t Wv        (H heads of D, D and E features; m_t the mask)
 *   o_t = Lightning(q, k, v; decay s_h, scale c)              per head, SPEC.md section 1
 *   u_t = gateAct(x_t Wg)                                     optional output gate, H*E features
 *   y_t = m_t act( (norm(o_t) * u_t) Wo + b )                 norm: optional RMS norm per head
 * </pre>
 * The output gate is TransNormerLLM's (arXiv 2307.14995, gated linear attention: O = Norm(QK^T V) * U,
 * U = X Wu, no activation by default); {@link Builder#gateActivation} makes it, say, a sigmoid gate.
 * A masked (padded) step adds nothing to the state, and gets a zero output and zero gradients, as
 * the formula's m_t factors say: like DL4J's own recurrent layers the layer multiplies by the
 * mask, so padding must be finite (a NaN or infinity there gives NaN, as NaN * 0 does).
 * Padding at the start or the end of an example does not age the state either: the valid steps
 * run as a sequence of their true length, so the final state and an {@code rnnTimeStep}
 * continuation equal the unpadded sequence's. A step masked between valid ones still ages the
 * state by one step of decay. So a sequence fed to {@code rnnTimeStep} in chunks gives what one
 * call gives unless a masked gap straddles a chunk boundary: the gap's steps at the end of one
 * chunk are end padding there (not aged), but a hole in the whole sequence (aged).
 *
 * <p>Decay rates are SPEC.md section 4's ALiBi slopes times {@link #getDecayScale()}. With
 * {@link #isLearnableDecay()} they become the parameter theta with s_h = exp(theta_h), which keeps
 * every rate positive whatever the optimiser does (so a learnable decay needs a scale above 0).
 *
 * <p>Stateful inference: the layer is a DL4J {@code RecurrentLayer}, so {@code rnnTimeStep}
 * carries the [minibatch, H, D, E] state between calls, and truncated BPTT works (a single step
 * may be 2-d, [minibatch, nIn], with NCW; with NWC pass [minibatch, 1, nIn], since DL4J's
 * {@code MultiLayerNetwork} reshapes a 2-d NWC step's output wrongly). Its
 * configuration is a {@link BaseRecurrentLayer}, so DL4J's recurrent wrappers take it
 * ({@code Bidirectional}, {@code LastTimeStep}); it has no recurrent weights, so the recurrent
 * weight init and constraints do not apply.
 *
 * <p>With a {@code CacheMode} other than NONE, a training step runs the attention forward once
 * (see {@link LightningAttentionImpl}). The backend is a preference (see {@link BackendCache#preferred}).
 *
 * <p>The activation defaults to identity. Other fields come from the global configuration as for
 * any {@link FeedForwardLayer} (weight init, updater, regularisation of Wq/Wk/Wv/Wo and b).
 */
public class LightningAttentionLayer extends SequenceLayer {
    private int nHeads;
    private int headSize;
    private int valueSize;
    private double decayScale = 1.0;
    private boolean learnableDecay;
    private double scale;
    private String backend;
    private boolean headNorm;
    private boolean hasBias = true;
    private boolean outputGate;
    private IActivation gateActivation = new ActivationIdentity();
    /** The network's data type as DL4J's builders pass it on, for the memory report; not configuration. */
    private transient DataType networkDataType;

    /** For JSON. */
    protected LightningAttentionLayer() {
    }

    protected LightningAttentionLayer(Builder b) {
        super(b);
        this.nHeads = b.nHeads;
        this.headSize = b.resolvedHeadSize();
        this.valueSize = b.valueSize > 0 ? b.valueSize : headSize;
        this.decayScale = b.decayScale;
        this.learnableDecay = b.learnableDecay;
        this.scale = b.scale != null ? b.scale : 1.0 / Math.sqrt(headSize);
        this.backend = b.backend;
        this.headNorm = b.headNorm;
        this.hasBias = b.hasBias;
        this.outputGate = b.outputGate;
        this.gateActivation = b.gateActivation;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> listeners, int layerIndex,
                                                       INDArray layerParamsView, boolean initializeParams,
                                                       DataType networkDataType) {
        LightningAttentionImpl layer = newLayer(conf, networkDataType);
        layer.setListeners(listeners);
        layer.setIndex(layerIndex);
        layer.setParamsViewArray(layerParamsView);
        Map<String, INDArray> params = initializer().init(conf, layerParamsView, initializeParams);
        layer.setParamTable(params);
        layer.setConf(conf);
        return layer;
    }

    /** The layer implementation; a subclass may return its own. */
    protected LightningAttentionImpl newLayer(NeuralNetConfiguration conf, DataType networkDataType) {
        return new LightningAttentionImpl(conf, networkDataType);
    }

    @Override
    public ParamInitializer initializer() {
        return LightningAttentionParamInitializer.getInstance();
    }

    /**
     * Counts, per example, the arrays the layer allocates (see {@link LightningAttentionMemory}). Under
     * a CacheMode other than NONE the report's cache memory holds what a training forward keeps until
     * backprop (projections, attention output, norm and gate arrays, pre-activations, and the block
     * states the la2 backend keeps), which grows with the sequence length; with NONE backprop makes
     * the same arrays again, in its working memory.
     */
    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        LightningAttentionMemory m = LightningAttentionMemory.of(this, networkDataType);
        long steps = timeSteps(inputType);
        return memoryReport(inputType, new PerExample(m.inference(steps), m.trainingUncached(steps),
                m.trainingCached(steps), m.cached(steps)));
    }

    /** Told the network's data type by DL4J's builders; the memory report counts the fp32 block states in it. */
    @Override
    public void setDataType(DataType dataType) {
        this.networkDataType = dataType;
    }

    public int getNHeads() {
        return nHeads;
    }

    public void setNHeads(int nHeads) {
        this.nHeads = nHeads;
    }

    public int getHeadSize() {
        return headSize;
    }

    public void setHeadSize(int headSize) {
        this.headSize = headSize;
    }

    public int getValueSize() {
        return valueSize;
    }

    public void setValueSize(int valueSize) {
        this.valueSize = valueSize;
    }

    public double getDecayScale() {
        return decayScale;
    }

    public void setDecayScale(double decayScale) {
        this.decayScale = decayScale;
    }

    public boolean isLearnableDecay() {
        return learnableDecay;
    }

    public void setLearnableDecay(boolean learnableDecay) {
        this.learnableDecay = learnableDecay;
    }

    public double getScale() {
        return scale;
    }

    public void setScale(double scale) {
        this.scale = scale;
    }

    /** The preferred la2 backend's name, or null to choose automatically (see {@link BackendCache#preferred}). */
    public String getBackend() {
        return backend;
    }

    public void setBackend(String backend) {
        this.backend = backend;
    }

    public boolean isHeadNorm() {
        return headNorm;
    }

    public void setHeadNorm(boolean headNorm) {
        this.headNorm = headNorm;
    }

    public boolean isHasBias() {
        return hasBias;
    }

    public void setHasBias(boolean hasBias) {
        this.hasBias = hasBias;
    }

    /** Whether the attention output is gated by x Wg before Wo (TransNormerLLM's output gate). */
    public boolean isOutputGate() {
        return outputGate;
    }

    public void setOutputGate(boolean outputGate) {
        this.outputGate = outputGate;
    }

    /** The gate's activation (identity by default, as in TransNormerLLM). */
    public IActivation getGateActivation() {
        return gateActivation;
    }

    public void setGateActivation(IActivation gateActivation) {
        this.gateActivation = gateActivation;
    }

    // DL4J's Lombok equals() ignores subclass fields, and JSON drops a field without accessors
    // silently: both would make a ParallelWrapper replica differ from its original unnoticed.
    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof LightningAttentionLayer that) || !super.equals(o)) {
            return false;
        }
        return nHeads == that.nHeads && headSize == that.headSize && valueSize == that.valueSize
                && Double.compare(decayScale, that.decayScale) == 0 && learnableDecay == that.learnableDecay
                && Double.compare(scale, that.scale) == 0 && Objects.equals(backend, that.backend)
                && rnnDataFormat == that.rnnDataFormat && headNorm == that.headNorm && hasBias == that.hasBias
                && outputGate == that.outputGate && Objects.equals(gateActivation, that.gateActivation);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), nHeads, headSize, valueSize, decayScale, learnableDecay, scale,
                backend, rnnDataFormat, headNorm, hasBias, outputGate, gateActivation);
    }

    @Override
    public String toString() {
        return "LightningAttentionLayer(" + super.toString() + ", nHeads=" + nHeads + ", headSize=" + headSize
                + ", valueSize=" + valueSize + ", decayScale=" + decayScale + ", learnableDecay=" + learnableDecay
                + ", scale=" + scale + ", backend=" + backend + ", rnnDataFormat=" + rnnDataFormat
                + ", headNorm=" + headNorm + ", hasBias=" + hasBias + ", outputGate=" + outputGate
                + ", gateActivation=" + gateActivation + ")";
    }

    public static class Builder extends SequenceLayer.Builder<Builder> {
        private int nHeads = 1;
        private int headSize;
        private int valueSize;
        private double decayScale = 1.0;
        private boolean learnableDecay;
        private Double scale;
        private String backend;
        private boolean headNorm;
        private boolean hasBias = true;
        private boolean outputGate;
        private IActivation gateActivation = new ActivationIdentity();

        public Builder() {
            // Attention output is linear unless asked otherwise; the global default (sigmoid) is not wanted here.
            this.activationFn = new ActivationIdentity();
        }

        /** Number of heads H (default 1). */
        public Builder nHeads(int nHeads) {
            this.nHeads = nHeads;
            return this;
        }

        /** Key (and query) size D per head; default nOut / nHeads. */
        public Builder headSize(int headSize) {
            this.headSize = headSize;
            return this;
        }

        /** Value size E per head; default equal to the head size. */
        public Builder valueSize(int valueSize) {
            this.valueSize = valueSize;
            return this;
        }

        /** Multiplies every ALiBi decay rate (TransNormerLLM's per-layer scaling); 0 means no decay. */
        public Builder decayScale(double decayScale) {
            this.decayScale = decayScale;
            return this;
        }

        /** Trains the decay rates as s_h = exp(theta_h), starting from the configured rates. */
        public Builder learnableDecay(boolean learnableDecay) {
            this.learnableDecay = learnableDecay;
            return this;
        }

        /** The factor c on q.k; default 1/sqrt(headSize). */
        public Builder scale(double scale) {
            this.scale = scale;
            return this;
        }

        /** The la2 backend by name ("cpu", "cuda", "reference"), or null to choose automatically. */
        public Builder backend(String backend) {
            this.backend = backend;
            return this;
        }

        /** RMS-normalises each head's attention output before Wo (TransNormerLLM's output norm, no gain). */
        public Builder headNorm(boolean headNorm) {
            this.headNorm = headNorm;
            return this;
        }

        public Builder hasBias(boolean hasBias) {
            this.hasBias = hasBias;
            return this;
        }

        /** Multiplies the (normed) attention output by gateAct(x Wg) before Wo, TransNormerLLM's output gate. */
        public Builder outputGate(boolean outputGate) {
            this.outputGate = outputGate;
            return this;
        }

        /** The output gate's activation; identity (the paper's) by default. */
        public Builder gateActivation(IActivation gateActivation) {
            this.gateActivation = gateActivation;
            return this;
        }

        /** headSize as set, or nOut / nHeads where it is unset and nOut a multiple of nHeads (the builder unchanged). */
        int resolvedHeadSize() {
            return headSize == 0 && nOut > 0 && nHeads > 0 && nOut % nHeads == 0 ? (int) (nOut / nHeads) : headSize;
        }

        @Override
        @SuppressWarnings("unchecked")
        public LightningAttentionLayer build() {
            checkSizes(true);
            if (nHeads < 1) {
                throw new IllegalArgumentException("nHeads: got " + nHeads + "; expected >= 1");
            }
            if (resolvedHeadSize() < 1) {
                throw new IllegalArgumentException("headSize: got " + headSize
                        + "; expected >= 1 (or leave it unset with nOut a multiple of nHeads)");
            }
            if (valueSize < 0) {
                throw new IllegalArgumentException("valueSize: got " + valueSize + "; expected >= 1, or 0 for headSize");
            }
            if (!(decayScale >= 0) || Double.isInfinite(decayScale)) {
                throw new IllegalArgumentException("decayScale: got " + decayScale + "; expected a finite number >= 0");
            }
            if (learnableDecay && decayScale == 0) {
                throw new IllegalArgumentException("decayScale: got 0 with learnableDecay; expected > 0, since the "
                        + "learnable rate is exp(theta) and cannot start at 0");
            }
            if (scale != null && !Double.isFinite(scale)) {
                throw new IllegalArgumentException("scale: got " + scale + "; expected a finite number");
            }
            checkFormat();
            if (gateActivation == null) {
                throw new IllegalArgumentException("gateActivation: got null; expected an activation (identity by default)");
            }
            return new LightningAttentionLayer(this);
        }
    }
}
