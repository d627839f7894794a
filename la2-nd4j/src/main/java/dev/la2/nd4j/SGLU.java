package dev.la2.nd4j;

import java.util.LinkedHashMap;
import java.util.Map;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * TransNormerLLM's simple gated linear unit (arXiv 2307.14995, SGLU), the block's feed-forward, per
 * time step of a sequence (NCW or NWC):
 * <pre>
 *   y_t = ((x_t Wu) * (x_t Wv)) Wo        Wu, Wv: [nIn, hidden]; Wo: [hidden, nOut]; no activation, no bias
 * </pre>
 * The product of the two projections is the only non-linearity, as in the paper.
 */
public class SGLU extends TokenwiseLayer {
    public static final String U_WEIGHTS = "Wu";
    public static final String V_WEIGHTS = "Wv";
    public static final String OUTPUT_WEIGHTS = "Wo";

    private long hiddenSize;

    /** For JSON. */
    protected SGLU() {
    }

    protected SGLU(Builder b) {
        super(b);
        this.hiddenSize = b.hiddenSize;
    }

    @Override
    protected Map<String, long[]> paramShapes() {
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(U_WEIGHTS, new long[] {nIn, hiddenSize});
        m.put(V_WEIGHTS, new long[] {nIn, hiddenSize});
        m.put(OUTPUT_WEIGHTS, new long[] {hiddenSize, nOut});
        return m;
    }

    @Override
    protected boolean isWeight(String key) {
        return true;
    }

    @Override
    protected void initParam(String key, INDArray view) {
        getWeightInitFn().init(view.size(0), view.size(1), view.shape(), 'c', view);
    }

    @Override
    protected TokenwiseImpl<?> newLayer(NeuralNetConfiguration conf, DataType networkDataType) {
        return new SGLUImpl(conf, networkDataType);
    }

    @Override
    protected long workingFloatsPerStep() {
        return 3 * hiddenSize + nIn + nOut;
    }

    public long getHiddenSize() {
        return hiddenSize;
    }

    public void setHiddenSize(long hiddenSize) {
        this.hiddenSize = hiddenSize;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SGLU that && super.equals(o) && hiddenSize == that.hiddenSize;
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Long.hashCode(hiddenSize);
    }

    @Override
    public String toString() {
        return "SGLU(" + super.toString() + ", hiddenSize=" + hiddenSize + ", rnnDataFormat=" + rnnDataFormat + ")";
    }

    public static class Builder extends SequenceLayer.Builder<Builder> {
        private long hiddenSize;

        /** The width of the gated product; required. */
        public Builder hiddenSize(long hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        @Override
        @SuppressWarnings("unchecked")
        public SGLU build() {
            if (hiddenSize < 1) {
                throw new IllegalArgumentException("hiddenSize: got " + hiddenSize + "; expected >= 1");
            }
            checkSizes(true);
            checkFormat();
            return new SGLU(this);
        }
    }
}
