package dev.la2.nd4j;

import static dev.la2.nd4j.LightningAttentionParamInitializer.BIAS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.GATE_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.KEY_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.LOG_DECAY;
import static dev.la2.nd4j.LightningAttentionParamInitializer.OUTPUT_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.QUERY_WEIGHTS;
import static dev.la2.nd4j.LightningAttentionParamInitializer.VALUE_WEIGHTS;

import dev.la2.api.DType;
import java.util.Map;
import java.util.function.Function;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce3.Dot;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The backward pass of {@link LightningAttentionImpl} from the arrays a {@link ForwardPass} kept:
 * parameter gradients written in place into DL4J's gradient views, and dL/dinput returned in
 * ACTIVATION_GRAD.
 *
 * @param weights     the parameters as the forward used them (with weight noise, if any)
 * @param gradientViews the layer's views into the network's flattened gradient
 */
record LightningAttentionBackprop(LightningAttentionLayer conf, DataType dataType, Nd4jAttention adapter,
                                  Function<String, INDArray> weights, Map<String, INDArray> gradientViews) {

    Pair<Gradient, INDArray> run(ForwardPass p, INDArray epsilon, LayerWorkspaceMgr mgr) {
        LightningAttentionLayer c = conf;
        ArrayType ws = ArrayType.BP_WORKING_MEM;
        boolean ncw = c.getRnnDataFormat() == RNNFormat.NCW;
        long rows = p.batch * p.steps;
        int h = c.getNHeads();
        long nOut = c.getNOut();
        long nIn = c.getNIn();

        INDArray e3 = ncw ? epsilon.permute(0, 2, 1) : epsilon;
        INDArray dz = mgr.dup(ws, e3.castTo(dataType), 'c').reshape('c', rows, nOut);
        if (p.mask != null) {
            dz.muliColumnVector(p.mask);
        }
        dz = c.getActivationFn().backprop(p.preOut, dz).getFirst();

        Gradient gradient = new DefaultGradient();
        INDArray gWo = gradientViews.get(OUTPUT_WEIGHTS);
        INDArray ungated = c.isHeadNorm() ? p.normed : p.attention;
        Nd4j.gemm(c.isOutputGate() ? p.gated : ungated, dz, gWo, true, false, 1.0, 0.0);
        gradient.gradientForVariable().put(OUTPUT_WEIGHTS, gWo);
        if (c.isHasBias()) {
            // The column sums as a product with a column of ones: ND4J's sum along dimension 0 of a
            // row-major array walks it column by column, several times slower than the GEMM.
            INDArray ones = mgr.createUninitialized(ws, dataType, new long[] {rows, 1}, 'c').assign(1.0);
            INDArray gb = gradientViews.get(BIAS);
            Nd4j.gemm(ones, dz, gb, true, false, 1.0, 0.0);
            gradient.gradientForVariable().put(BIAS, gb);
        }

        INDArray dAttention = mgr.createUninitialized(ws, dataType, new long[] {rows, (long) h * c.getValueSize()}, 'c');
        Nd4j.gemm(dz, weights.apply(OUTPUT_WEIGHTS), dAttention, false, true, 1.0, 0.0);
        INDArray dGatePre = null;
        if (c.isOutputGate()) {
            // g = ungated * u, u = gateAct(x Wg): d ungated = dg * u, d(x Wg) = gateAct'(dg * ungated).
            INDArray dGate = mgr.dup(ws, dAttention, 'c').muli(ungated);
            dGatePre = c.getGateActivation().backprop(p.gatePre, dGate).getFirst();
            dAttention.muli(p.gate);
        }
        if (c.isHeadNorm()) {
            // y = o / r with r = sqrt(mean(o^2) + eps): do = (dy - y * mean(dy * y)) / r, per head.
            INDArray dy = dAttention.reshape('c', rows * h, c.getValueSize());
            INDArray y = p.normed.reshape('c', rows * h, c.getValueSize());
            // The per-head dot products by one reduction over both arrays, with no product array.
            INDArray dot = mgr.createUninitialized(ws, dataType, new long[] {rows * h, 1}, 'c');
            Nd4j.getExecutioner().exec(new Dot(dy, y, dot, 1));
            dot.divi(c.getValueSize());
            dy.subi(y.mulColumnVector(dot)).diviColumnVector(p.rms);
        }

        INDArray dq = mgr.createUninitialized(ws, dataType, p.q.shape(), 'c');
        INDArray dk = mgr.createUninitialized(ws, dataType, p.k.shape(), 'c');
        INDArray dv = mgr.createUninitialized(ws, dataType, p.v.shape(), 'c');
        INDArray dDecay = attentionBackward(p, dAttention, dq, dk, dv, mgr);
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
        if (dGatePre != null) {
            INDArray gWg = gradientViews.get(GATE_WEIGHTS);
            Nd4j.gemm(p.x2, dGatePre, gWg, true, false, 1.0, 0.0);
            gradient.gradientForVariable().put(GATE_WEIGHTS, gWg);
        }

        // Token-major like the activations: for NCW the gradient returned is a transposed view.
        INDArray epsOut = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType,
                new long[] {p.batch, p.steps, nIn}, 'c');
        INDArray dx2 = epsOut.reshape('c', rows, nIn);
        Nd4j.gemm(dq, weights.apply(QUERY_WEIGHTS), dx2, false, true, 1.0, 0.0);
        Nd4j.gemm(dk, weights.apply(KEY_WEIGHTS), dx2, false, true, 1.0, 1.0);
        Nd4j.gemm(dv, weights.apply(VALUE_WEIGHTS), dx2, false, true, 1.0, 1.0);
        if (dGatePre != null) {
            Nd4j.gemm(dGatePre, weights.apply(GATE_WEIGHTS), dx2, false, true, 1.0, 1.0);
        }
        return new Pair<>(gradient, ncw ? epsOut.permute(0, 2, 1) : epsOut);
    }

    /** The attention's backward into dq, dk, dv; returns dL/d(decay rate) [H], or null unless the decay is learnable. */
    private INDArray attentionBackward(ForwardPass p, INDArray dAttention, INDArray dq, INDArray dk, INDArray dv,
                                       LayerWorkspaceMgr mgr) {
        LightningAttentionLayer c = conf;
        ArrayType ws = ArrayType.BP_WORKING_MEM;
        int h = c.getNHeads();
        DataType st = Nd4jTensors.dataType(Nd4jTensors.dtype(dataType, "network data type").stateType());
        INDArray dDecay = c.isLearnableDecay() ? mgr.createUninitialized(ws, st, new long[] {h}, 'c') : null;
        long[] stateShape = {p.batch, h, c.getHeadSize(), c.getValueSize()};
        if (p.segments == null) {
            INDArray dS0 = mgr.createUninitialized(ws, st, stateShape, 'c');
            adapter.backward(SequenceFormat.NWC, h, LayerArrays.seq(p.q, p), LayerArrays.seq(p.k, p),
                    LayerArrays.seq(p.v, p), p.decay, p.initialState, LayerArrays.seq(dAttention, p), null,
                    LayerArrays.options(c, false), p.saved,
                    new Nd4jAttention.Grads(LayerArrays.seq(dq, p), LayerArrays.seq(dk, p), LayerArrays.seq(dv, p),
                            dS0, dDecay));
        } else {
            INDArray dS0 = mgr.createUninitialized(ws, st, p.segments.packedStateShape(stateShape), 'c');
            adapter.backwardPacked(LayerArrays.heads(p.q, h), LayerArrays.heads(p.k, h), LayerArrays.heads(p.v, h),
                    p.decay, p.segments.offsets(), p.segments.pack(p.initialState), LayerArrays.heads(dAttention, h),
                    null, LayerArrays.options(c, false), p.saved,
                    new Nd4jAttention.Grads(LayerArrays.heads(dq, h), LayerArrays.heads(dk, h),
                            LayerArrays.heads(dv, h), dS0, dDecay));
        }
        return dDecay;
    }
}
