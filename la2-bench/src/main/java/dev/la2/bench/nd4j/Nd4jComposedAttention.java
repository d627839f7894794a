package dev.la2.bench.nd4j;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import dev.la2.bench.BenchProblem;
import dev.la2.bench.ComposedAttention;
import java.util.HashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * SPEC.md section 2's tiled algorithm written with ND4J's public ops, the way a DL4J user would
 * write it today: sequences as [B*H, N, F] arrays, and per block of 64 tokens batched matmuls
 * (Q K^T) times the decay mask times V, plus (lambda-weighted Q) times the carried state, and the
 * state update lambda^C S + (lambda-weighted K)^T V, all through ND4J's BLAS. The decay weights are
 * materialised once as full arrays so every elementwise product is a plain same-shape op.
 *
 * <p>The backward pass mirrors it: a forward sweep of the state for dq, a backward sweep of the
 * state gradient for dk and dv. The decay gradient is not computed (benchmarks keep decay fixed).
 */
public final class Nd4jComposedAttention implements ComposedAttention {
    private static final int BLOCK = BenchProblem.NOTIONAL_BLOCK;

    private BenchProblem p;
    private DataType type;
    private double scale;
    private double[] decay;
    private INDArray q, k, v, s0, dOut, dFinal;
    private INDArray out, fin, dq, dk, dv, ds0;
    /** Per block length L (64, and the shorter last block): weights as full [B*H, ...] arrays. */
    private final Map<Integer, Weights> weights = new HashMap<>();

    private record Weights(INDArray mask, INDArray queryWeight, INDArray keyWeight, INDArray stateDecay) {
    }

    public Nd4jComposedAttention() {
        // Touching Nd4j here makes a backend that cannot start fail at construction, where
        // Nd4jSupport reports it, rather than in the middle of a measurement.
        Nd4j.getBackend();
    }

    @Override
    public String description() {
        return "ND4J " + Nd4j.getBackend().getClass().getSimpleName() + " ops, batched matmuls per block of "
                + BLOCK + " tokens" + (type == null ? "" : ", " + type);
    }

    @Override
    public void load(BenchProblem problem, boolean fp64, float[] qData, float[] kData, float[] vData,
                     double[] decayRates, float[] initialState, double scaleFactor) {
        if (decayRates.length != problem.heads()) {
            throw new IllegalArgumentException("decay: got " + decayRates.length + " rates; expected H=" + problem.heads());
        }
        close();
        p = problem;
        type = fp64 ? DataType.DOUBLE : DataType.FLOAT;
        scale = scaleFactor;
        decay = decayRates.clone();
        long bh = (long) p.batch() * p.heads();
        q = array(qData, bh, p.tokens(), p.keyDim());
        k = array(kData, bh, p.tokens(), p.keyDim());
        v = array(vData, bh, p.tokens(), p.valueDim());
        s0 = initialState == null ? null : array(initialState, bh, p.keyDim(), p.valueDim());
        out = Nd4j.create(type, bh, p.tokens(), p.valueDim());
        fin = Nd4j.create(type, bh, p.keyDim(), p.valueDim());
    }

    @Override
    public void loadGradients(float[] dOutput, float[] dFinalState) {
        requireLoaded();
        long bh = (long) p.batch() * p.heads();
        dOut = array(dOutput, bh, p.tokens(), p.valueDim());
        dFinal = dFinalState == null ? null : array(dFinalState, bh, p.keyDim(), p.valueDim());
        dq = Nd4j.create(type, bh, p.tokens(), p.keyDim());
        dk = Nd4j.create(type, bh, p.tokens(), p.keyDim());
        dv = Nd4j.create(type, bh, p.tokens(), p.valueDim());
    }

    @Override
    public void forward() {
        requireLoaded();
        INDArray state = initialState();
        for (int lo = 0; lo < p.tokens(); lo += BLOCK) {
            int hi = Math.min(p.tokens(), lo + BLOCK);
            Weights w = weights(hi - lo);
            INDArray qi = q.get(all(), interval(lo, hi), all());
            INDArray ki = k.get(all(), interval(lo, hi), all());
            INDArray vi = v.get(all(), interval(lo, hi), all());
            INDArray scores = Nd4j.matmul(qi, ki, false, true, false).muli(w.mask());
            INDArray oi = Nd4j.matmul(scores, vi);
            oi.addi(Nd4j.matmul(qi.mul(w.queryWeight()), state)).muli(scale);
            out.get(all(), interval(lo, hi), all()).assign(oi);
            state = state.muli(w.stateDecay()).addi(Nd4j.matmul(ki.mul(w.keyWeight()), vi, true, false, false));
        }
        fin.assign(state);
    }

