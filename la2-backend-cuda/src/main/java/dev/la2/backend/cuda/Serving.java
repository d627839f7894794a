package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.PassArgs.t;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import dev.la2.backend.cuda.DeviceContext.Grid;
import dev.la2.backend.cuda.ParamLayouts.SlotCopyParams;
import dev.la2.backend.cuda.ParamLayouts.SlotParams;
import dev.la2.backend.cuda.ParamLayouts.ZeroRowsParams;
import dev.la2.spi.AttentionShape;
import dev.la2.spi.BackwardCall;
import dev.la2.spi.CommitCall;
import dev.la2.spi.DecodeCall;
import dev.la2.spi.DraftCall;
import dev.la2.spi.ForwardCall;
import dev.la2.spi.PackedBackwardCall;
import dev.la2.spi.PackedForwardCall;
import dev.la2.spi.PackedShape;
import dev.la2.spi.SlotDecodeCall;
import dev.la2.spi.SlotShape;
import java.util.Arrays;

/**
 * The packed and slot calls (SPEC.md section 8) as fused launches, in place of the SPI's
 * one-call-per-sequence defaults. A packed call runs each pass of the dense call once for all
 * sequences through the kernels' packed entry points ({@link Packing}); its shape for the passes is
 * a dense one of batch S in layout BNHD over all T tokens, whose token and head strides are those
 * of the packed [T, H, F] tensors (the batch stride is not used). Pool states are gathered into a
 * dense scratch first and the final states scattered back, so no kernel reads a slot another block
 * of the same call writes. Called with the backend's lock held.
 */
final class Serving {
    private final CudaBackend backend;
    private final DeviceContext device;
    private final KernelTable kernels;
    private final DeviceTables tables;
    private final SweepRunner sweeps;
    private final Backward backward;

    Serving(CudaBackend backend, DeviceContext device, KernelTable kernels, DevicePool pool, Transfers transfers,
            SweepRunner sweeps, Backward backward) {
        this.backend = backend;
        this.device = device;
        this.kernels = kernels;
        this.tables = new DeviceTables(pool, transfers);
        this.sweeps = sweeps;
        this.backward = backward;
    }

    /** A packed call's passes as a dense call of S sequences over the T tokens (see above). */
    private static AttentionShape flat(PackedShape s) {
        return new AttentionShape(s.sequences(), s.heads(), s.tokens(), s.keyDim(), s.valueDim(), Layout.BNHD, s.dtype());
    }

    void forward(PackedForwardCall c) {
        PackedShape s = c.shape();
        AttentionShape flat = flat(s);
        Packing packing = Packing.of(s, tables);
        if (c.pool() == null) {
            sweeps.run(flat, packing, PassArgs.forward(new ForwardCall(flat, c.q(), c.k(), c.v(), c.decay(), c.initialState(),
                    c.scale(), c.precision(), c.output(), c.finalState())));
            return;
        }
        long slots = slots(c.slots());
        try (Tensor start = gather(c.pool(), slots, Shape.of(s.sequences(), s.heads(), s.keyDim(), s.valueDim()));
             Tensor fin = backend.allocate(DType.FP32, start.shape())) {
            sweeps.run(flat, packing, PassArgs.forward(new ForwardCall(flat, c.q(), c.k(), c.v(), c.decay(), start,
                    c.scale(), c.precision(), c.output(), fin)));
            copySlots(c.pool(), fin, slots, true);
        }
    }

    void backward(PackedBackwardCall c) {
        PackedShape s = c.shape();
        backward.run(new BackwardCall(flat(s), c.q(), c.k(), c.v(), c.decay(), c.initialState(), c.dOutput(),
                c.dFinalState(), c.scale(), c.precision(), c.dq(), c.dk(), c.dv(), c.dInitialState(), c.dDecay(), null),
                Packing.of(s, tables));
    }

    /** The dense decode step with each sequence's state at its slot of the pool (packed.cuh, rebindDecode). */
    void decode(SlotDecodeCall c) {
        SlotShape s = c.shape();
        backend.launchDecode(new DecodeCall(s.sequences(), s.heads(), s.keyDim(), s.valueDim(), s.dtype(), c.q(), c.k(),
                c.v(), c.decay(), c.pool(), c.scale(), c.output()),
                KernelArgs.of(SlotParams.class).ptr(SlotParams.SLOTS, slots(c.slots())).ptr(SlotParams.ORDER, bySlot(c.slots()))
                        .bytes());
    }

