package dev.la2.backend.cuda;

import static jcuda.driver.JCudaDriver.cuDeviceComputeCapability;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuGetErrorName;
import static jcuda.driver.JCudaDriver.cuInit;

import dev.la2.api.DeviceMemoryException;
import dev.la2.api.La2Exception;
import dev.la2.spi.Availability;
import jcuda.driver.CUdevice;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/** Driver initialisation and error handling; the only class that triggers JCuda's native load. */
final class Driver {
    private Driver() {
    }

    /** Thrown for a failed driver call other than out-of-memory. */
    static final class CudaException extends La2Exception {
        private static final long serialVersionUID = 1L;

        CudaException(String message) {
            super(message);
        }
    }

    /** {@code minDriver}: the CUDA version the kernels need, as cuDriverGetVersion encodes it (0: none). */
    static Availability probe(int minDriver) {
        try {
            // JCuda's own exceptions would hide which call failed; return codes are checked here.
            JCudaDriver.setExceptionsEnabled(false);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            String msg = String.valueOf(e.getMessage());
            if (msg.contains("libcuda")) {
                return new Availability.Unavailable("no CUDA driver: libcuda.so.1 not found",
                        "la2-backend-cuda is on the class path but no NVIDIA driver is visible; install one, or use -Dla2.backend=cpu");
            }
            if (e instanceof NoClassDefFoundError && !msg.startsWith("Could not initialize")) {
                // JCuda's own classes are missing, not its natives.
                return new Availability.Unavailable("JCuda is not on the class path (" + msg + " not found)",
                        "add org.jcuda:jcuda and org.jcuda:jcuda-natives (la2-backend-cuda depends on both), or use -Dla2.backend=cpu");
            }
            return new Availability.Unavailable("JCuda natives failed to load (" + msg + ")",
                    "check that org.jcuda:jcuda-natives for this platform is on the class path, or use -Dla2.backend=cpu");
        }
        int rc = cuInit(0);
        if (rc == CUresult.CUDA_ERROR_NO_DEVICE) {
            return new Availability.Unavailable("the CUDA driver found 0 devices", "use -Dla2.backend=cpu");
        }
        if (rc != CUresult.CUDA_SUCCESS) {
            return new Availability.Unavailable("cuInit failed: " + errorName(rc), "check the NVIDIA driver (nvidia-smi), or use -Dla2.backend=cpu");
        }
        int[] count = {0};
        rc = cuDeviceGetCount(count);
        if (rc != CUresult.CUDA_SUCCESS || count[0] == 0) {
            return new Availability.Unavailable("the CUDA driver found 0 devices", "use -Dla2.backend=cpu");
        }
        StringBuilder devices = new StringBuilder();
        boolean anyUsable = false;
        for (int i = 0; i < count[0]; i++) {
            CUdevice dev = new CUdevice();
            check(cuDeviceGet(dev, i), "cuDeviceGet");
            int[] major = {0}, minor = {0};
            check(cuDeviceComputeCapability(major, minor, dev), "cuDeviceComputeCapability");
            byte[] name = new byte[256];
            check(cuDeviceGetName(name, name.length, dev), "cuDeviceGetName");
            long[] mem = {0};
            check(cuDeviceTotalMem(mem, dev), "cuDeviceTotalMem");
            String n = new String(name).trim().replace("\0", "");
            if (devices.length() > 0) {
                devices.append(", ");
            }
            devices.append("cuda:").append(i).append(' ').append(n).append(" (sm_").append(major[0]).append(minor[0])
                    .append(", ").append(mem[0] >> 30).append(" GiB)");
            anyUsable |= major[0] >= CudaProvider.MIN_MAJOR;
        }
        if (!anyUsable) {
            return new Availability.Unavailable("compute capability < 8.0 on every device: " + devices
                    + "; la2's kernels need sm_80 or newer", "use -Dla2.backend=cpu");
        }
        int[] version = {0};
        cuDriverGetVersion(version);
        if (version[0] < minDriver) {
            return new Availability.Unavailable("the NVIDIA driver supports CUDA " + cudaVersion(version[0])
                    + "; la2's kernels need a driver for CUDA " + cudaVersion(minDriver) + " or newer",
                    "update the NVIDIA driver (nvidia-smi shows the CUDA version it supports), or use -Dla2.backend=cpu");
        }
        return new Availability.Available(devices + ", driver CUDA " + cudaVersion(version[0]));
    }

    private static String cudaVersion(int encoded) {
        return encoded / 1000 + "." + (encoded % 1000) / 10;
    }

    static String errorName(int rc) {
        String[] name = {null};
        if (cuGetErrorName(rc, name) == CUresult.CUDA_SUCCESS && name[0] != null) {
            return name[0];
        }
        return CUresult.stringFor(rc);
    }

    static void check(int rc, String what) {
        if (rc != CUresult.CUDA_SUCCESS) {
            if (rc == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
                throw new DeviceMemoryException(what + " failed: " + errorName(rc));
            }
            throw new CudaException(what + " failed: " + errorName(rc) + " (" + rc + ")");
        }
    }
}
