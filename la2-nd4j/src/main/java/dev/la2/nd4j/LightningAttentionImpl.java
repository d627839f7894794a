package dev.la2.nd4j;

import static dev.la2.nd4j.LightningAttentionParamInitializer.BIAS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.GATE_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.KEY_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.LOG_DECAY;
import static dev.la2.nd4j.LightningAttentionParamInitializer.OUTPUT_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.QUERY_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.VALUE_WEIGHTS;

import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.api.layers.RecurrentLayer;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
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
 * layout la2 takes without a copy; only NCW input needs a transpose (none when it is itself a
 * transposed view of token-major memory). NCW activations and input gradients are returned as
 * such views.
 *
 * <p>Backprop needs the forward's projections, attention output and pre-activations. With a
 * {@link CacheMode} other than NONE (as DL4J's LSTM honours it) a training forward keeps them in
 * the FF_CACHE memory DL4J provides, and the backend keeps its block states
 * ({@link SavedForward}); backprop then uses them and runs no second forward. With NONE, or when
 * DL4J provides no cache memory, backprop recomputes the forward, which keeps memory between the
 * two passes at the input alone.
 *
 * <p>A masked call runs through the packed call, each example from its first to its last valid
 * step ({@link MaskSegments}), so padding at the start or the end does not age the carried state,
 * whatever the other examples' masks. A step masked between valid ones adds nothing to the state
 * but still ages it by one step of decay.
 */
public class LightningAttentionImpl extends BaseLayer<LightningAttentionLayer> implements RecurrentLayer {
    /** Key of the [minibatch, H, D, E] state in {@link #rnnGetPreviousState()}. */
    public static final String STATE_KEY = "state";

    private static final double NORM_EPSILON = 1e-6;

    /** What a forward pass keeps for backprop, and where. */
    private enum Keep {
        /** Inference: nothing; scratch in FF_WORKING_MEM. */
        NOTHING(ArrayType.FF_WORKING_MEM, ArrayType.FF_WORKING_MEM),
        /** A training forward under a cache mode: kept arrays in FF_CACHE, the output in ACTIVATIONS. */
        CACHE(ArrayType.FF_CACHE, ArrayType.FF_WORKING_MEM),
        /** Backprop's own forward: everything in BP_WORKING_MEM, no activations. */
        BACKPROP(ArrayType.BP_WORKING_MEM, ArrayType.BP_WORKING_MEM);

        final ArrayType kept;
        final ArrayType scratch;

        Keep(ArrayType kept, ArrayType scratch) {
            this.kept = kept;
            this.scratch = scratch;
        }
    }

    private Map<String, INDArray> stateMap = new HashMap<>();
    private Map<String, INDArray> tbpttStateMap = new HashMap<>();
    /** The initial state the last forward pass in training started from, which backprop must reuse. */
    private INDArray backpropInitialState;
    /** The last training forward's pass under a cache mode, for the next backprop; null otherwise. */
    private ForwardPass cached;

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
        return trainingForward(null, false, training, mgr).activations;
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
        ForwardPass p = forward(x, stateMap.get(STATE_KEY), true, false, Keep.NOTHING, mgr);
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
        ForwardPass p = trainingForward(s0, storeLastForTBPTT, training, mgr);
        backpropInitialState = s0;
        if (storeLastForTBPTT) {
            tbpttStateMap.put(STATE_KEY, p.finalState);
        }
        return p.activations;
    }

    /** A forward on {@link #input} that keeps its arrays for backprop when training under a cache mode. */
    private ForwardPass trainingForward(INDArray s0, boolean wantFinal, boolean training, LayerWorkspaceMgr mgr) {
        dropCache();
        boolean keep = training && caching(mgr);
        ForwardPass p = forward(input, s0, wantFinal, training, keep ? Keep.CACHE : Keep.NOTHING, mgr);
        if (keep) {
            cached = p;
        }
        return p;
    }

    /** Whether the cache mode asks for caching and DL4J provides the memory for it (as its LSTM checks). */
    private boolean caching(LayerWorkspaceMgr mgr) {
        return cacheMode != null && cacheMode != CacheMode.NONE && mgr.hasConfiguration(ArrayType.FF_CACHE)
                && mgr.isWorkspaceOpen(ArrayType.FF_CACHE);
    }

    private void dropCache() {
        if (cached != null) {
            cached.close();
            cached = null;
        }
    }

    private INDArray asSequence(INDArray step) {
        return layerConf().getRnnDataFormat() == RNNFormat.NCW
                ? step.reshape(step.size(0), step.size(1), 1)
                : step.reshape(step.size(0), 1, step.size(1));
    }

    /**
     * @param s0        the initial state, or null for zero
     * @param wantFinal whether to return the final state, allocated outside every workspace
     * @param keep      what to keep for backprop, and where
     */
    private ForwardPass forward(INDArray x, INDArray s0, boolean wantFinal, boolean training, Keep keep,
                                LayerWorkspaceMgr mgr) {
        ForwardPass p = new ForwardPass();
        try {
            forwardPass(p, x, s0, wantFinal, training, keep, mgr);
            return p;
        } catch (RuntimeException e) {
            p.close();
            // DL4J drops a layer's mask only after a pass that succeeded (Layer.clear()), and a later call
            // without a mask does not reset it: a refused call must not leave its mask to be applied to
            // (or to fail) the next, unrelated call.
            maskArray = null;
            maskState = null;
            throw e;
        }
    }

    private void forwardPass(ForwardPass p, INDArray x, INDArray s0, boolean wantFinal, boolean training, Keep keep,
                             LayerWorkspaceMgr mgr) {
        LightningAttentionLayer c = layerConf();
        checkInput(x, c);
        checkState(x, s0, c);
        ArrayType ws = keep.kept;
        boolean ncw = c.getRnnDataFormat() == RNNFormat.NCW;
        p.input = x;
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
        p.segments = MaskSegments.of(maskArray);

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
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            p.initialState = LayerArrays.castState(s0, dtype);
            if (wantFinal) {
                p.finalState = Nd4j.createUninitialized(Nd4jTensors.dataType(dtype.stateType()),
                        p.batch, h, c.getHeadSize(), c.getValueSize());
            }
        }
        // The backward runs after this forward: keeping the block states costs memory only until
        // then and spares the backward their recomputation.
        attend(p, dtype, LayerArrays.options(c, wantFinal).withSaveForBackward(keep != Keep.NOTHING));

        INDArray projected = p.attention;
        if (c.isHeadNorm()) {
            INDArray perHead = p.attention.reshape('c', rows * h, c.getValueSize());
            p.rms = headRms(perHead);
            if (keep == Keep.CACHE) {
                // Made in the current scope, which DL4J reuses for the next layer: keep it with the rest.
                p.rms = mgr.leverageTo(ws, p.rms);
            }
            p.normed = mgr.createUninitialized(ws, dataType, new long[] {rows, he}, 'c');
            p.normed.reshape('c', rows * h, c.getValueSize()).assign(perHead).diviColumnVector(p.rms);
            projected = p.normed;
        }
        if (c.isOutputGate()) {
            projected = gate(p, projected, training, keep, mgr);
        }
        output(p, projected, training, keep, mgr);
    }

    /**
     * sqrt(mean(o^2) + eps) per row of o [rows*H, E], the squares summed in fp32 for a 16-bit network:
     * in fp16 a square overflows above 256, which would zero the head whose rms itself fits.
     */
    private INDArray headRms(INDArray perHead) {
        INDArray o = dataType.width() < 4 ? perHead.castTo(DataType.FLOAT) : perHead;
        return Transforms.sqrt(o.mul(o).mean(true, 1).addi(NORM_EPSILON), false).castTo(dataType);
    }

    /** The (normed) attention output times the output gate gateAct(x Wg), keeping both gate arrays for backprop. */
    private INDArray gate(ForwardPass p, INDArray projected, boolean training, Keep keep, LayerWorkspaceMgr mgr) {
        ArrayType ws = keep.kept;
        p.gatePre = mgr.createUninitialized(ws, dataType, projected.shape(), 'c');
        Nd4j.gemm(p.x2, getParamWithNoise(GATE_WEIGHTS, training, mgr), p.gatePre, false, false, 1.0, 0.0);
        p.gate = layerConf().getGateActivation().getActivation(mgr.dup(ws, p.gatePre, 'c'), training);
        p.gated = mgr.dup(ws, projected, 'c').muli(p.gate);
        return p.gated;
    }

    /** The attention of the pass's q, k, v into its attention output (and final state). */
    private void attend(ForwardPass p, DType dtype, AttentionOptions options) {
        int h = layerConf().getNHeads();
        Nd4jAttention adapter = adapter(dtype);
        if (p.segments == null) {
            p.saved = adapter.forward(SequenceFormat.NWC, h, LayerArrays.seq(p.q, p), LayerArrays.seq(p.k, p),
                    LayerArrays.seq(p.v, p), p.decay, p.initialState, options, LayerArrays.seq(p.attention, p),
                    p.finalState);
            return;
        }
        INDArray packedFinal = null;
        if (p.finalState != null) {
            try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                packedFinal = Nd4j.createUninitialized(p.finalState.dataType(),
                        p.segments.packedStateShape(p.finalState.shape()));
            }
        }
        p.saved = adapter.forwardPacked(LayerArrays.heads(p.q, h), LayerArrays.heads(p.k, h),
                LayerArrays.heads(p.v, h), p.decay, p.segments.offsets(), p.segments.pack(p.initialState), options,
                LayerArrays.heads(p.attention, h), packedFinal);
        if (packedFinal != null) {
            p.finalState.assign(p.segments.valid(packedFinal));
        }
    }

    /** Wo, bias, activation and mask, into the activations (ACTIVATIONS) unless for backprop. */
    private void output(ForwardPass p, INDArray projected, boolean training, Keep keep, LayerWorkspaceMgr mgr) {
        LightningAttentionLayer c = layerConf();
        boolean ncw = c.getRnnDataFormat() == RNNFormat.NCW;
        long rows = p.batch * p.steps;
        long nOut = c.getNOut();
        // Token-major result: the activations themselves for inference, else a copy made after (the
        // pre-activations must outlive the activation function when kept). NCW activations are a
        // transposed view of it: DL4J's layers take arrays of any order, and a strided copy into
        // [minibatch, nOut, T] would cost more than the output projection.
        INDArray out3 = null;
        INDArray z;
        if (keep != Keep.NOTHING) {
            z = mgr.createUninitialized(keep.kept, dataType, new long[] {rows, nOut}, 'c');
        } else {
            out3 = mgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, new long[] {p.batch, p.steps, nOut}, 'c');
            z = out3.reshape('c', rows, nOut);
        }
        Nd4j.gemm(projected, getParamWithNoise(OUTPUT_WEIGHTS, training, mgr), z, false, false, 1.0, 0.0);
        if (c.isHasBias()) {
            z.addiRowVector(getParamWithNoise(BIAS, training, mgr));
        }
        if (keep != Keep.NOTHING) {
            p.preOut = z;
            if (keep == Keep.CACHE) {
                out3 = mgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, new long[] {p.batch, p.steps, nOut}, 'c');
                z = out3.reshape('c', rows, nOut).assign(z);
            } else {
                z = mgr.dup(keep.scratch, z, 'c');
            }
        }
        c.getActivationFn().getActivation(z, training);
        if (p.mask != null) {
            z.muliColumnVector(p.mask);
        }
        if (keep == Keep.BACKPROP) {
            p.activations = z;
        } else {
            p.activations = ncw ? out3.permute(0, 2, 1) : out3;
        }
    }

    // ------------------------------------------------------------------ backward

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
        assertInputSet(true);
        ForwardPass p = cached != null && cached.input == input ? cached : null;
        cached = null;
        if (p == null) {
            dropCache();
            p = forward(input, backpropInitialState, false, true, Keep.BACKPROP, mgr);
        }
        try (ForwardPass pass = p) {
            DType dtype = Nd4jTensors.dtype(dataType, "network data type");
            Pair<Gradient, INDArray> result = new LightningAttentionBackprop(layerConf(), dataType, adapter(dtype),
                    key -> getParamWithNoise(key, true, mgr), gradientViews).run(pass, epsilon, mgr);
            weightNoiseParams.clear();
            return new Pair<>(result.getFirst(), backpropDropOutIfPresent(result.getSecond()));
        }
    }

    /** Drops a cached pass with the input it was made from. */
    @Override
    public void clear() {
        super.clear();
        dropCache();
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
        // ComputationGraph passes an empty array on, which ND4J would refuse naming no array.
        if (x.rank() != 3 || x.isEmpty() || x.size(featureAxis) != c.getNIn()) {
            throw new DL4JInvalidInputException("LightningAttentionLayer '" + c.getLayerName() + "' (index "
                    + getIndex() + "): got input of shape " + Arrays.toString(x.shape()) + "; expected "
                    + (featureAxis == 1 ? "[minibatch, " + c.getNIn() + ", T] (NCW)" : "[minibatch, T, " + c.getNIn() + "] (NWC)")
                    + ", minibatch and T >= 1");
        }
    }

    /**
     * Refuses a stored state (rnnTimeStep's, truncated BPTT's or rnnSetPreviousState's) that is not
     * [minibatch, H, D, E] for the input and this layer, naming the stored state rather than the
     * backend's initialState the user never passed.
     */
    private void checkState(INDArray x, INDArray s0, LightningAttentionLayer c) {
        long[] expected = {x.size(0), c.getNHeads(), c.getHeadSize(), c.getValueSize()};
        if (s0 != null && !Arrays.equals(s0.shape(), expected)) {
            throw new DL4JInvalidInputException("LightningAttentionLayer '" + c.getLayerName() + "' (index "
                    + getIndex() + "): got input of minibatch " + x.size(0) + " while the stored recurrent state is "
                    + Arrays.toString(s0.shape()) + (s0.rank() == 4 ? " (is for minibatch " + s0.size(0) + ")" : "")
                    + "; expected " + Arrays.toString(expected) + " ([minibatch, heads, headSize, valueSize]), or call"
                    + " rnnClearPreviousState() (or rnnSetPreviousState) first");
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

    private INDArray decayRates(LightningAttentionLayer c) {
        DataType st = Nd4jTensors.dataType(Nd4jTensors.dtype(dataType, "network data type").stateType());
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (c.isLearnableDecay()) {
                return Transforms.exp(getParam(LOG_DECAY).castTo(DataType.DOUBLE), true).reshape(c.getNHeads()).castTo(st);
            }
            return Nd4j.createFromArray(DecaySlopes.alibi(c.getNHeads(), c.getDecayScale())).castTo(st);
        }
    }

    /**
     * The name of the la2 backend this layer runs on: its configured backend taken as a preference,
     * as resolved on this machine (see {@link BackendCache#preferred}).
     */
    public String backendName() {
        return backend(Nd4jTensors.dtype(dataType, "network data type")).backendName();
    }

    private LightningAttention backend(DType dtype) {
        return BackendCache.preferred(layerConf().getBackend(), dtype);
    }

    private Nd4jAttention adapter(DType dtype) {
        return new Nd4jAttention(backend(dtype));
    }
}
