package dev.la2.backend.cuda;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The int64 tables of the packed and slot kernels (a packed call's ranges and order, pool slots)
 * on the device, the last few kept: a serving or training loop that repeats its slots or offsets
 * uploads each table once, so its calls queue without a copy or a wait for a staging buffer. A
 * table is never written after its upload; an evicted one goes back to the pool, which hands it
 * out again only to work queued behind the kernels reading it on the same stream. Under the
 * backend's lock.
 */
final class DeviceTables implements AutoCloseable {
    private static final int KEPT = 8;

    /** A table's values, compared element by element. */
    private record Key(long[] values) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(values, k.values);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }
    }

    private final DevicePool pool;
    private final Transfers transfers;
    private final LinkedHashMap<Key, DevicePool.Block> kept = new LinkedHashMap<>(16, 0.75f, true);

    DeviceTables(DevicePool pool, Transfers transfers) {
        this.pool = pool;
        this.transfers = transfers;
    }

    /** The device address of a table holding {@code values}, uploaded unless one is kept. */
    long address(long[] values) {
        Key key = new Key(values.clone());
        DevicePool.Block block = kept.get(key);
        if (block == null) {
            block = pool.allocate(Math.max(1, (long) values.length * Long.BYTES));
            try {
                transfers.upload(block.ptr(), values);
            } catch (RuntimeException | Error e) {
                pool.release(block);
                throw e;
            }
            kept.put(key, block);
            if (kept.size() > KEPT) {
                Iterator<Map.Entry<Key, DevicePool.Block>> eldest = kept.entrySet().iterator();
                pool.release(eldest.next().getValue());
                eldest.remove();
            }
        }
        return block.address();
    }

    @Override
    public void close() {
        kept.values().forEach(pool::release);
        kept.clear();
    }
}
