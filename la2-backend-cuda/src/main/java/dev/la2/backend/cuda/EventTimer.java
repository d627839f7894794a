package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.Driver.check;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;

/**
 * Device time of queued work, from CUDA events recorded on the backend's stream around it. The
 * lock is held across the whole measurement, so no other thread's work lands between the events.
 */
final class EventTimer {
    private final DeviceContext device;
    private final CUevent start = new CUevent();
    private final CUevent end = new CUevent();

    /** With the context current. */
    EventTimer(DeviceContext device) {
        this.device = device;
        check(cuEventCreate(start, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
        check(cuEventCreate(end, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
    }

    /**
     * {@code times} runs queued back to back after one untimed run, each timed between the events
     * that bracket it: the device time per run, without the host's time to queue it.
     */
    double[] timeMillis(Runnable work, int times) {
        device.lock();
        CUevent[] marks = new CUevent[times + 1];
        try {
            for (int i = 0; i <= times; i++) {
                marks[i] = new CUevent();
                CUevent mark = marks[i];
                device.locked(() -> check(cuEventCreate(mark, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate"));
            }
            work.run(); // untimed: the device is busy with it while the timed runs are queued
            device.locked(() -> check(cuEventRecord(marks[0], device.stream), "cuEventRecord"));
            for (int i = 1; i <= times; i++) {
                work.run();
                CUevent mark = marks[i];
                device.locked(() -> check(cuEventRecord(mark, device.stream), "cuEventRecord"));
            }
            return device.locked(() -> {
                check(cuEventSynchronize(marks[times]), "cuEventSynchronize (the timed work failed on the device)");
                double[] result = new double[times];
                float[] ms = {0};
                for (int i = 0; i < times; i++) {
                    check(cuEventElapsedTime(ms, marks[i], marks[i + 1]), "cuEventElapsedTime");
                    result[i] = ms[0];
                }
                return result;
            });
        } finally {
            // The lock is released even if the events cannot be destroyed (the work closed the
            // backend, or the context is lost): a lock left held would stall every later call.
            try {
                device.locked(() -> {
                    for (CUevent mark : marks) {
                        if (mark != null) {
                            cuEventDestroy(mark);
                        }
                    }
                });
            } finally {
                device.unlock();
            }
        }
    }

    double timeMillis(Runnable work) {
        device.lock();
        try {
            device.locked(() -> check(cuEventRecord(start, device.stream), "cuEventRecord"));
            work.run();
            return device.locked(() -> {
                check(cuEventRecord(end, device.stream), "cuEventRecord");
                check(cuEventSynchronize(end), "cuEventSynchronize (the timed work failed on the device)");
                float[] ms = {0};
                check(cuEventElapsedTime(ms, start, end), "cuEventElapsedTime");
                return (double) ms[0];
            });
        } finally {
            device.unlock();
        }
    }

    /** With the context current. */
    void close() {
        cuEventDestroy(start);
        cuEventDestroy(end);
    }
}
