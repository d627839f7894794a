package dev.la2.backend.cuda;

/**
 * The limits of one device that decide how a pass is launched (SweepPlanner): read once from the
 * driver by DeviceContext, and written out by hand where a plan is checked without a GPU.
 *
 * @param name the backend's name, for messages
 * @param computeCapability major * 10 + minor (90 for an H100 or H200)
 * @param smCount multiprocessors
 * @param smemPerBlock dynamic shared memory one block may opt into, bytes
 * @param smemPerSm shared memory per multiprocessor, bytes
 */
record DeviceLimits(String name, int computeCapability, int smCount, int smemPerBlock, int smemPerSm) {
}
