package dev.la2.nd4j;

import java.util.EnumMap;
import java.util.Map;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.layers.InputTypeUtil;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;

/**
 * Configuration of a la2 layer on sequences (NCW or NWC): it takes recurrent input only, takes nIn
 * and the format from the input type, and has no pretraining parameters. A
 * {@link BaseRecurrentLayer} for DL4J's recurrent wrappers and format handling.
 */
public abstract class SequenceLayer extends BaseRecurrentLayer {

    /** For JSON. */
    protected SequenceLayer() {
    }

    protected SequenceLayer(BaseRecurrentLayer.Builder<?> b) {
        super(b);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        InputType.InputTypeRecurrent in = recurrent(inputType);
        return InputType.recurrent(nOut, in.getTimeSeriesLength(), rnnDataFormat);
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        InputType.InputTypeRecurrent in = recurrent(inputType);
        if (nIn <= 0 || override) {
            nIn = in.getSize();
        }
        rnnDataFormat = in.getFormat();
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return InputTypeUtil.getPreprocessorForInputTypeRnnLayers(inputType, rnnDataFormat, getLayerName());
    }

    private InputType.InputTypeRecurrent recurrent(InputType inputType) {
        if (!(inputType instanceof InputType.InputTypeRecurrent r)) {
            throw new IllegalStateException(getClass().getSimpleName() + " '" + getLayerName() + "': got input type "
                    + inputType + "; expected InputType.recurrent(size[, length][, format])");
        }
        return r;
    }

    /**
     * Memory of one example, in elements of the network's data type, by use.
     *
     * @param inference        working memory of an inference forward
     * @param trainingUncached working memory of a training step with CacheMode NONE
     * @param trainingCached   working memory of a training step under another cache mode, besides {@code cached}
     * @param cached           what a training forward under a cache mode keeps for backprop (0: nothing)
     */
    protected record PerExample(long inference, long trainingUncached, long trainingCached, long cached) {
    }

    /** DL4J's report of a layer with the given memory per example. */
    protected LayerMemoryReport memoryReport(InputType inputType, PerExample m) {
        long params = initializer().numParams(this);
        long updaterState = getIUpdater() == null ? 0 : getIUpdater().stateSize(params);
        Map<CacheMode, Long> training = new EnumMap<>(CacheMode.class);
        Map<CacheMode, Long> cached = new EnumMap<>(CacheMode.class);
        for (CacheMode mode : CacheMode.values()) {
            training.put(mode, mode == CacheMode.NONE ? m.trainingUncached() : m.trainingCached());
            cached.put(mode, mode == CacheMode.NONE ? 0L : m.cached());
        }
        return new LayerMemoryReport.Builder(getLayerName(), getClass(), inputType, getOutputType(-1, inputType))
                .standardMemory(params, updaterState)
                .workingMemory(0, m.inference(), MemoryReport.CACHE_MODE_ALL_ZEROS, training)
                .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, cached)
                .build();
    }

    /** The input type's sequence length, or 1 where it is not known. */
    protected static long timeSteps(InputType inputType) {
        return Math.max(1, ((InputType.InputTypeRecurrent) inputType).getTimeSeriesLength());
    }

    @Override
    public boolean isPretrainParam(String paramName) {
        return false;
    }

    /** The builders' shared format setter and its check. */
    public abstract static class Builder<T extends Builder<T>> extends BaseRecurrentLayer.Builder<T> {

        @SuppressWarnings("unchecked")
        public T rnnDataFormat(RNNFormat rnnDataFormat) {
            this.rnnDataFormat = rnnDataFormat;
            return (T) this;
        }

        /** nIn >= 0 (0: from the input type) and nOut >= 0, or >= 1 where it cannot be inferred. */
        protected void checkSizes(boolean nOutRequired) {
            if (nIn < 0) {
                throw new IllegalArgumentException("nIn: got " + nIn + "; expected >= 1, or 0 to take the input type's");
            }
            if (nOut < (nOutRequired ? 1 : 0)) {
                throw new IllegalArgumentException("nOut: got " + nOut + "; expected >= 1"
                        + (nOutRequired ? "" : ", or 0 to take the input's width"));
            }
        }

        protected void checkFormat() {
            if (rnnDataFormat == null) {
                throw new IllegalArgumentException("rnnDataFormat: got null; expected NCW or NWC");
            }
        }
    }
}
