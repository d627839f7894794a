package dev.la2.nd4j;

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

    /** The report of a layer whose working memory is {@code perStep} floats a time step plus {@code fixed}. */
    protected LayerMemoryReport memoryReport(InputType inputType, long perStep, long fixed) {
        InputType out = getOutputType(-1, inputType);
        long params = initializer().numParams(this);
        long updaterState = getIUpdater() == null ? 0 : getIUpdater().stateSize(params);
        long length = Math.max(1, ((InputType.InputTypeRecurrent) inputType).getTimeSeriesLength());
        long working = length * perStep + fixed;
        return new LayerMemoryReport.Builder(getLayerName(), getClass(), inputType, out)
                .standardMemory(params, updaterState)
                .workingMemory(0, working, MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.cacheModeMapFor(2 * working))
                .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.CACHE_MODE_ALL_ZEROS)
                .build();
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

        protected void checkFormat() {
            if (rnnDataFormat == null) {
                throw new IllegalArgumentException("rnnDataFormat: got null; expected NCW or NWC");
            }
        }
    }
}
