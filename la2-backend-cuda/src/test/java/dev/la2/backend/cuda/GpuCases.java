package dev.la2.backend.cuda;

import dev.la2.api.DType;
import dev.la2.api.LightningAttention;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.SplittableRandom;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/** What the GPU tests of one route share: poisoned outputs, fresh normal inputs and the device's compute capability. */
final class GpuCases {
    private GpuCases() {
    }

    /** A tensor of NaNs: an element a call must write and does not stays NaN. */
    static Tensor poisoned(LightningAttention la, DType dtype, Shape shape) {
        Tensor t = la.allocate(dtype, shape);
        t.fill(Double.NaN);
        return t;
    }

    /** {@code count} draws of N(0, std^2). */
    static double[] normal(SplittableRandom rnd, int count, double std) {
        double[] x = new double[count];
        for (int i = 0; i < count; i++) {
            x[i] = rnd.nextGaussian() * std;
        }
        return x;
    }

    /** Device 0's compute capability as 10 major + minor (SweepPlanner.HOPPER_CC is 90). */
    static int computeCapability() {
        JCudaDriver.cuInit(0);
        CUdevice dev = new CUdevice();
        JCudaDriver.cuDeviceGet(dev, 0);
        int[] major = new int[1], minor = new int[1];
        JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
        JCudaDriver.cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
        return 10 * major[0] + minor[0];
    }
}
