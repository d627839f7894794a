package dev.la2.reliability;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.DType;
import dev.la2.api.ForwardResult;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.Random;

/**
 * One attention layer whose q, k and v are linear projections of an input x [B, N, model]:
 * q = x Wq, k = x Wk (H*D columns), v = x Wv (H*E columns), and per head a learnable decay rate
 * s_h = exp(logDecay_h), so that s stays positive whatever the step. The weights are fp32 Java
 * arrays (the master weights); the projections and their gradients are plain loops here, and only
 * q, k, v and the output's gradient are rounded into the storage type of the la2 call.
 */
final class ProjectedAttention {

    /** Sizes of the model and its input; q, k, v and the output are in {@code layout}. */
    record Size(int b, int h, int n, int d, int e, int model, Layout layout) {
        Shape keys() {
            return layout.shape(b, h, n, d);
        }

        Shape values() {
            return layout.shape(b, h, n, e);
        }

        int outputs() {
            return b * h * n * e;
        }

        @Override
        public String toString() {
            return "B=" + b + " H=" + h + " N=" + n + " D=" + d + " E=" + e + " " + layout;
        }
    }

    /** The loss of one evaluation and its gradients with respect to every parameter. */
    record Step(double loss, float[] dWq, float[] dWk, float[] dWv, float[] dLogDecay) {
    }

    final Size size;
    final float[] wq, wk, wv, logDecay;
    private final AttentionOptions options;

    private ProjectedAttention(Size size, double scale, float[] wq, float[] wk, float[] wv, float[] logDecay) {
        this.size = size;
        this.options = AttentionOptions.defaults().withScale(scale).withLayout(size.layout()).withFinalState(false);
        this.wq = wq;
        this.wk = wk;
        this.wv = wv;
        this.logDecay = logDecay;
    }

    /**
     * Weights drawn from N(0, 1/model), so that q, k and v of a unit-variance input have unit
     * variance; {@code scale} is SPEC.md's c.
     */
    static ProjectedAttention random(Size s, double scale, Random r, double[] rates) {
        double sigma = 1 / Math.sqrt(s.model());
        float[] logDecay = new float[s.h()];
        for (int i = 0; i < s.h(); i++) {
            logDecay[i] = (float) Math.log(rates[i]);
        }
        return new ProjectedAttention(s, scale, Calls.gaussian(r, s.model() * s.h() * s.d(), sigma),
                Calls.gaussian(r, s.model() * s.h() * s.d(), sigma), Calls.gaussian(r, s.model() * s.h() * s.e(), sigma),
                logDecay);
    }

    float[] rates() {
        float[] rates = new float[size.h()];
        for (int i = 0; i < rates.length; i++) {
            rates[i] = (float) Math.exp(logDecay[i]);
        }
        return rates;
    }

    /** The layer's output for input {@code x}, computed by {@code la} in {@code dtype} storage. */
    float[] output(LightningAttention la, DType dtype, float[] x) {
        try (Call c = new Call(la, dtype, x); ForwardResult f = la.forward(c.inputs(), options)) {
            return f.output().toFloatArray();
        }
    }

    /**
     * The mean squared error of the output against {@code target}, and its gradients: la2's forward
     * and backward (with the decay learnable) in {@code dtype} storage, the rest in fp32. The output's
     * gradient 2 (o - y) / M is handed to the backward as o - y, and the gradients it returns are
     * scaled by 2 / M after (the backward is linear in it): 2 / M alone would fall below FP16's
     * normal range at these sizes, which is what loss scaling is for. The backward's dDecay is
     * the gradient with respect to s (SPEC.md section 2); ds/d(log s) = s.
     */
    Step evaluate(LightningAttention la, DType dtype, float[] x, float[] target) {
        Size s = size;
        try (Call c = new Call(la, dtype, x); ForwardResult f = la.forward(c.inputs(), options)) {
            float[] residual = f.output().toFloatArray();
            double sum = 0;
            for (int i = 0; i < residual.length; i++) {
                residual[i] -= target[i];
                sum += (double) residual[i] * residual[i];
            }
            float unscale = 2f / s.outputs();
            try (Tensor dOut = la.tensor(residual, dtype, s.values());
                 Gradients g = la.backward(c.inputs(), dOut, null, options.withLearnableDecay(true))) {
                float[] dLogDecay = g.dDecay().toFloatArray();
                float[] rates = rates();
                for (int i = 0; i < dLogDecay.length; i++) {
                    dLogDecay[i] *= unscale * rates[i];
                }
                return new Step(sum / s.outputs(), weightGradient(x, g.dq(), s.d(), unscale),
                        weightGradient(x, g.dk(), s.d(), unscale), weightGradient(x, g.dv(), s.e(), unscale), dLogDecay);
            }
        }
    }

    /** q, k, v and the decay rates of one call, uploaded in {@code dtype}; closing frees them. */
    private final class Call implements AutoCloseable {
        private final Tensor q, k, v, decay;

        Call(LightningAttention la, DType dtype, float[] x) {
            q = la.tensor(project(x, wq, size.d()), dtype, size.keys());
            k = la.tensor(project(x, wk, size.d()), dtype, size.keys());
            v = la.tensor(project(x, wv, size.e()), dtype, size.values());
            decay = la.tensor(rates(), dtype.stateType(), Shape.of(size.h()));
        }

        AttentionInputs inputs() {
            return AttentionInputs.of(q, k, v, decay);
        }

        @Override
        public void close() {
            q.close();
            k.close();
            v.close();
            decay.close();
        }
    }

    /** x [B, N, model] times w [model, H*f], each head's f columns placed in the size's layout. */
    private float[] project(float[] x, float[] w, int f) {
        int model = size.model(), hf = size.h() * f;
        float[] out = new float[size.b() * size.h() * size.n() * f];
        eachRow(f, (xRow, row, column) -> {
            for (int i = 0; i < model; i++) {
                float xi = x[xRow + i];
                int w0 = i * hf + column;
                for (int j = 0; j < f; j++) {
                    out[row + j] += xi * w[w0 + j];
                }
            }
        });
        return out;
    }

    /** {@code scale} x^T dy [model, H*f] for the gradient dy of a projection with f columns per head. */
    private float[] weightGradient(float[] x, Tensor gradient, int f, float scale) {
        float[] dy = gradient.toFloatArray();
        int model = size.model(), hf = size.h() * f;
        float[] dw = new float[model * hf];
        eachRow(f, (xRow, row, column) -> {
            for (int i = 0; i < model; i++) {
                float xi = scale * x[xRow + i];
                int w0 = i * hf + column;
                for (int j = 0; j < f; j++) {
                    dw[w0 + j] += xi * dy[row + j];
                }
            }
        });
        return dw;
    }

    /** One (b, t, h) of a projection: x's row, head h's row of f features in the layout, its first column in w. */
    private interface RowVisit {
        void visit(int xRow, int row, int column);
    }

    private void eachRow(int f, RowVisit visit) {
        Size s = size;
        for (int b = 0; b < s.b(); b++) {
            for (int t = 0; t < s.n(); t++) {
                for (int h = 0; h < s.h(); h++) {
                    visit.visit((b * s.n() + t) * s.model(), (int) s.layout().rowOffset(b, h, t, s.h(), s.n(), f), h * f);
                }
            }
        }
    }
}
