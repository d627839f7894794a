package dev.la2.nd4j;

import java.util.LinkedHashMap;
import java.util.Map;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * TransNormerLLM's simple RMS norm (arXiv 2307.14995, SRMSNorm) with a learnable gain, per time step
 * of a sequence (NCW or NWC):
 * <pre>
 *   y_t = g * x_t / (||x_t|| / sqrt(d) + eps)        g: [d], initialised to 1; d = nIn = nOut
 * </pre>
 * Per step, so causal and stateless: {@code rnnTimeStep} through it is exact.
 */
public class SRMSNorm extends TokenwiseLayer {
    /** The gain g [1, d]: not regularised, like a bias. */
    public static final String GAIN = "g";

    private double eps = 1e-6;

    /** For JSON. */
    protected SRMSNorm() {
    }

    protected SRMSNorm(Builder b) {
        super(b);
        this.eps = b.eps;
    }

    @Override
    protected Map<String, long[]> paramShapes() {
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(GAIN, new long[] {1, nOut});
        return m;
    }

    @Override
    protected boolean isWeight(String key) {
        return false;
    }

    @Override
    protected void initParam(String key, INDArray view) {
        view.assign(1.0);
    }

    @Override
    protected TokenwiseImpl<?> newLayer(NeuralNetConfiguration conf, DataType networkDataType) {
        return new SRMSNormImpl(conf, networkDataType);
    }

    @Override
    protected long workingFloatsPerStep() {
        return 2 * nOut + 2;
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        super.setNIn(inputType, override);
        // The norm keeps the width: a given size must be the input's (DL4J's override of nIn would
        // otherwise leave nIn != nOut, or widen the norm past the layers sized to its output).
        long width = ((InputType.InputTypeRecurrent) inputType).getSize();
        if (nOut > 0 && nOut != width) {
            throw new IllegalStateException("SRMSNorm '" + getLayerName() + "': got input width " + width
                    + "; expected its size " + nOut);
        }
        nIn = width;
        nOut = width;
    }

    public double getEps() {
        return eps;
    }

    public void setEps(double eps) {
        this.eps = eps;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SRMSNorm that && super.equals(o) && Double.compare(eps, that.eps) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Double.hashCode(eps);
    }

    @Override
    public String toString() {
        return "SRMSNorm(" + super.toString() + ", eps=" + eps + ", rnnDataFormat=" + rnnDataFormat + ")";
    }

    public static class Builder extends SequenceLayer.Builder<Builder> {
        private double eps = 1e-6;

        /** The width d; the same as {@code nIn(d).nOut(d)}. Left unset, it is the input type's; set, it must be. */
        public Builder size(long d) {
            nIn(d);
            return nOut(d);
        }

        /** Added to the RMS before dividing (default 1e-6). */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        @Override
        @SuppressWarnings("unchecked")
        public SRMSNorm build() {
            if (!(eps > 0) || Double.isInfinite(eps)) {
                throw new IllegalArgumentException("eps: got " + eps + "; expected a finite number > 0");
            }
            checkSizes(false);
            if (nIn > 0 && nOut > 0 && nIn != nOut) {
                throw new IllegalArgumentException("nIn, nOut: got " + nIn + ", " + nOut + "; expected equal sizes");
            }
            if (nIn > 0 && nOut <= 0) {
                nOut = nIn;
            }
            checkFormat();
            return new SRMSNorm(this);
        }
    }
}
