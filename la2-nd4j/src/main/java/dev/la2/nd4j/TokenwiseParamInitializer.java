package dev.la2.nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Parameters of a {@link TokenwiseLayer}: the views its {@link TokenwiseLayer#paramShapes()} name,
 * row-major and in that order in DL4J's flattened view. Weights are regularised as weights; every
 * other parameter (a gain) as a bias.
 */
public final class TokenwiseParamInitializer implements ParamInitializer {
    private static final TokenwiseParamInitializer INSTANCE = new TokenwiseParamInitializer();

    public static TokenwiseParamInitializer getInstance() {
        return INSTANCE;
    }

    private TokenwiseParamInitializer() {
    }

    private static TokenwiseLayer conf(Layer layer) {
        if (!(layer instanceof TokenwiseLayer l)) {
            throw new IllegalArgumentException("layer: got " + layer.getClass().getName()
                    + "; expected a " + TokenwiseLayer.class.getName());
        }
        return l;
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        return ParamLayout.numParams(conf(layer).paramShapes());
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return new ArrayList<>(conf(layer).paramShapes().keySet());
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return paramKeys(layer).stream().filter(k -> conf(layer).isWeight(k)).toList();
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return paramKeys(layer).stream().filter(k -> !conf(layer).isWeight(k)).toList();
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return weightKeys(layer).contains(key);
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return biasKeys(layer).contains(key);
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        TokenwiseLayer c = conf(conf.getLayer());
        Map<String, INDArray> views = ParamLayout.views(c.getLayerName(), c.paramShapes(), paramsView);
        if (initializeParams) {
            views.forEach(c::initParam);
        }
        views.keySet().forEach(conf::addVariable);
        return views;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        TokenwiseLayer c = conf(conf.getLayer());
        return ParamLayout.views(c.getLayerName(), c.paramShapes(), gradientView);
    }
}
