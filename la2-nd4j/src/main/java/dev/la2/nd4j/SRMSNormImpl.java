package dev.la2.nd4j;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.BooleanIndexing;
import org.nd4j.linalg.indexing.conditions.Conditions;
import org.nd4j.linalg.ops.transforms.Transforms;

/** The layer {@link SRMSNorm} configures, on token-major rows. */
public class SRMSNormImpl extends TokenwiseImpl<SRMSNorm> {

    public SRMSNormImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** The RMS r = ||x|| / sqrt(d) of each row, [rows, 1]. */
    private static INDArray rms(INDArray x) {
        return Transforms.sqrt(x.mul(x).mean(true, 1), false);
    }

    @Override
    protected void forwardRows(INDArray x, INDArray out, boolean training, ArrayType ws, LayerWorkspaceMgr mgr) {
        INDArray denominator = rms(x).addi(layerConf().getEps());
        out.assign(x).diviColumnVector(denominator).muliRowVector(getParamWithNoise(SRMSNorm.GAIN, training, mgr));
    }

    @Override
    protected void backwardRows(INDArray x, INDArray dy, INDArray dx, Gradient gradient, LayerWorkspaceMgr mgr) {
        long d = x.size(1);
        INDArray r = rms(x);
        INDArray denominator = r.add(layerConf().getEps());
        INDArray normed = x.divColumnVector(denominator);

        INDArray gGain = gradientViews.get(SRMSNorm.GAIN);
        gGain.assign(dy.mul(normed).sum(true, 0));
        gradient.gradientForVariable().put(SRMSNorm.GAIN, gGain);

        // n = x / (r + eps), r = sqrt(mean(x^2)), dr/dx = x / (d r):
        // dx = dn / (r + eps) - x * (dn . x) / ((r + eps)^2 d r).
        INDArray dn = dy.mulRowVector(getParamWithNoise(SRMSNorm.GAIN, true, mgr));
        INDArray dot = dn.mul(x).sum(true, 1);
        // A zero row (a padded step) has r = 0 and x = 0: its second term is 0, not 0/0.
        INDArray safeR = r.dup();
        BooleanIndexing.replaceWhere(safeR, 1.0, Conditions.equals(0.0));
        INDArray coefficient = dot.divi(denominator.mul(denominator).muli(safeR).muli(d));
        dx.assign(dn.diviColumnVector(denominator)).subi(x.mulColumnVector(coefficient));
    }
}
