package dev.la2.parallel;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.File;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The few NCCL functions la2 calls, bound through java.lang.foreign against {@code libnccl.so.2}.
 * Where the library is looked for, in order: the path in the system property {@code la2.nccl.library};
 * the name {@code libnccl.so.2} as the dynamic loader resolves it (LD_LIBRARY_PATH, the loader cache);
 * {@code libnccl.so.2} in each directory of LD_LIBRARY_PATH, CUDA_HOME/lib64 and /usr/local/cuda/lib64;
 * and the Python wheels' {@code nvidia/nccl/lib} under the site-packages of VIRTUAL_ENV, CONDA_PREFIX,
 * ~/.local, /usr/local and /usr.
 */
final class NcclLibrary {
    static final String PROPERTY = "la2.nccl.library";
    static final String NAME = "libnccl.so.2";
    /** NCCL_UNIQUE_ID_BYTES: ncclUniqueId is a struct of this many chars, passed by value. */
    static final int UNIQUE_ID_BYTES = 128;
    static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE));

    /** ncclDataType_t values. */
    static final int NCCL_FLOAT16 = 6, NCCL_FLOAT32 = 7, NCCL_FLOAT64 = 8, NCCL_BFLOAT16 = 9;
    /** ncclRedOp_t ncclSum. */
    static final int NCCL_SUM = 0;

    final String path;
    final MethodHandle getUniqueId;
    final MethodHandle commInitRank;
    final MethodHandle allGather;
    final MethodHandle allReduce;
    final MethodHandle commDestroy;
    final MethodHandle getErrorString;

    private static volatile Object loaded;

    private NcclLibrary(String path, SymbolLookup lib) {
        this.path = path;
        Linker linker = Linker.nativeLinker();
        getUniqueId = bind(linker, lib, "ncclGetUniqueId", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commInitRank = bind(linker, lib, "ncclCommInitRank", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT));
        allGather = bind(linker, lib, "ncclAllGather",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        allReduce = bind(linker, lib, "ncclAllReduce",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        commDestroy = bind(linker, lib, "ncclCommDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getErrorString = bind(linker, lib, "ncclGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    private static MethodHandle bind(Linker linker, SymbolLookup lib, String name, FunctionDescriptor fd) {
        MemorySegment symbol = lib.find(name).orElseThrow(() -> new IllegalStateException("no symbol " + name));
        return linker.downcallHandle(symbol, fd);
    }

    /** The library, loaded once; throws {@link CommunicationException} saying why it is unavailable. */
    static NcclLibrary get() {
        Object l = loaded;
        if (l == null) {
            synchronized (NcclLibrary.class) {
                l = loaded;
                if (l == null) {
                    l = load();
                    loaded = l;
                }
            }
        }
        if (l instanceof NcclLibrary lib) {
            return lib;
        }
        throw new CommunicationException("NCCL is unavailable: " + l);
    }

    /** The library, or a sentence saying why it could not be loaded. */
    private static Object load() {
        List<String> tried = new ArrayList<>();
        for (String candidate : candidates()) {
            try {
                SymbolLookup lib = SymbolLookup.libraryLookup(candidate, Arena.global());
                return new NcclLibrary(candidate, lib);
            } catch (IllegalArgumentException | IllegalStateException e) {
                tried.add(candidate);
            } catch (IllegalCallerException e) {
                return "native access is not enabled for la2-parallel (--enable-native-access): " + e.getMessage();
            }
        }
        return NAME + " not found (tried " + String.join(", ", tried) + "; set -D" + PROPERTY
                + "=/path/to/libnccl.so.2, or install NCCL, for example the Python wheel nvidia-nccl-cu13)";
    }

    private static List<String> candidates() {
        List<String> out = new ArrayList<>();
        String property = System.getProperty(PROPERTY);
        if (property != null && !property.isBlank()) {
            out.add(property);
        }
        out.add(NAME);
        List<String> dirs = new ArrayList<>();
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            dirs.addAll(List.of(ld.split(File.pathSeparator)));
        }
        String cudaHome = System.getenv("CUDA_HOME");
        if (cudaHome != null) {
            dirs.add(cudaHome + "/lib64");
        }
        dirs.add("/usr/local/cuda/lib64");
        for (String prefix : pythonPrefixes()) {
            dirs.addAll(wheelDirs(Path.of(prefix)));
        }
        for (String dir : dirs) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, NAME);
            if (Files.isRegularFile(p)) {
                out.add(p.toString());
            }
        }
        return out;
    }

    private static List<String> pythonPrefixes() {
        List<String> prefixes = new ArrayList<>();
        for (String env : new String[] {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
            String v = System.getenv(env);
            if (v != null) {
                prefixes.add(v);
            }
        }
        prefixes.add(System.getProperty("user.home") + "/.local");
        prefixes.add("/usr/local");
        prefixes.add("/usr");
        return prefixes;
    }

    /** PREFIX/lib/python3.X/{site,dist}-packages/nvidia/nccl/lib, for each such directory present. */
    private static List<String> wheelDirs(Path prefix) {
        Path lib = prefix.resolve("lib");
        if (!Files.isDirectory(lib)) {
            return List.of();
        }
        try (Stream<Path> pythons = Files.list(lib)) {
            return pythons.filter(p -> p.getFileName().toString().startsWith("python3"))
                    .flatMap(p -> Stream.of(p.resolve("site-packages"), p.resolve("dist-packages")))
                    .map(p -> p.resolve("nvidia/nccl/lib"))
                    .filter(Files::isDirectory)
                    .map(Path::toString)
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Throws {@link CommunicationException} for a result other than ncclSuccess. */
    void check(int result, String what) {
        if (result != 0) {
            String text;
            try {
                MemorySegment s = (MemorySegment) getErrorString.invokeExact(result);
                text = s.reinterpret(1024).getString(0);
            } catch (Throwable t) {
                text = "error " + result;
            }
            throw new CommunicationException(what + " failed: " + text + " (ncclResult_t " + result + ")");
        }
    }
}
