package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.Driver.check;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.EnumMap;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;

/** The kernel module of one context and every {@link Kernel}'s function in it, looked up once. */
final class KernelTable {
    private final CUmodule module = new CUmodule();
    private final EnumMap<Kernel, CUfunction> functions = new EnumMap<>(Kernel.class);

    /** Loads the fatbin into the current context; {@code smemPerBlock} is the opt-in shared memory limit. */
    KernelTable(int smemPerBlock) {
        check(cuModuleLoadData(module, image()), "cuModuleLoadData(la2_kernels.fatbin)");
        for (Kernel k : Kernel.values()) {
            CUfunction f = new CUfunction();
            check(cuModuleGetFunction(f, module, k.symbol()), "cuModuleGetFunction(" + k.symbol() + ")");
            if (k.bigSharedMemory()) {
                check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smemPerBlock),
                        "cuFuncSetAttribute(" + k.symbol() + ")");
            }
            functions.put(k, f);
        }
    }

    CUfunction get(Kernel k) {
        return functions.get(k);
    }

    /** With the module's context current. */
    void unload() {
        cuModuleUnload(module);
    }

    private static byte[] image() {
        try (InputStream in = KernelTable.class.getResourceAsStream(CudaProvider.KERNELS)) {
            if (in == null) {
                throw new IllegalStateException("la2-backend-cuda: " + CudaProvider.KERNELS + " missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
