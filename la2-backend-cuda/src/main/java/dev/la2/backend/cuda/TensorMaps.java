package dev.la2.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.la2.api.DType;
import dev.la2.spi.AttentionShape;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensor maps of a pass's q, k and v that the Hopper sweeps' TMA entry points take after their
 * SweepParams (sweep_hopper.cuh, LA2_SWEEP_HOPPER_TMA and HopperMaps; sweep_hopper_tf32.cuh for
 * fp32), and of q, k, v and dO for the decay gradient's Hopper sweep (decay_hopper.cuh, DecayMaps):
 * CUtensorMap of 128 bytes each, rank 4, dimensions (column, token, head, batch) with the layout's
 * strides, boxes of 128 bytes of columns (64 16-bit ones, 32 fp32 ones) x 64 tokens in the 128-byte
 * swizzle of the sweeps' tiles. JCuda does not bind
 * cuTensorMapEncodeTiled, so it is called in the driver JCuda has loaded, through
 * java.lang.foreign. Encoded maps are kept per operand for the next pass on the same tensors. With
 * the maps switched off ("cuda.tma" false) none is made, and every pass loads by cp.async.
 */
final class TensorMaps {
    private static final int KEPT = 64;
    // cuda.h's enumerators: CUtensorMapDataType, CUtensorMapSwizzle, CUtensorMapL2promotion
    private static final int FLOAT16 = 6, FLOAT32 = 7, BFLOAT16 = 9, SWIZZLE_128B = 3, L2_PROMOTION_256B = 3;

    private final Map<Operand, byte[]> kept = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Operand, byte[]> eldest) {
            return size() > KEPT;
        }
    };
    private final boolean enabled;

    /** {@code enabled}: "cuda.tma"; off, no operand is described. */
    TensorMaps(boolean enabled) {
        this.enabled = enabled;
    }

    /**
     * One operand as its map describes it: the first element's address, the storage type, the
     * dimensions and the byte strides of token, head and batch.
     */
    record Operand(long address, DType dtype, long columns, long tokens, long heads, long batch, long tokenStride,
                   long headStride, long batchStride) {

        /** A tensor at {@code address} with {@code columns} features per token, stored as shape {@code s} lays it out. */
        static Operand of(AttentionShape s, long address, DType dtype, int columns) {
            long[] st = PassArgs.strides(s, columns);
            long size = dtype.byteSize();
            return new Operand(address, dtype, columns, s.tokens(), s.heads(), s.batch(), st[2] * size, st[1] * size, st[0] * size);
        }

        /**
         * Whether the sweeps' maps can describe it: 16-bit or fp32, 128 columns, the base and
         * every stride 16-byte aligned and the strides below 2^40 (cuTensorMapEncodeTiled's limits),
         * and every box's first token, from -64 to the last, a 32-bit coordinate.
         */
        boolean describable() {
            boolean aligned = address % 16 == 0 && tokenStride % 16 == 0 && headStride % 16 == 0 && batchStride % 16 == 0;
            long limit = 1L << 40;
            return (dtype == DType.BF16 || dtype == DType.FP16 || dtype == DType.FP32) && columns == 128 && aligned && tokens <= Integer.MAX_VALUE
                    && tokenStride < limit
                    && headStride < limit && batchStride < limit;
        }
    }

    /**
     * The maps of {@code p}'s q, k and v (HopperMaps' bytes), or null where one of them cannot be
     * described or the driver has no cuTensorMapEncodeTiled: the pass then runs the cp.async loads.
     */
    synchronized byte[] of(AttentionShape s, PassArgs p) {
        Operand[] ops = {Operand.of(s, p.q().address(), p.q().dtype(), p.dk()), Operand.of(s, p.k().address(), p.k().dtype(), p.dk()),
            Operand.of(s, p.v().address(), p.v().dtype(), p.dv())};
        return join(ops);
    }

    /** The operands' maps one after the other, or null where one cannot be had. */
    private byte[] join(Operand[] ops) {
        byte[] maps = new byte[128 * ops.length];
        for (int x = 0; x < ops.length; x++) {
            byte[] m = enabled && ops[x].describable() ? kept.computeIfAbsent(ops[x], TensorMaps::encode) : null;
            if (m == null) {
                return null;
            }
            System.arraycopy(m, 0, maps, 128 * x, 128);
        }
        return maps;
    }

    /**
     * The maps of q, k, v and dO of the decay gradient's Hopper sweep (DecayMaps' bytes), or null
     * where one of them cannot be described.
     */
    synchronized byte[] of(AttentionShape s, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor dO) {
        int d = s.keyDim(), e = s.valueDim();
        Operand[] ops = {Operand.of(s, q.address(), q.dtype(), d), Operand.of(s, k.address(), k.dtype(), d),
            Operand.of(s, v.address(), v.dtype(), e), Operand.of(s, dO.address(), dO.dtype(), e)};
        return join(ops);
    }

    /** Whether a map of {@code x} ({@code columns} features per token, laid out as {@code s}) can be had. */
    synchronized boolean describes(AttentionShape s, CudaTensor x, int columns) {
        Operand op = Operand.of(s, x.address(), x.dtype(), columns);
        return enabled && op.describable() && kept.computeIfAbsent(op, TensorMaps::encode) != null;
    }

    /** The operand's map, or null where the driver rejects it or lacks the function. */
    private static byte[] encode(Operand op) {
        MethodHandle f = Encoder.HANDLE;
        if (f == null) {
            return null;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment map = arena.allocate(128, 64);
            MemorySegment dims = arena.allocateFrom(JAVA_LONG, op.columns(), op.tokens(), op.heads(), op.batch());
            MemorySegment strides = arena.allocateFrom(JAVA_LONG, op.tokenStride(), op.headStride(), op.batchStride());
            MemorySegment box = arena.allocateFrom(JAVA_INT, 128 / op.dtype().byteSize(), 64, 1, 1);
            MemorySegment unit = arena.allocateFrom(JAVA_INT, 1, 1, 1, 1);
            int type = switch (op.dtype()) {
                case FP16 -> FLOAT16;
                case BF16 -> BFLOAT16;
                case FP32 -> FLOAT32;
                case FP64 -> throw new IllegalStateException("FP64 operands have no tensor map");
            };
            // no interleave; rows past the last token read as zeros (OOB fill none)
            int rc = (int) f.invokeExact(map, type, 4, MemorySegment.ofAddress(op.address()), dims, strides, box, unit, 0,
                    SWIZZLE_128B, L2_PROMOTION_256B, 0);
            return rc == 0 ? map.toArray(JAVA_BYTE) : null;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("cuTensorMapEncodeTiled", e);
        }
    }

    /** cuTensorMapEncodeTiled of libcuda.so.1, looked up once; null where it cannot be found or called. */
    private static final class Encoder {
        static final MethodHandle HANDLE = lookup();

        private static MethodHandle lookup() {
            try {
                SymbolLookup driver = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
                FunctionDescriptor d = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
                return driver.find("cuTensorMapEncodeTiled").map(s -> Linker.nativeLinker().downcallHandle(s, d)).orElse(null);
            } catch (IllegalArgumentException | IllegalCallerException e) {
                return null;
            }
        }
    }
}
