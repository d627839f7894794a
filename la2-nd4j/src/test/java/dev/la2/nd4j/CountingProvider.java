package dev.la2.nd4j;

import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.MemoryStats;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.backend.cpu.CpuProvider;
import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.spi.BackendProvider;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.PackedBackwardCall;
import dev.la2.spi.PackedForwardCall;
import dev.la2.spi.Residuals;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The cpu backend under the name "counting", counting the attention forward and backward calls it
 * runs, so that tests can see how often a layer runs the attention, and running {@link #atCall}
 * as each starts. Lowest priority: never chosen automatically.
 */
public final class CountingProvider implements BackendProvider {
    static final String NAME = "counting";
    static final AtomicLong FORWARDS = new AtomicLong();
    static final AtomicLong BACKWARDS = new AtomicLong();
    /** Runs as each attention call starts, before the cpu backend reads its tensors. */
    static volatile Runnable atCall = () -> { };

    private final CpuProvider cpu = new CpuProvider();

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return Integer.MIN_VALUE + 1;
    }

    @Override
    public Set<DType> dtypes() {
        return cpu.dtypes();
    }

    @Override
    public Availability probe() {
        return cpu.probe();
    }

    @Override
    public AttentionBackend create(BackendOptions options) {
        return new Counting(cpu.create(options));
    }

    private record Counting(AttentionBackend cpu) implements AttentionBackend {
        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Set<DType> dtypes() {
            return cpu.dtypes();
        }

        @Override
        public Set<Precision> precisions() {
            return cpu.precisions();
        }

        @Override
        public Tensor allocate(DType dtype, Shape shape) {
            return cpu.allocate(dtype, shape);
        }

        @Override
        public Optional<Tensor> wrap(MemorySegment memory, DType dtype, Shape shape) {
            return cpu.wrap(memory, dtype, shape);
        }

        @Override
        public boolean owns(Tensor tensor) {
            return cpu.owns(tensor);
        }

        @Override
        public void forward(ForwardCall call) {
            FORWARDS.incrementAndGet();
            atCall.run();
            cpu.forward(call);
        }

        @Override
        public Residuals forwardKeeping(ForwardCall call, boolean forDecayGradient) {
            FORWARDS.incrementAndGet();
            atCall.run();
            return cpu.forwardKeeping(call, forDecayGradient);
        }

        @Override
        public void backward(BackwardCall call) {
            BACKWARDS.incrementAndGet();
            atCall.run();
            cpu.backward(call);
        }

        @Override
        public void decode(DecodeCall call) {
            cpu.decode(call);
        }

        @Override
        public Tensor view(Tensor t, long elementOffset, Shape shape) {
            return cpu.view(t, elementOffset, shape);
        }

        @Override
        public void copy(Tensor src, Tensor dst) {
            cpu.copy(src, dst);
        }

        @Override
        public void forwardPacked(PackedForwardCall call) {
            FORWARDS.incrementAndGet();
            atCall.run();
            cpu.forwardPacked(call);
        }

        @Override
        public Residuals forwardPackedKeeping(PackedForwardCall call, boolean forDecayGradient) {
            FORWARDS.incrementAndGet();
            atCall.run();
            return cpu.forwardPackedKeeping(call, forDecayGradient);
        }

        @Override
        public void backwardPacked(PackedBackwardCall call) {
            BACKWARDS.incrementAndGet();
            atCall.run();
            cpu.backwardPacked(call);
        }

        @Override
        public Optional<MemoryStats> memoryStats() {
            return cpu.memoryStats();
        }

        @Override
        public void close() {
            cpu.close();
        }
    }
}
