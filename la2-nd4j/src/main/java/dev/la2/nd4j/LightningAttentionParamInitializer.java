package dev.la2.nd4j;

import dev.la2.api.DecaySlopes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Parameters of {@link LightningAttentionLayer}, in this order in the flattened view:
 * Wq [nIn, H*D], Wk [nIn, H*D], Wv [nIn, H*E], Wo [H*E, nOut] (row-major), then b [1, nOut] when
 * the layer has a bias, then theta [1, H] when the decay is learnable (rate s_h = exp(theta_h)),
 * then Wg [nIn, H*E] when the layer has an output gate.
 */
public final class LightningAttentionParamInitializer implements ParamInitializer {
    public static final String QUERY_WEIGHTS = "Wq";
    public static final String KEY_WEIGHTS = "Wk";
    public static final String VALUE_WEIGHTS = "Wv";
    public static final String OUTPUT_WEIGHTS = "Wo";
    public static final String BIAS = "b";
    /** Log of the per-head decay rates; kept apart from weights and biases so no regularisation applies. */
    public static final String LOG_DECAY = "theta";
    public static final String GATE_WEIGHTS = "Wg";

    private static final LightningAttentionParamInitializer INSTANCE = new LightningAttentionParamInitializer();

    public static LightningAttentionParamInitializer getInstance() {
        return INSTANCE;
    }

    private LightningAttentionParamInitializer() {
    }

    private static LightningAttentionLayer conf(Layer layer) {
        if (!(layer instanceof LightningAttentionLayer l)) {
            throw new IllegalArgumentException("layer: got " + layer.getClass().getName()
                    + "; expected " + LightningAttentionLayer.class.getName());
        }
        return l;
    }

    /** Row and column extents of each parameter, in flattened order. */
    private static Map<String, long[]> shapes(LightningAttentionLayer c) {
        long qk = (long) c.getNHeads() * c.getHeadSize();
        long hv = (long) c.getNHeads() * c.getValueSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(QUERY_WEIGHTS, new long[] {c.getNIn(), qk});
        m.put(KEY_WEIGHTS, new long[] {c.getNIn(), qk});
        m.put(VALUE_WEIGHTS, new long[] {c.getNIn(), hv});
        m.put(OUTPUT_WEIGHTS, new long[] {hv, c.getNOut()});
        if (c.isHasBias()) {
            m.put(BIAS, new long[] {1, c.getNOut()});
        }
        if (c.isLearnableDecay()) {
            m.put(LOG_DECAY, new long[] {1, c.getNHeads()});
        }
        if (c.isOutputGate()) {
            m.put(GATE_WEIGHTS, new long[] {c.getNIn(), hv});
        }
        return m;
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        return ParamLayout.numParams(shapes(conf(layer)));
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return new ArrayList<>(shapes(conf(layer)).keySet());
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return conf(layer).isOutputGate() ? List.of(QUERY_WEIGHTS, KEY_WEIGHTS, VALUE_WEIGHTS, OUTPUT_WEIGHTS, GATE_WEIGHTS)
                : List.of(QUERY_WEIGHTS, KEY_WEIGHTS, VALUE_WEIGHTS, OUTPUT_WEIGHTS);
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return conf(layer).isHasBias() ? List.of(BIAS) : List.of();
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return weightKeys(layer).contains(key);
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return BIAS.equals(key) && conf(layer).isHasBias();
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        LightningAttentionLayer c = conf(conf.getLayer());
        Map<String, INDArray> views = ParamLayout.views(c.getLayerName(), shapes(c), paramsView);
        if (initializeParams) {
            for (Map.Entry<String, INDArray> e : views.entrySet()) {
                INDArray view = e.getValue();
                switch (e.getKey()) {
                    case BIAS -> view.assign(c.getBiasInit());
                    case LOG_DECAY -> {
                        double[] rates = DecaySlopes.alibi(c.getNHeads(), c.getDecayScale());
                        for (int h = 0; h < rates.length; h++) {
                            view.putScalar(0, h, Math.log(rates[h]));
                        }
                    }
                    default -> c.getWeightInitFn().init(view.size(0), view.size(1), view.shape(), 'c', view);
                }
            }
        }
        views.keySet().forEach(conf::addVariable);
        return views;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        LightningAttentionLayer c = conf(conf.getLayer());
        return ParamLayout.views(c.getLayerName(), shapes(c), gradientView);
    }
}
