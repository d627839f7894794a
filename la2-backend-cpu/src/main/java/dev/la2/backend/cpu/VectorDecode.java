package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.Species.F;
import static dev.la2.backend.cpu.Species.L;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/** {@link Kernels#decodeStep} on the Vector API. */
final class VectorDecode {
    private VectorDecode() {
    }

    /**
     * Columns in groups of four vectors, each group held in registers (v and the four output
     * accumulators) while it walks down all D rows of the state; leftover columns one masked vector
     * at a time. The update and the output are fused so that the state is read and written once:
     * a step is bound by that traffic, and copying the state out through two products and back
     * would cost several times more.
     */
    static void decodeStep(MemorySegment state, long offset, int d, int e, float lambda, float[] q, float[] k,
                           float[] v, float scale, float[] o) {
        ByteOrder order = ByteOrder.nativeOrder();
        int j = 0;
        for (; j + 4 * L <= e; j += 4 * L) {
            FloatVector v0 = FloatVector.fromArray(F, v, j), v1 = FloatVector.fromArray(F, v, j + L);
            FloatVector v2 = FloatVector.fromArray(F, v, j + 2 * L), v3 = FloatVector.fromArray(F, v, j + 3 * L);
            FloatVector o0 = FloatVector.zero(F), o1 = o0, o2 = o0, o3 = o0;
            long at = offset + 4L * j;
            for (int x = 0; x < d; x++, at += 4L * e) {
                FloatVector kx = FloatVector.broadcast(F, k[x]), qx = FloatVector.broadcast(F, q[x]);
                FloatVector s0 = v0.fma(kx, FloatVector.fromMemorySegment(F, state, at, order).mul(lambda));
                FloatVector s1 = v1.fma(kx, FloatVector.fromMemorySegment(F, state, at + 4L * L, order).mul(lambda));
                FloatVector s2 = v2.fma(kx, FloatVector.fromMemorySegment(F, state, at + 8L * L, order).mul(lambda));
                FloatVector s3 = v3.fma(kx, FloatVector.fromMemorySegment(F, state, at + 12L * L, order).mul(lambda));
                s0.intoMemorySegment(state, at, order);
                s1.intoMemorySegment(state, at + 4L * L, order);
                s2.intoMemorySegment(state, at + 8L * L, order);
                s3.intoMemorySegment(state, at + 12L * L, order);
                o0 = s0.fma(qx, o0);
                o1 = s1.fma(qx, o1);
                o2 = s2.fma(qx, o2);
                o3 = s3.fma(qx, o3);
            }
            o0.mul(scale).intoArray(o, j);
            o1.mul(scale).intoArray(o, j + L);
            o2.mul(scale).intoArray(o, j + 2 * L);
            o3.mul(scale).intoArray(o, j + 3 * L);
        }
        for (; j < e; j += L) {
            VectorMask<Float> m = F.indexInRange(j, e);
            FloatVector vj = FloatVector.fromArray(F, v, j, m);
            FloatVector acc = FloatVector.zero(F);
            long at = offset + 4L * j;
            for (int x = 0; x < d; x++, at += 4L * e) {
                FloatVector s = vj.fma(FloatVector.broadcast(F, k[x]),
                        FloatVector.fromMemorySegment(F, state, at, order, m).mul(lambda));
                s.intoMemorySegment(state, at, order, m);
                acc = s.fma(FloatVector.broadcast(F, q[x]), acc);
            }
            acc.mul(scale).intoArray(o, j, m);
        }
    }
}
