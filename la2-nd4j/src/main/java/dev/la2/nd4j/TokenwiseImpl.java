package dev.la2.nd4j;

import java.util.Arrays;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The layer a {@link TokenwiseLayer} configures. Its subclass maps token-major rows
 * ([minibatch*T, features]) to rows; this class turns NCW or NWC sequences into rows and back.
 * The output is computed into the ACTIVATIONS array itself (NCW gets a permuted view of it), and
 * the backward recomputes what it needs from the input, since every step costs a few products only.
 *
 * <p>A [minibatch, features] input is one time step, mapped to [minibatch, nOut]: what
 * {@code rnnTimeStep} hands a layer that is not itself recurrent when given one step as a matrix.
 *
 * <p>The mask passes through unchanged: a masked step is mapped like any other, and the layers
 * after it (the attention, the output layer) ignore it.
 */
public abstract class TokenwiseImpl<C extends TokenwiseLayer> extends BaseLayer<C> {

    protected TokenwiseImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Writes the rows' outputs [rows, nOut] into {@code out}; scratch goes in {@code ws}. */
    protected abstract void forwardRows(INDArray x, INDArray out, boolean training, ArrayType ws, LayerWorkspaceMgr mgr);

    /**
     * Writes dL/dx [rows, nIn] into {@code dx} and the parameter gradients into {@code gradient}
     * (views of DL4J's flattened gradient), from the rows {@code x} and dL/dy {@code dy}.
     */
    protected abstract void backwardRows(INDArray x, INDArray dy, INDArray dx, Gradient gradient, LayerWorkspaceMgr mgr);

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public Type type() {
        return Type.RECURRENT;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, mgr);
        INDArray x = rows(input, ArrayType.FF_WORKING_MEM, mgr);
        INDArray out = mgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, tokenMajorShape(layerConf().getNOut()), 'c');
        forwardRows(x, out.reshape('c', x.size(0), layerConf().getNOut()), training, ArrayType.FF_WORKING_MEM, mgr);
        return fromTokenMajor(out);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
        assertInputSet(true);
        INDArray x = rows(input, ArrayType.BP_WORKING_MEM, mgr);
        INDArray dy = rows(epsilon, ArrayType.BP_WORKING_MEM, mgr);
        INDArray epsOut = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType,
                tokenMajorShape(layerConf().getNIn()), 'c');
        Gradient gradient = new DefaultGradient();
        backwardRows(x, dy, epsOut.reshape('c', x.size(0), layerConf().getNIn()), gradient, mgr);
        weightNoiseParams.clear();
        return new Pair<>(gradient, backpropDropOutIfPresent(fromTokenMajor(epsOut)));
    }

    /** Whether the current input is one time step as a matrix [minibatch, features]. */
    private boolean oneStep() {
        return input.rank() == 2;
    }

    private boolean ncw() {
        return layerConf().getRnnDataFormat() == RNNFormat.NCW;
    }

    /** [minibatch, T, features] of the current input's minibatch and length ([minibatch, features] for one step). */
    private long[] tokenMajorShape(long features) {
        if (oneStep()) {
            return new long[] {input.size(0), features};
        }
        return new long[] {input.size(0), ncw() ? input.size(2) : input.size(1), features};
    }

    private INDArray fromTokenMajor(INDArray a) {
        return ncw() && !oneStep() ? a.permute(0, 2, 1) : a;
    }

    /** A sequence (or one step) as dense token-major rows in the network's data type, copied into {@code ws} only if needed. */
    private INDArray rows(INDArray seq, ArrayType ws, LayerWorkspaceMgr mgr) {
        C c = layerConf();
        boolean step = oneStep();
        int featureAxis = step || ncw() ? 1 : 2;
        if (seq.rank() != (step ? 2 : 3) || seq.isEmpty() || (seq == input && seq.size(featureAxis) != c.getNIn())) {
            throw new DL4JInvalidInputException(getClass().getSimpleName() + " '" + c.getLayerName() + "' (index "
                    + getIndex() + "): got input of shape " + Arrays.toString(seq.shape()) + "; expected "
                    + (ncw() ? "[minibatch, " + c.getNIn() + ", T] (NCW)" : "[minibatch, T, " + c.getNIn() + "] (NWC)")
                    + " or one step [minibatch, " + c.getNIn() + "], minibatch and T >= 1");
        }
        INDArray tokenMajor = ncw() && !step ? seq.permute(0, 2, 1) : seq;
        INDArray dense = Nd4jTensors.isDenseRowMajor(tokenMajor) && tokenMajor.dataType() == dataType
                ? tokenMajor : mgr.dup(ws, tokenMajor.castTo(dataType), 'c');
        return step ? dense : dense.reshape('c', dense.size(0) * dense.size(1), dense.size(2));
    }
}
