package dev.la2.api;

import dev.la2.spi.AttentionBackend;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.Availability;
import dev.la2.spi.BackendProvider;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import java.util.EnumSet;
import java.util.Set;

/** Providers registered only on la2-api's test class path, to exercise discovery and validation. */
final class TestProviders {
    private TestProviders() {
    }

    /** Highest priority but never available: automatic selection must skip it. */
    public static final class Ghost implements BackendProvider {
        @Override
        public String name() {
            return "ghost";
        }

        @Override
        public int priority() {
            return 500;
        }

        @Override
        public Set<DType> dtypes() {
            return EnumSet.of(DType.FP32);
        }

        @Override
        public Availability probe() {
            return new Availability.Unavailable("no ghost device (libghost.so.1 not found)", "install a ghost driver");
        }

        @Override
        public AttentionBackend create(BackendOptions options) {
            throw new AssertionError("create() must not be called on an unavailable provider");
        }
    }

    /** A probe that throws must be reported, not propagated. */
    public static final class Throwing implements BackendProvider {
        @Override
        public String name() {
            return "throwing";
        }

        @Override
        public int priority() {
            return 400;
        }

        @Override
        public Set<DType> dtypes() {
            return EnumSet.of(DType.FP32);
        }

        @Override
        public Availability probe() {
            throw new IllegalStateException("probe exploded");
        }

        @Override
        public AttentionBackend create(BackendOptions options) {
            throw new AssertionError("create() must not be called on a provider whose probe failed");
        }
    }

    /** A small but real backend: the recurrent form in float64, forward and decode only. */
    public static final class Loop implements BackendProvider {
        @Override
        public String name() {
            return "loop";
        }

        @Override
        public int priority() {
            return 10;
        }

        @Override
        public Set<DType> dtypes() {
            return EnumSet.of(DType.FP32, DType.FP64);
        }

        @Override
        public Availability probe() {
            return new Availability.Available("test loop");
        }

        @Override
        public AttentionBackend create(BackendOptions options) {
            return new LoopBackend();
        }
    }

    static final class LoopBackend implements AttentionBackend {
        @Override
        public String name() {
            return "loop";
        }

        @Override
        public Set<DType> dtypes() {
            return EnumSet.of(DType.FP32, DType.FP64);
        }

        @Override
        public Set<Precision> precisions() {
            return EnumSet.of(Precision.STRICT);
        }

        @Override
        public Tensor allocate(DType dtype, Shape shape) {
            return HostTensor.allocate(this, name(), dtype, shape);
        }

        @Override
        public boolean owns(Tensor tensor) {
            return tensor instanceof HostTensor h && h.owner() == this;
        }

        @Override
        public void forward(ForwardCall c) {
            AttentionShape s = c.shape();
            HostTensor q = (HostTensor) c.q(), k = (HostTensor) c.k(), v = (HostTensor) c.v();
            HostTensor out = (HostTensor) c.output();
            int d = s.keyDim(), e = s.valueDim();
            for (int b = 0; b < s.batch(); b++) {
                for (int h = 0; h < s.heads(); h++) {
                    double lambda = Math.exp(-((HostTensor) c.decay()).get(h));
                    double[] state = new double[d * e];
                    long so = s.stateOffset(b, h);
                    if (c.initialState() != null) {
                        for (int i = 0; i < d * e; i++) {
                            state[i] = ((HostTensor) c.initialState()).get(so + i);
                        }
                    }
                    for (int t = 0; t < s.tokens(); t++) {
                        long kr = s.keyRow(b, h, t), vr = s.valueRow(b, h, t);
                        for (int x = 0; x < d; x++) {
                            for (int y = 0; y < e; y++) {
                                state[x * e + y] = lambda * state[x * e + y] + k.get(kr + x) * v.get(vr + y);
                            }
                        }
                        for (int y = 0; y < e; y++) {
                            double acc = 0;
                            for (int x = 0; x < d; x++) {
                                acc += q.get(kr + x) * state[x * e + y];
                            }
                            out.set(vr + y, c.scale() * acc);
                        }
                    }
                    if (c.finalState() != null) {
                        for (int i = 0; i < d * e; i++) {
                            ((HostTensor) c.finalState()).set(so + i, state[i]);
                        }
                    }
                }
            }
        }

        @Override
        public void backward(BackwardCall call) {
            throw new UnsupportedOperationException("the test loop backend has no backward pass");
        }

        @Override
        public void decode(DecodeCall call) {
            throw new UnsupportedOperationException("the test loop backend has no decode step");
        }

        @Override
        public void close() {
        }
    }
}
