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

/**
 * The kernel module of one context and every {@link Kernel}'s function in it, and its variant's
 * ({@link Kernel#variant()}) where it has one, looked up once.
 */
final class KernelTable {
    private final CUmodule module = new CUmodule();
    private final EnumMap<Kernel, CUfunction> functions = new EnumMap<>(Kernel.class);
    private final EnumMap<Kernel, CUfunction> variants = new EnumMap<>(Kernel.class);

    /** Loads the fatbin into the current context; {@code smemPerBlock} is the opt-in shared memory limit. */
    KernelTable(int smemPerBlock) {
        check(cuModuleLoadData(module, image()), "cuModuleLoadData(la2_kernels.fatbin)");
        for (Kernel k : Kernel.values()) {
            functions.put(k, function(k.symbol(), k.bigSharedMemory(), smemPerBlock));
            if (k.variant() != null) {
                variants.put(k, function(k.symbol() + k.variant(), k.bigSharedMemory(), smemPerBlock));
            }
        }
    }

    private CUfunction function(String symbol, boolean bigSharedMemory, int smemPerBlock) {
        CUfunction f = new CUfunction();
        check(cuModuleGetFunction(f, module, symbol), "cuModuleGetFunction(" + symbol + ")");
        if (bigSharedMemory) {
            check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smemPerBlock),
                    "cuFuncSetAttribute(" + symbol + ")");
        }
        return f;
    }

    CUfunction get(Kernel k) {
        return functions.get(k);
    }

    /** The kernel's packed or by-slot entry point. */
    CUfunction variant(Kernel k) {
        CUfunction f = variants.get(k);
        if (f == null) {
            throw new IllegalStateException(k.symbol() + " has no packed or by-slot entry point");
        }
        return f;
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
