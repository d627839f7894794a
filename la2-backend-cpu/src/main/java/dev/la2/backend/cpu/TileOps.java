package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.DecayPowers.weight64;

import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;

/**
 * The operations on tiles and states that the fp32 path's forward, sweeps and corrections share,
 * for blocks of {@code block} tokens (tiles of C rows).
 */
record TileOps(Kernels kx, int block) {

    /**
     * state = lambda^m state + A^T B for a block of l tokens, A^T the d x l transposed tile (row pitch
     * C) and B the l x e rows; when the state is carried wide, through its double copy, which its
     * step (d x e) carries the product to. {@code zero}: the state holds nothing yet. m is l but
     * where the block's weights are those of one token later (see {@link DkDvSweep}).
     */
    void updateState(CarriedState state, boolean zero, DecayPowers pw, int m, int l, float[] aT, float[] b) {
        int d = state.rows(), e = state.cols();
        if (state.wide() == null) {
            kx.gemm(aT, 0, block, b, 0, e, state.value(), 0, e, d, e, l, pw.pow()[m], !zero, Kernels.FULL);
        } else {
            kx.gemm(aT, 0, block, b, 0, e, state.step(), 0, e, d, e, l, 0f, false, Kernels.FULL);
            kx.accumulateWide(state.wide(), weight64(pw.at(m)), state.step(), state.value(), d * e);
        }
    }

    /** dst = src^T for a dense rows x cols state. */
    void transposeState(float[] src, int rows, int cols, float[] dst) {
        kx.transpose(src, rows, cols, dst, rows);
    }

    /**
     * sum_r m lambda^m x_r . y_r, m = first + step r, over l rows of width {@code width}, in double
     * with the powers as {@link DecayPowers#at} gives them, never flushed: every term of the decay
     * gradient carries a power of lambda, and one the tables flush may be the largest it has (all of
     * them are flushed where lambda itself is below the threshold). y must not carry the flushed
     * weights itself. A row of weight 0 is skipped, so that a non-finite value there cannot reach
     * the sum.
     */
    double decayRowDots(float[] x, float[] y, int l, int width, DecayPowers pw, int first, int step) {
        double sum = 0;
        for (int r = 0; r < l; r++) {
            int m = first + step * r;
            double w = m * pw.at(m);
            if (w != 0) {
                sum += w * kx.dot(x, r * width, y, r * width, width);
            }
        }
        return sum;
    }

    /** Sequence {@code seq}'s fp32 state (de floats) of the state tensor t; null when t is. */
    static float[] state(Object t, int seq, int de) {
        if (t == null) {
            return null;
        }
        float[] s = new float[de];
        MemorySegment.copy(((HostTensor) t).segment(), Rows.F32, (long) seq * de * 4, s, 0, de);
        return s;
    }

    static void writeState(float[] s, Object t, int seq) {
        MemorySegment.copy(s, 0, ((HostTensor) t).segment(), Rows.F32, (long) seq * s.length * 4, s.length);
    }

    /** dst = a * x + b * y elementwise (y may be null). */
    static void axpby(float[] dst, float a, float[] x, float b, float[] y) {
        for (int i = 0; i < dst.length; i++) {
            dst[i] = a * x[i] + (y == null ? 0f : b * y[i]);
        }
    }
}
