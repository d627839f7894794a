package dev.la2.nd4j;

import static dev.la2.nd4j.LightningAttentionParamInitializer.BIAS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.KEY_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.LOG_DECAY;
import static dev.la2.nd4j.LightningAttentionParamInitializer.OUTPUT_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.QUERY_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.VALUE_WEIGHTS;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.SavedForward;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.api.layers.RecurrentLayer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The layer {@link LightningAttentionLayer} configures: its own forward and backward pass, with the
 * attention itself run by an la2 backend through {@link Nd4jAttention}.
 *
 * <p>Activations are computed token-major ([minibatch*T, features] row blocks), which is the BNHD
 * layout la2 takes without a copy; only NCW input and output need a transpose. Backprop recomputes
 * the forward pass (DL4J keeps only the input alive between the two), which costs one extra
 * forward but keeps memory at O(T) per layer.
 */
public class LightningAttentionImpl extends BaseLayer<LightningAttentionLayer> implements RecurrentLayer {
    /** Key of the [minibatch, H, D, E] state in {@link #rnnGetPreviousState()}. */
    public static final String STATE_KEY = "state";

    private static final double NORM_EPSILON = 1e-6;

    private Map<String, INDArray> stateMap = new HashMap<>();
    private Map<String, INDArray> tbpttStateMap = new HashMap<>();
    /** The initial state the last forward pass in training started from, which backprop must reuse. */
    private INDArray backpropInitialState;

    public LightningAttentionImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public Type type() {
        return Type.RECURRENT;
    }

