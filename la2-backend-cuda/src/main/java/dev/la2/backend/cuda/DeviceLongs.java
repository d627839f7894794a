package dev.la2.backend.cuda;

/**
 * An int64 table uploaded for one call (the packed kernels' ranges and order, pool slots), freed
 * by {@link #close()} once the call's kernels are queued: the pool hands the block out again only
 * to work queued behind them on the same stream. Under the backend's lock.
 */
final class DeviceLongs implements AutoCloseable {
    private final DevicePool pool;
    private final DevicePool.Block block;

    DeviceLongs(DevicePool pool, Transfers transfers, long[] values) {
        this.pool = pool;
        block = pool.allocate(Math.max(1, (long) values.length * Long.BYTES));
        transfers.upload(block.ptr(), values);
    }

    /** The device address of element {@code i}. */
    long address(long i) {
        return block.address() + i * Long.BYTES;
    }

    @Override
    public void close() {
        pool.release(block);
    }
}
