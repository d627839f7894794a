package dev.la2.reference;

import dev.la2.api.DType;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/** Runs {@link ReferenceMath} on host tensors of any storage type, converting through float64. */
final class ReferenceBackend implements AttentionBackend {

    @Override
    public String name() {
        return ReferenceProvider.NAME;
    }

    @Override
    public Set<DType> dtypes() {
        return EnumSet.allOf(DType.class);
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
    public Optional<Tensor> wrap(MemorySegment memory, DType dtype, Shape shape) {
        return Optional.of(HostTensor.wrap(this, name(), memory, dtype, shape));
    }

    /** A slice of a host tensor's memory (the packed and slot calls' defaults run on these). */
    @Override
    public Tensor view(Tensor t, long elementOffset, Shape shape) {
        return ((HostTensor) t).view(elementOffset, shape);
    }

    @Override
    public boolean owns(Tensor tensor) {
        return tensor instanceof HostTensor host && host.owner() == this;
    }

    @Override
    public void forward(ForwardCall c) {
        AttentionShape s = c.shape();
        Problem p = problem(s);
        ReferenceMath.Forward f = ReferenceMath.forwardRecurrent(p,
                Canonical.gather(c.q(), s, s.keyDim()), Canonical.gather(c.k(), s, s.keyDim()),
                Canonical.gather(c.v(), s, s.valueDim()), c.decay().toDoubleArray(),
                c.initialState() == null ? null : c.initialState().toDoubleArray(), c.scale());
        Canonical.scatter(f.output(), c.output(), s, s.valueDim());
        if (c.finalState() != null) {
            c.finalState().copyFrom(f.finalState());
        }
    }

    @Override
    public void backward(BackwardCall c) {
        AttentionShape s = c.shape();
        ReferenceMath.Backward g = ReferenceMath.backward(problem(s),
                Canonical.gather(c.q(), s, s.keyDim()), Canonical.gather(c.k(), s, s.keyDim()),
                Canonical.gather(c.v(), s, s.valueDim()), c.decay().toDoubleArray(),
                c.initialState() == null ? null : c.initialState().toDoubleArray(),
                Canonical.gather(c.dOutput(), s, s.valueDim()),
                c.dFinalState() == null ? null : c.dFinalState().toDoubleArray(), c.scale());
        Canonical.scatter(g.dq(), c.dq(), s, s.keyDim());
        Canonical.scatter(g.dk(), c.dk(), s, s.keyDim());
        Canonical.scatter(g.dv(), c.dv(), s, s.valueDim());
        c.dInitialState().copyFrom(g.dInitialState());
        if (c.dDecay() != null) {
            c.dDecay().copyFrom(g.dDecay());
        }
    }

    @Override
    public void decode(DecodeCall c) {
        double[] state = c.state().toDoubleArray();
        double[] out = ReferenceMath.decode(c.batch(), c.heads(), c.keyDim(), c.valueDim(),
                c.q().toDoubleArray(), c.k().toDoubleArray(), c.v().toDoubleArray(), c.decay().toDoubleArray(),
                state, c.scale());
        c.state().copyFrom(state);
        c.output().copyFrom(out);
    }

    @Override
    public void close() {
        // Nothing pooled: tensors free their own memory.
    }

    private static Problem problem(AttentionShape s) {
        return new Problem(s.batch(), s.heads(), s.tokens(), s.keyDim(), s.valueDim());
    }
}