    // ------------------------------------------------------------------ forward

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, mgr);
        backpropInitialState = null;
        return forward(input, null, false, training, false, mgr).activations;
    }

    @Override
    public INDArray rnnTimeStep(INDArray in, LayerWorkspaceMgr mgr) {
        setInput(in, mgr);
        boolean single = in.rank() == 2;
        INDArray x = single ? asSequence(in) : in;
        long nIn = layerConf().getNIn();
        if (layerConf().getRnnDataFormat() == RNNFormat.NWC && x.rank() == 3 && nIn != 1
                && x.size(1) == nIn && x.size(2) == 1) {
            // MultiLayerNetwork.rnnTimeStep turns a 2-d step into [mb, nIn, 1] whatever the format.
            x = x.reshape(x.size(0), 1, nIn);
        }
        Pass p = forward(x, stateMap.get(STATE_KEY), true, false, false, mgr);
        stateMap.put(STATE_KEY, p.finalState);
        return single ? p.activations.reshape(p.activations.size(0), p.activations.length() / p.activations.size(0))
                : p.activations;
    }

    @Override
    public INDArray rnnActivateUsingStoredState(INDArray in, boolean training, boolean storeLastForTBPTT,
                                                LayerWorkspaceMgr mgr) {
        setInput(in, mgr);
        applyDropOutIfNecessary(training, mgr);
        INDArray s0 = tbpttStateMap.get(STATE_KEY);
        Pass p = forward(input, s0, storeLastForTBPTT, training, false, mgr);
        backpropInitialState = s0;
        if (storeLastForTBPTT) {
            tbpttStateMap.put(STATE_KEY, p.finalState);
        }
        return p.activations;
    }

    private INDArray asSequence(INDArray step) {
        return layerConf().getRnnDataFormat() == RNNFormat.NCW
                ? step.reshape(step.size(0), step.size(1), 1)
                : step.reshape(step.size(0), 1, step.size(1));
    }

    /** What one forward pass made; the intermediate arrays are kept only for backprop. */
    private static final class Pass {
        INDArray activations;
        INDArray finalState;
        INDArray x2;
        INDArray q;
        INDArray k;
        INDArray v;
        INDArray decay;
        INDArray attention;
        INDArray rms;
        INDArray normed;
        INDArray preOut;
        INDArray mask;
        /** What the backend kept for backprop's backward call, or null. */
        SavedForward saved;
        long batch;
        long steps;
    }

    /**
     * @param s0         the initial state, or null for zero
     * @param wantFinal  whether to return the final state, allocated outside every workspace
     * @param forBackprop scratch and output in BP_WORKING_MEM, pre-activations kept
     */
    private Pass forward(INDArray x, INDArray s0, boolean wantFinal, boolean training, boolean forBackprop,
                         LayerWorkspaceMgr mgr) {
        try {
            return forwardPass(x, s0, wantFinal, training, forBackprop, mgr);
        } catch (RuntimeException e) {
            // DL4J drops a layer's mask only after a pass that succeeded (Layer.clear()), and a later call
            // without a mask does not reset it: a refused call must not leave its mask to be applied to
            // (or to fail) the next, unrelated call.
            maskArray = null;
            maskState = null;
            throw e;
        }
    }

    private Pass forwardPass(INDArray x, INDArray s0, boolean wantFinal, boolean training, boolean forBackprop,
                             LayerWorkspaceMgr mgr) {
        LightningAttentionLayer c = layerConf();
        checkInput(x, c);
        ArrayType ws = forBackprop ? ArrayType.BP_WORKING_MEM : ArrayType.FF_WORKING_MEM;
        boolean ncw = c.getRnnDataFormat() == RNNFormat.NCW;
        Pass p = new Pass();
        p.batch = x.size(0);
        p.steps = ncw ? x.size(2) : x.size(1);
        long rows = p.batch * p.steps;
        int h = c.getNHeads();
        long hd = (long) h * c.getHeadSize();
        long he = (long) h * c.getValueSize();

        INDArray tokenMajor = ncw ? x.permute(0, 2, 1) : x;
        p.x2 = (Nd4jTensors.isDenseRowMajor(tokenMajor) && tokenMajor.dataType() == dataType
                ? tokenMajor : mgr.dup(ws, tokenMajor.castTo(dataType), 'c')).reshape('c', rows, c.getNIn());
        p.mask = maskColumn(p.batch, p.steps, ws, mgr);

        p.q = mgr.createUninitialized(ws, dataType, new long[] {rows, hd}, 'c');
        p.k = mgr.createUninitialized(ws, dataType, new long[] {rows, hd}, 'c');
        p.v = mgr.createUninitialized(ws, dataType, new long[] {rows, he}, 'c');
        // Nd4j.gemm, not mmuli: ND4J's mmuli turns a NaN in a [1, 1] left operand (one token, one input
        // feature) into a small finite number instead of propagating it.
        Nd4j.gemm(p.x2, getParamWithNoise(QUERY_WEIGHTS, training, mgr), p.q, false, false, 1.0, 0.0);
        Nd4j.gemm(p.x2, getParamWithNoise(KEY_WEIGHTS, training, mgr), p.k, false, false, 1.0, 0.0);
        Nd4j.gemm(p.x2, getParamWithNoise(VALUE_WEIGHTS, training, mgr), p.v, false, false, 1.0, 0.0);
        if (p.mask != null) {
            // A padded step must add nothing to the state: zero its key and value.
            p.k.muliColumnVector(p.mask);
            p.v.muliColumnVector(p.mask);
        }

        p.decay = decayRates(c);
        p.attention = mgr.createUninitialized(ws, dataType, new long[] {rows, he}, 'c');
        DType dtype = Nd4jTensors.dtype(dataType, "network data type");
        if (wantFinal) {
            try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                p.finalState = Nd4j.createUninitialized(Nd4jTensors.dataType(dtype.stateType()),
                        p.batch, h, c.getHeadSize(), c.getValueSize());
            }
        }
        // Backprop runs the backward right after this forward: keeping the block states costs memory
        // only until then and spares the backward their recomputation.
        p.saved = adapter(dtype).forward(SequenceFormat.NWC, h, seq(p.q, p), seq(p.k, p), seq(p.v, p), p.decay,
                castState(s0, dtype), options(c, wantFinal).withSaveForBackward(forBackprop), seq(p.attention, p),
                p.finalState);

        INDArray projected = p.attention;
        if (c.isHeadNorm()) {
            INDArray perHead = p.attention.reshape('c', rows * h, c.getValueSize());
            p.rms = Transforms.sqrt(perHead.mul(perHead).mean(true, 1).addi(NORM_EPSILON), false);
            p.normed = mgr.createUninitialized(ws, dataType, new long[] {rows, he}, 'c');
            p.normed.reshape('c', rows * h, c.getValueSize()).assign(perHead).diviColumnVector(p.rms);
            projected = p.normed;
        }

        // Token-major result: the activations themselves for NWC, a scratch array transposed after for NCW.
        long nOut = c.getNOut();
        INDArray out3;
        INDArray z;
        if (ncw || forBackprop) {
            z = mgr.createUninitialized(ws, dataType, new long[] {rows, nOut}, 'c');
            out3 = null;
        } else {
            out3 = mgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, new long[] {p.batch, p.steps, nOut}, 'c');
            z = out3.reshape('c', rows, nOut);
        }
        Nd4j.gemm(projected, getParamWithNoise(OUTPUT_WEIGHTS, training, mgr), z, false, false, 1.0, 0.0);
        if (c.isHasBias()) {
            z.addiRowVector(getParamWithNoise(BIAS, training, mgr));
        }
        if (forBackprop) {
            p.preOut = z;
            z = mgr.dup(ws, z, 'c');
        }
        c.getActivationFn().getActivation(z, training);
        if (p.mask != null) {
            z.muliColumnVector(p.mask);
        }
        if (forBackprop) {
            p.activations = z;
        } else if (ncw) {
            INDArray out = mgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, new long[] {p.batch, nOut, p.steps}, 'c');
            out.assign(z.reshape('c', p.batch, p.steps, nOut).permute(0, 2, 1));
            p.activations = out;
        } else {
            p.activations = out3;
        }
        return p;
    }

    // ------------------------------------------------------------------ backward

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
        assertInputSet(true);
        Pass p = forward(input, backpropInitialState, false, true, true, mgr);
        try {
            return backprop(p, epsilon, mgr);
        } finally {
            if (p.saved != null) {
                p.saved.close();
            }
        }
    }

    private Pair<Gradient, INDArray> backprop(Pass p, INDArray epsilon, LayerWorkspaceMgr mgr) {
        LightningAttentionLayer c = layerConf();
        ArrayType ws = ArrayType.BP_WORKING_MEM;
        boolean ncw = c.getRnnDataFormat() == RNNFormat.NCW;
        long rows = p.batch * p.steps;
        int h = c.getNHeads();
        long nOut = c.getNOut();
        long nIn = c.getNIn();
        DType dtype = Nd4jTensors.dtype(dataType, "network data type");

        INDArray e3 = ncw ? epsilon.permute(0, 2, 1) : epsilon;
        INDArray dz = mgr.dup(ws, e3.castTo(dataType), 'c').reshape('c', rows, nOut);
        if (p.mask != null) {
            dz.muliColumnVector(p.mask);
        }
        dz = c.getActivationFn().backprop(p.preOut, dz).getFirst();

        Gradient gradient = new DefaultGradient();
        INDArray gWo = gradientViews.get(OUTPUT_WEIGHTS);
        INDArray projected = c.isHeadNorm() ? p.normed : p.attention;
        Nd4j.gemm(projected, dz, gWo, true, false, 1.0, 0.0);
        gradient.gradientForVariable().put(OUTPUT_WEIGHTS, gWo);
        if (c.isHasBias()) {
            INDArray gb = gradientViews.get(BIAS);
            gb.assign(dz.sum(true, 0));
            gradient.gradientForVariable().put(BIAS, gb);
        }

        INDArray dAttention = mgr.createUninitialized(ws, dataType, new long[] {rows, (long) h * c.getValueSize()}, 'c');
        Nd4j.gemm(dz, getParamWithNoise(OUTPUT_WEIGHTS, true, mgr), dAttention, false, true, 1.0, 0.0);
        if (c.isHeadNorm()) {
            // y = o / r with r = sqrt(mean(o^2) + eps): do = (dy - y * mean(dy * y)) / r, per head.
            INDArray dy = dAttention.reshape('c', rows * h, c.getValueSize());
            INDArray y = p.normed.reshape('c', rows * h, c.getValueSize());
            INDArray dot = dy.mul(y).mean(true, 1);
            dy.subi(y.mulColumnVector(dot)).diviColumnVector(p.rms);
        }

        INDArray dq = mgr.createUninitialized(ws, dataType, p.q.shape(), 'c');
        INDArray dk = mgr.createUninitialized(ws, dataType, p.k.shape(), 'c');
        INDArray dv = mgr.createUninitialized(ws, dataType, p.v.shape(), 'c');
        DataType st = Nd4jTensors.dataType(dtype.stateType());
        INDArray dS0 = mgr.createUninitialized(ws, st, new long[] {p.batch, h, c.getHeadSize(), c.getValueSize()}, 'c');
        INDArray dDecay = c.isLearnableDecay() ? mgr.createUninitialized(ws, st, new long[] {h}, 'c') : null;
        adapter(dtype).backward(SequenceFormat.NWC, h, seq(p.q, p), seq(p.k, p), seq(p.v, p), p.decay,
                castState(backpropInitialState, dtype), seq(dAttention, p), null, options(c, false), p.saved,
                new Nd4jAttention.Grads(seq(dq, p), seq(dk, p), seq(dv, p), dS0, dDecay));
        if (p.mask != null) {
            dk.muliColumnVector(p.mask);
            dv.muliColumnVector(p.mask);
        }

        INDArray gWq = gradientViews.get(QUERY_WEIGHTS);
        INDArray gWk = gradientViews.get(KEY_WEIGHTS);
        INDArray gWv = gradientViews.get(VALUE_WEIGHTS);
        Nd4j.gemm(p.x2, dq, gWq, true, false, 1.0, 0.0);
        Nd4j.gemm(p.x2, dk, gWk, true, false, 1.0, 0.0);
        Nd4j.gemm(p.x2, dv, gWv, true, false, 1.0, 0.0);
        gradient.gradientForVariable().put(QUERY_WEIGHTS, gWq);
        gradient.gradientForVariable().put(KEY_WEIGHTS, gWk);
        gradient.gradientForVariable().put(VALUE_WEIGHTS, gWv);
        if (c.isLearnableDecay()) {
            // s = exp(theta), so dL/dtheta = dL/ds * s.
            INDArray gTheta = gradientViews.get(LOG_DECAY);
            gTheta.assign(dDecay.castTo(dataType).mul(p.decay.castTo(dataType)).reshape(1, h));
            gradient.gradientForVariable().put(LOG_DECAY, gTheta);
        }

        INDArray epsOut;
        INDArray dx2;
        if (ncw) {
            dx2 = mgr.createUninitialized(ws, dataType, new long[] {rows, nIn}, 'c');
            epsOut = null;
        } else {
            epsOut = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, new long[] {p.batch, p.steps, nIn}, 'c');
            dx2 = epsOut.reshape('c', rows, nIn);
        }
        Nd4j.gemm(dq, getParamWithNoise(QUERY_WEIGHTS, true, mgr), dx2, false, true, 1.0, 0.0);
        Nd4j.gemm(dk, getParamWithNoise(KEY_WEIGHTS, true, mgr), dx2, false, true, 1.0, 1.0);
        Nd4j.gemm(dv, getParamWithNoise(VALUE_WEIGHTS, true, mgr), dx2, false, true, 1.0, 1.0);
        if (ncw) {
            epsOut = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, new long[] {p.batch, nIn, p.steps}, 'c');
            epsOut.assign(dx2.reshape('c', p.batch, p.steps, nIn).permute(0, 2, 1));
        }
        weightNoiseParams.clear();
        return new Pair<>(gradient, backpropDropOutIfPresent(epsOut));
    }

    @Override
    public Pair<Gradient, INDArray> tbpttBackpropGradient(INDArray epsilon, int tbpttBackLength, LayerWorkspaceMgr mgr) {
        // Gradients stop at the chunk's initial state, which is what truncation means.
        return backpropGradient(epsilon, mgr);
    }

    // ------------------------------------------------------------------ recurrent state

    @Override
    public Map<String, INDArray> rnnGetPreviousState() {
        return new HashMap<>(stateMap);
    }

    @Override
    public void rnnSetPreviousState(Map<String, INDArray> state) {
        stateMap = detached(state);
    }

    @Override
    public void rnnClearPreviousState() {
        stateMap.clear();
        tbpttStateMap.clear();
        backpropInitialState = null;
    }

    @Override
    public Map<String, INDArray> rnnGetTBPTTState() {
        return new HashMap<>(tbpttStateMap);
    }

    @Override
    public void rnnSetTBPTTState(Map<String, INDArray> state) {
        tbpttStateMap = detached(state);
    }

    private static Map<String, INDArray> detached(Map<String, INDArray> state) {
        Map<String, INDArray> out = new HashMap<>();
        if (state != null) {
            state.forEach((k, v) -> out.put(k, v == null ? null : v.detach()));
        }
        return out;
    }

    // ------------------------------------------------------------------ helpers

    /**
     * Refuses a mask that is not [minibatch, T] before storing it: the network hands the mask to every
     * layer first, and a later layer's refusal (DL4J's RnnOutputLayer: "rank is not 2") would leave it
     * stored here, to fail the next call. The time extent is checked with the input, in the forward pass.
     */
    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState,
                                                          int minibatchSize) {
        if (maskArray != null && maskArray.rank() != 2) {
            throw new DL4JInvalidInputException("LightningAttentionLayer '" + layerConf().getLayerName()
                    + "': got mask of shape " + Arrays.toString(maskArray.shape())
                    + "; expected [minibatch, T] (rank 2)");
        }
        return super.feedForwardMaskArray(maskArray, currentMaskState, minibatchSize);
    }

    private void checkInput(INDArray x, LightningAttentionLayer c) {
        int featureAxis = c.getRnnDataFormat() == RNNFormat.NCW ? 1 : 2;
        if (x.rank() != 3 || x.size(featureAxis) != c.getNIn()) {
            throw new DL4JInvalidInputException("LightningAttentionLayer '" + c.getLayerName() + "' (index "
                    + getIndex() + "): got input of shape " + Arrays.toString(x.shape()) + "; expected "
                    + (featureAxis == 1 ? "[minibatch, " + c.getNIn() + ", T] (NCW)" : "[minibatch, T, " + c.getNIn() + "] (NWC)"));
        }
    }

    /** The [minibatch*T, 1] mask in token-major order, or null without a mask. */
    private INDArray maskColumn(long batch, long steps, ArrayType ws, LayerWorkspaceMgr mgr) {
        if (maskArray == null) {
            return null;
        }
        if (maskArray.rank() != 2 || maskArray.size(0) != batch || maskArray.size(1) != steps) {
            throw new DL4JInvalidInputException("LightningAttentionLayer '" + layerConf().getLayerName()
                    + "': got mask of shape " + Arrays.toString(maskArray.shape()) + "; expected [" + batch + ", " + steps + "]");
        }
        return mgr.dup(ws, maskArray.castTo(dataType), 'c').reshape('c', batch * steps, 1);
    }

    /** A [rows, H*F] token-major block seen as NWC [minibatch, T, H*F], without copying. */
    private static INDArray seq(INDArray rows, Pass p) {
        return rows.reshape('c', p.batch, p.steps, rows.size(1));
    }

    private INDArray decayRates(LightningAttentionLayer c) {
        DataType st = Nd4jTensors.dataType(Nd4jTensors.dtype(dataType, "network data type").stateType());
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (c.isLearnableDecay()) {
                return Transforms.exp(getParam(LOG_DECAY).castTo(DataType.DOUBLE), true).reshape(c.getNHeads()).castTo(st);
            }
            return Nd4j.createFromArray(DecaySlopes.alibi(c.getNHeads(), c.getDecayScale())).castTo(st);
        }
    }

    private static INDArray castState(INDArray state, DType dtype) {
        if (state == null) {
            return null;
        }
        DataType st = Nd4jTensors.dataType(dtype.stateType());
        return state.dataType() == st ? state : state.castTo(st);
    }

    private static AttentionOptions options(LightningAttentionLayer c, boolean wantFinal) {
        return AttentionOptions.defaults().withScale(c.getScale()).withFinalState(wantFinal)
                .withLearnableDecay(c.isLearnableDecay());
    }

    private Nd4jAttention adapter(DType dtype) {
        return new Nd4jAttention(BackendCache.get(layerConf().getBackend(), dtype));
    }
}