    /**
     * The device address of the sequences' indices sorted by their slots (int64): the decode
     * kernel's blocks take them in this order, so the states read together lie side by side in
     * the pool whatever order the caller's slots are in.
     */
    private long bySlot(int[] slots) {
        // (slot, index) pairs in one long each, sorted, then the index alone; slot -1 sorts first
        long[] order = new long[slots.length];
        for (int i = 0; i < slots.length; i++) {
            order[i] = ((long) slots[i] << 32) | i;
        }
        Arrays.sort(order);
        for (int i = 0; i < order.length; i++) {
            order[i] &= 0xffffffffL;
        }
        return tables.address(order);
    }

    /** A dense forward of the K tokens from the gathered slot states (zero for padding), then zero padding rows. */
    void draft(DraftCall c) {
        SlotShape s = c.shape();
        AttentionShape shape = new AttentionShape(s.sequences(), s.heads(), s.drafts(), s.keyDim(), s.valueDim(), Layout.BNHD,
                s.dtype());
        long slots = slots(c.slots());
        try (Tensor start = gather(c.pool(), slots, states(s))) {
            sweeps.run(shape, null, PassArgs.forward(new ForwardCall(shape, c.q(), c.k(), c.v(), c.decay(), start, c.scale(),
                    Precision.STRICT, c.output(), null)));
            device.launch(kernels, Kernel.ZERO_ROWS, new Grid(s.sequences(), 1, 1, 256), 0, KernelArgs.of(ZeroRowsParams.class)
                    .ptr(ZeroRowsParams.BASE, t(c.output())).ptr(ZeroRowsParams.SLOTS, slots)
                    .i64(ZeroRowsParams.ROW_BYTES, s.valueRow(1, 0) * s.dtype().byteSize()).bytes());
        }
    }

    /**
     * The gathered states advanced by each sequence's accepted tokens, a packed sweep writing no
     * output whose sequence i is tokens i K .. i K + accepted[i] - 1, then scattered back.
     */
    void commit(CommitCall c) {
        SlotShape s = c.shape();
        int n = s.sequences();
        long[] starts = new long[n];
        for (int i = 0; i < n; i++) {
            starts[i] = (long) i * s.drafts();
        }
        AttentionShape flat = new AttentionShape(n, s.heads(), Math.multiplyExact(n, s.drafts()), s.keyDim(), s.valueDim(),
                Layout.BNHD, s.dtype());
        Packing packing = Packing.of(tables, starts, c.accepted().clone());
        long slots = slots(c.slots());
        try (Tensor start = gather(c.pool(), slots, states(s)); Tensor fin = backend.allocate(DType.FP32, start.shape())) {
            sweeps.run(flat, packing, PassArgs.advance(t(c.k()), t(c.v()), t(c.decay()), t(start), t(fin).address(),
                    s.keyDim(), s.valueDim()));
            copySlots(c.pool(), fin, slots, true);
        }
    }

    /** Dense states [S, H, D, E] of a slot call. */
    private static Shape states(SlotShape s) {
        return Shape.of(s.sequences(), s.heads(), s.keyDim(), s.valueDim());
    }

    /** The device address of the slots as int64. */
    private long slots(int[] slots) {
        long[] values = new long[slots.length];
        for (int i = 0; i < slots.length; i++) {
            values[i] = slots[i];
        }
        return tables.address(values);
    }

    /** Frees the kept tables. */
    void close() {
        tables.close();
    }

    /** A new fp32 tensor of dense states [S, H, D, E], the slots' states, zero for slot -1. */
    private Tensor gather(Tensor statePool, long slots, Shape states) {
        Tensor dense = backend.allocate(DType.FP32, states);
        try {
            copySlots(statePool, dense, slots, false);
        } catch (RuntimeException | Error e) {
            dense.close();
            throw e;
        }
        return dense;
    }

    /** dense[i] = pool[slots[i]] (zero for slot -1), or with {@code scatter} pool[slots[i]] = dense[i] (none for -1). */
    private void copySlots(Tensor statePool, Tensor dense, long slots, boolean scatter) {
        int sequences = dense.shape().dim(0);
        long stateSize = dense.shape().elementCount() / sequences;
        t(scatter ? statePool : dense).written();
        device.launch(kernels, Kernel.SLOT_COPY, new Grid(sequences, Math.min(64, (stateSize + 255) / 256), 1, 256), 0,
                KernelArgs.of(SlotCopyParams.class).ptr(SlotCopyParams.POOL, t(statePool)).ptr(SlotCopyParams.DENSE, t(dense))
                        .ptr(SlotCopyParams.SLOTS, slots).i64(SlotCopyParams.STATE_SIZE, stateSize)
                        .i64(SlotCopyParams.SCATTER, scatter ? 1 : 0).bytes());
    }
}
