package dev.la2.nd4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

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
        long n = 0;
        for (long[] s : conf(layer).paramShapes().values()) {
            n += s[0] * s[1];
        }
        return n;
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
        Map<String, INDArray> views = views(c, paramsView);
        if (initializeParams) {
            views.forEach(c::initParam);
        }
        views.keySet().forEach(conf::addVariable);
        return views;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        return views(conf(conf.getLayer()), gradientView);
    }

    private static Map<String, INDArray> views(TokenwiseLayer c, INDArray flattened) {
        long total = flattened.length();
        INDArray flat = flattened.reshape(total);
        Map<String, INDArray> out = new LinkedHashMap<>();
        long at = 0;
        for (Map.Entry<String, long[]> e : c.paramShapes().entrySet()) {
            long[] s = e.getValue();
            long n = s[0] * s[1];
            out.put(e.getKey(), flat.get(NDArrayIndex.interval(at, at + n)).reshape('c', s[0], s[1]));
            at += n;
        }
        if (at != total) {
            throw new IllegalStateException("layer " + c.getLayerName() + ": parameter view has " + total
                    + " elements; the configuration needs " + at);
        }
        return out;
    }
}
