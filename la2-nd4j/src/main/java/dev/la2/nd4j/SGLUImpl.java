package dev.la2.nd4j;

import static dev.la2.nd4j.SGLU.OUTPUT_WEIGHTS;
import static dev.la2.nd4j.SGLU.U_WEIGHTS;
import static dev.la2.nd4j.SGLU.V_WEIGHTS;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The layer {@link SGLU} configures, on token-major rows. */
public class SGLUImpl extends TokenwiseImpl<SGLU> {

    public SGLUImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** x W into a new [rows, cols(W)] array in {@code ws}. */
    private INDArray project(INDArray x, INDArray w, ArrayType ws, LayerWorkspaceMgr mgr) {
        INDArray out = mgr.createUninitialized(ws, dataType, new long[] {x.size(0), w.size(1)}, 'c');
        Nd4j.gemm(x, w, out, false, false, 1.0, 0.0);
        return out;
    }

    @Override
    protected void forwardRows(INDArray x, INDArray out, boolean training, ArrayType ws, LayerWorkspaceMgr mgr) {
        INDArray gated = project(x, getParamWithNoise(U_WEIGHTS, training, mgr), ws, mgr)
                .muli(project(x, getParamWithNoise(V_WEIGHTS, training, mgr), ws, mgr));
        Nd4j.gemm(gated, getParamWithNoise(OUTPUT_WEIGHTS, training, mgr), out, false, false, 1.0, 0.0);
    }

    @Override
    protected void backwardRows(INDArray x, INDArray dy, INDArray dx, Gradient gradient, LayerWorkspaceMgr mgr) {
        ArrayType ws = ArrayType.BP_WORKING_MEM;
        INDArray wu = getParamWithNoise(U_WEIGHTS, true, mgr);
        INDArray wv = getParamWithNoise(V_WEIGHTS, true, mgr);
        INDArray wo = getParamWithNoise(OUTPUT_WEIGHTS, true, mgr);
        INDArray u = project(x, wu, ws, mgr);
        INDArray v = project(x, wv, ws, mgr);

        INDArray gWo = gradientViews.get(OUTPUT_WEIGHTS);
        Nd4j.gemm(u.mul(v), dy, gWo, true, false, 1.0, 0.0);
        INDArray dGated = mgr.createUninitialized(ws, dataType, u.shape(), 'c');
        Nd4j.gemm(dy, wo, dGated, false, true, 1.0, 0.0);
        INDArray du = v.muli(dGated);
        INDArray dv = u.muli(dGated);

        INDArray gWu = gradientViews.get(U_WEIGHTS);
        INDArray gWv = gradientViews.get(V_WEIGHTS);
        Nd4j.gemm(x, du, gWu, true, false, 1.0, 0.0);
        Nd4j.gemm(x, dv, gWv, true, false, 1.0, 0.0);
        Nd4j.gemm(du, wu, dx, false, true, 1.0, 0.0);
        Nd4j.gemm(dv, wv, dx, false, true, 1.0, 1.0);
        gradient.gradientForVariable().put(U_WEIGHTS, gWu);
        gradient.gradientForVariable().put(V_WEIGHTS, gWv);
        gradient.gradientForVariable().put(OUTPUT_WEIGHTS, gWo);
    }
}
