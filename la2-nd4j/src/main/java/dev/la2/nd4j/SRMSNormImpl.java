package dev.la2.nd4j;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The layer {@link SRMSNorm} configures, on token-major rows.
 *
 * <p>The RMS is taken of each row divided by its largest magnitude, so no square overflows or
 * underflows: in fp16 a square overflows above 256 and underflows below 2.4e-4, in fp32 above 1.8e19.
 */
public class SRMSNormImpl extends TokenwiseImpl<SRMSNorm> {

    public SRMSNormImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /**
     * Per row of x [rows, d]: its RMS r = ||x|| / sqrt(d) [rows, 1], from x scaled by its largest
     * magnitude ({@code scaled}, whose RMS {@code scaledRms} is at least 1/sqrt(d) unless the row is zero).
     */
    private record Rms(INDArray r, INDArray scaled, INDArray scaledRms) {
        static Rms of(INDArray x) {
            INDArray largest = Transforms.abs(x, true).max(true, 1);
            INDArray scaled = x.divColumnVector(onesForZeros(largest));
            INDArray scaledRms = scaled.norm2(true, 1).divi(Math.sqrt(x.size(1)));
            return new Rms(scaledRms.mul(largest), scaled, scaledRms);
        }

        /** The direction u = x / r, each entry at most sqrt(d) in magnitude; 0 for a zero row. */
        INDArray u() {
            return scaled.divColumnVector(onesForZeros(scaledRms));
        }

        /** {@code a} with its exact zeros replaced by ones, as a safe divisor. */
        private static INDArray onesForZeros(INDArray a) {
            return a.add(a.eq(0.0).castTo(a.dataType()));
        }
    }

    @Override
    protected void forwardRows(INDArray x, INDArray out, boolean training, ArrayType ws, LayerWorkspaceMgr mgr) {
        INDArray denominator = Rms.of(x).r().addi(layerConf().getEps());
        out.assign(x).diviColumnVector(denominator).muliRowVector(getParamWithNoise(SRMSNorm.GAIN, training, mgr));
    }

    @Override
    protected void backwardRows(INDArray x, INDArray dy, INDArray dx, Gradient gradient, LayerWorkspaceMgr mgr) {
        long d = x.size(1);
        double eps = layerConf().getEps();
        Rms rms = Rms.of(x);
        INDArray denominator = rms.r().add(eps);

        INDArray gGain = gradientViews.get(SRMSNorm.GAIN);
        gGain.assign(dy.mul(x.divColumnVector(denominator)).sum(true, 0));
        gradient.gradientForVariable().put(SRMSNorm.GAIN, gGain);

        // n = x / (r + eps) with r = ||x|| / sqrt(d) has the Jacobian (I - r/(r + eps) u u^T / d) / (r + eps),
        // u = x / r. Split as (eps/(r + eps) dn + r/(r + eps) (dn - u (dn . u) / d)) / (r + eps), every
        // factor is bounded and the projection removes the along-x part exactly for d = 1, where the
        // unsplit form cancels; a zero row gets dn / eps.
        INDArray dn = dy.mulRowVector(getParamWithNoise(SRMSNorm.GAIN, true, mgr));
        INDArray u = rms.u();
        INDArray along = dn.mul(u).sum(true, 1).divi(d);
        INDArray across = dn.sub(u.mulColumnVector(along)).muliColumnVector(rms.r().div(denominator));
        dx.assign(dn.muliColumnVector(denominator.rdiv(eps)).addi(across).diviColumnVector(denominator));
    }
}
