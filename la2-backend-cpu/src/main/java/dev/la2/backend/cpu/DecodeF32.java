package dev.la2.backend.cpu;

import static dev.la2.backend.cpu.DecayPowers.weight;

import dev.la2.spi.DecodeCall;
import dev.la2.spi.HostTensor;
import java.lang.foreign.MemorySegment;
import java.util.function.IntConsumer;

/**
 * One recurrent step per sequence for fp32, bf16 and fp16 tensors, in place on the fp32 state
 * ({@link Kernels#decodeStep}).
 */
final class DecodeF32 {
    private final Kernels kx;
    private final WorkerPool pool;

    DecodeF32(Kernels kx, WorkerPool pool) {
        this.kx = kx;
        this.pool = pool;
    }

    void run(DecodeCall call) {
        int d = call.keyDim(), e = call.valueDim(), de = d * e, heads = call.heads();
        int seqs = call.batch() * heads;
        TokenRows q = TokenRows.of(call.q(), kx), k = TokenRows.of(call.k(), kx), v = TokenRows.of(call.v(), kx);
        TokenRows out = TokenRows.of(call.output(), kx);
        MemorySegment state = ((HostTensor) call.state()).segment();
        HostTensor decay = (HostTensor) call.decay();
        float scale = (float) call.scale();
        // Tasks of 4 MiB of state or more: a step is memory-bound, and handing a small task to the
        // pool costs more than running it on the caller's thread.
        int perTask = Math.max(1, Math.min(seqs, (1 << 20) / Math.max(1, de)));
        int tasks = (seqs + perTask - 1) / perTask;
        IntConsumer body = task -> {
            float[] qb = new float[d], kb = new float[d], vb = new float[e], ob = new float[e];
            for (int seq = task * perTask; seq < Math.min(seqs, (task + 1) * perTask); seq++) {
                q.load((long) seq * d, d, 1, d, qb);
                k.load((long) seq * d, d, 1, d, kb);
                v.load((long) seq * e, e, 1, e, vb);
                float lambda = weight(Math.exp(-decay.get(seq % heads)));
                kx.decodeStep(state, (long) seq * de * 4, d, e, lambda, qb, kb, vb, scale, ob);
                out.store(ob, (long) seq * e, e, 1, e);
            }
        };
        if (tasks == 1) {
            body.accept(0);
        } else {
            pool.run(tasks, body);
        }
    }
}
