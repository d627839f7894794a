package dev.la2.nd4j;

import java.util.Collection;
import java.util.Map;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Configuration of a layer that maps each time step of a sequence (NCW or NWC) on its own, with no
 * state across steps: the TransNormerLLM block's {@link SRMSNorm} and {@link SGLU}. Such a layer is
 * causal and needs nothing carried between {@code rnnTimeStep} calls. It has no recurrent weights.
 *
 * <p>A subclass names its parameters, their shapes and their initial values; one
 * {@link TokenwiseParamInitializer} lays them out in DL4J's flattened view.
 */
public abstract class TokenwiseLayer extends SequenceLayer {

    /** For JSON. */
    protected TokenwiseLayer() {
    }

    protected TokenwiseLayer(BaseRecurrentLayer.Builder<?> b) {
        super(b);
    }

    /** Row and column extents of each parameter, in flattened order. */
    protected abstract Map<String, long[]> paramShapes();

    /** Whether the parameter is a weight (regularised with l1/l2) rather than a gain or bias. */
    protected abstract boolean isWeight(String key);

    /** Writes the initial value of one parameter into its view. */
    protected abstract void initParam(String key, INDArray view);

    /** The implementation for one network. */
    protected abstract TokenwiseImpl<?> newLayer(NeuralNetConfiguration conf, DataType networkDataType);

    /** Working floats per time step of the forward (for the memory report). */
    protected abstract long workingFloatsPerStep();

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> listeners, int layerIndex,
                                                       INDArray layerParamsView, boolean initializeParams,
                                                       DataType networkDataType) {
        LayerValidation.assertNInNOutSet(getClass().getSimpleName(), getLayerName(), layerIndex, nIn, nOut);
        TokenwiseImpl<?> layer = newLayer(conf, networkDataType);
        layer.setListeners(listeners);
        layer.setIndex(layerIndex);
        layer.setParamsViewArray(layerParamsView);
        layer.setParamTable(initializer().init(conf, layerParamsView, initializeParams));
        layer.setConf(conf);
        return layer;
    }

    @Override
    public ParamInitializer initializer() {
        return TokenwiseParamInitializer.getInstance();
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        long working = timeSteps(inputType) * workingFloatsPerStep();
        return memoryReport(inputType, new PerExample(working, 2 * working, 2 * working, 0));
    }

    // DL4J's Lombok equals() ignores subclass fields (see LightningAttentionLayer); the format is one.
    @Override
    public boolean equals(Object o) {
        return o instanceof TokenwiseLayer that && super.equals(o) && rnnDataFormat == that.rnnDataFormat;
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + (rnnDataFormat == null ? 0 : rnnDataFormat.hashCode());
    }
}