    @Override
    public void backward() {
        requireLoaded();
        if (dOut == null) {
            throw new IllegalStateException("loadGradients(...) must come before backward()");
        }
        // Forward sweep: the state entering each block gives the inter-block part of dq.
        INDArray state = initialState();
        for (int lo = 0; lo < p.tokens(); lo += BLOCK) {
            int hi = Math.min(p.tokens(), lo + BLOCK);
            Weights w = weights(hi - lo);
            INDArray ki = k.get(all(), interval(lo, hi), all());
            INDArray vi = v.get(all(), interval(lo, hi), all());
            INDArray doi = dOut.get(all(), interval(lo, hi), all());
            INDArray dScores = Nd4j.matmul(doi, vi, false, true, false).muli(w.mask());
            INDArray dqi = Nd4j.matmul(dScores, ki);
            dqi.addi(Nd4j.matmul(doi, state, false, true, false).muli(w.queryWeight())).muli(scale);
            dq.get(all(), interval(lo, hi), all()).assign(dqi);
            state = state.muli(w.stateDecay()).addi(Nd4j.matmul(ki.mul(w.keyWeight()), vi, true, false, false));
        }
        // Backward sweep: G, the gradient of the state leaving block i, runs from the last block.
        INDArray g = dFinal == null ? Nd4j.zeros(type, state.shape()) : dFinal.dup();
        int blocks = (p.tokens() + BLOCK - 1) / BLOCK;
        for (int i = blocks - 1; i >= 0; i--) {
            int lo = i * BLOCK, hi = Math.min(p.tokens(), lo + BLOCK);
            Weights w = weights(hi - lo);
            INDArray qi = q.get(all(), interval(lo, hi), all());
            INDArray ki = k.get(all(), interval(lo, hi), all());
            INDArray vi = v.get(all(), interval(lo, hi), all());
            INDArray doi = dOut.get(all(), interval(lo, hi), all());
            INDArray scores = Nd4j.matmul(qi, ki, false, true, false).muli(w.mask());
            INDArray dScores = Nd4j.matmul(doi, vi, false, true, false).muli(w.mask());
            INDArray dvi = Nd4j.matmul(scores, doi, true, false, false).muli(scale);
            dvi.addi(Nd4j.matmul(ki.mul(w.keyWeight()), g));
            INDArray dki = Nd4j.matmul(dScores, qi, true, false, false).muli(scale);
            dki.addi(Nd4j.matmul(vi, g, false, true, false).muli(w.keyWeight()));
            dv.get(all(), interval(lo, hi), all()).assign(dvi);
            dk.get(all(), interval(lo, hi), all()).assign(dki);
            g = g.muli(w.stateDecay()).addi(Nd4j.matmul(qi.mul(w.queryWeight()), doi, true, false, false).muli(scale));
        }
        ds0 = g;
    }

    private INDArray initialState() {
        return s0 == null ? Nd4j.zeros(type, (long) p.batch() * p.heads(), p.keyDim(), p.valueDim()) : s0.dup();
    }

    /**
     * For a block of L tokens and local positions a, b: mask lambda^(a-b) (a >= b), query weights
     * lambda^(a+1), key weights lambda^(L-1-b) and the state's decay lambda^L, each repeated over
     * the batch so ND4J multiplies arrays of equal shape. Powers are exp(-s m) (SPEC.md section 3).
     */
    private Weights weights(int length) {
        return weights.computeIfAbsent(length, len -> {
            int bh = p.batch() * p.heads();
            int d = p.keyDim(), e = p.valueDim();
            double[] mask = new double[bh * len * len];
            double[] qw = new double[bh * len * d];
            double[] kw = new double[bh * len * d];
            double[] sd = new double[bh * d * e];
            for (int seq = 0; seq < bh; seq++) {
                double s = decay[seq % p.heads()];
                for (int a = 0; a < len; a++) {
                    for (int b = 0; b <= a; b++) {
                        mask[(seq * len + a) * len + b] = Math.exp(-s * (a - b));
                    }
                    java.util.Arrays.fill(qw, (seq * len + a) * d, (seq * len + a + 1) * d, Math.exp(-s * (a + 1)));
                    java.util.Arrays.fill(kw, (seq * len + a) * d, (seq * len + a + 1) * d, Math.exp(-s * (len - 1 - a)));
                }
                java.util.Arrays.fill(sd, seq * d * e, (seq + 1) * d * e, Math.exp(-s * len));
            }
            return new Weights(Nd4j.create(mask, new long[] {bh, len, len}, type),
                    Nd4j.create(qw, new long[] {bh, len, d}, type),
                    Nd4j.create(kw, new long[] {bh, len, d}, type),
                    Nd4j.create(sd, new long[] {bh, d, e}, type));
        });
    }

    private INDArray array(float[] data, long... shape) {
        long count = 1;
        for (long s : shape) {
            count *= s;
        }
        if (data == null || data.length != count) {
            throw new IllegalArgumentException("data: got " + (data == null ? "null" : data.length + " elements")
                    + "; expected " + count + " for shape " + java.util.Arrays.toString(shape));
        }
        return Nd4j.create(data, shape, type);
    }

    private void requireLoaded() {
        if (p == null) {
            throw new IllegalStateException("load(...) must come first");
        }
    }

    @Override
    public double[] output() {
        return out.dup().reshape(-1).toDoubleVector();
    }

    @Override
    public double[] finalState() {
        return fin.dup().reshape(-1).toDoubleVector();
    }

    @Override
    public double[] dq() {
        return dq.dup().reshape(-1).toDoubleVector();
    }

    @Override
    public double[] dk() {
        return dk.dup().reshape(-1).toDoubleVector();
    }

    @Override
    public double[] dv() {
        return dv.dup().reshape(-1).toDoubleVector();
    }

    @Override
    public double[] dInitialState() {
        return ds0.dup().reshape(-1).toDoubleVector();
    }

    @Override
    public void close() {
        for (INDArray a : new INDArray[] {q, k, v, s0, dOut, dFinal, out, fin, dq, dk, dv, ds0}) {
            if (a != null && !a.wasClosed() && a.closeable()) {
                a.close();
            }
        }
        weights.values().forEach(w -> {
            w.mask().close();
            w.queryWeight().close();
            w.keyWeight().close();
            w.stateDecay().close();
        });
        weights.clear();
        q = k = v = s0 = dOut = dFinal = out = fin = dq = dk = dv = ds0 = null;
        p = null;
    }
}
