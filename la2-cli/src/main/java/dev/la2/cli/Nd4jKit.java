package dev.la2.cli;

import dev.la2.bench.Nd4jSupport;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * The jars only {@code la2 demo} and the ND4J baseline of {@code la2 bench} need: ND4J and its
 * natives, DL4J, la2-nd4j and la2-demo. They stay off the launcher's class path (target/lib) in
 * target/lib-nd4j, next to la2-cli's jar, and are loaded when one of those commands runs, through a
 * class loader whose parent is the CLI's own: the two share la2's API, picocli and the bench
 * engine. The bench's ND4J code ({@code dev.la2.bench.nd4j}) sits in la2-bench's jar on the
 * launcher's class path but must link against ND4J, so the kit's loader defines its own copy of
 * that package.
 *
 * <p>Where ND4J is on the CLI's own class path already (an IDE, a test, an embedding application),
 * that is used instead. {@code -Dla2.nd4j.lib=DIR} names another folder.
 *
 * @param loader       sees ND4J, or null when it was not found
 * @param absentReason why there is no loader, for messages
 */
record Nd4jKit(ClassLoader loader, String absentReason) {

    static final String FOLDER = "lib-nd4j";
    static final String PROPERTY = "la2.nd4j.lib";
    private static final String PROBE = "org.nd4j.linalg.factory.Nd4j";
    /** la2-bench's classes that name ND4J types. */
    private static final String BENCH_ND4J_CODE = "dev.la2.bench.nd4j.";

    /** Found once per JVM: one loader, so ND4J's natives load once. */
    private static final class Located {
        static final Nd4jKit KIT = locate(System.getProperty(PROPERTY));
    }

    static Nd4jKit get() {
        return Located.KIT;
    }

    boolean present() {
        return loader != null;
    }

    /** The bench's door to ND4J through this kit. */
    Nd4jSupport bench() {
        return present() ? Nd4jSupport.in(loader, absentReason) : Nd4jSupport.absent(absentReason);
    }

    /**
     * Runs {@code action} with this kit's loader as the thread's context loader: ND4J finds its
     * backend (ServiceLoader) through the context loader of the thread that first touches it.
     */
    <T> T call(Callable<T> action) throws Exception {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        if (present()) {
            thread.setContextClassLoader(loader);
        }
        try {
            return action.call();
        } finally {
            thread.setContextClassLoader(previous);
        }
    }

    /** @param folder the kit's folder, or null for lib-nd4j next to la2-cli's jar (or classes) */
    static Nd4jKit locate(String folder) {
        ClassLoader own = Nd4jKit.class.getClassLoader();
        if (visible(own)) {
            return new Nd4jKit(own, null);
        }
        Path dir = folder != null ? Path.of(folder) : besideCli();
        if (dir == null || !Files.isDirectory(dir)) {
            return new Nd4jKit(null, "nd4j not on class path, and no ND4J kit at "
                    + (dir == null ? FOLDER + " beside la2-cli's jar" : dir)
                    + " (building la2-cli, as ./la2 does, puts it there)");
        }
        List<URL> urls = new ArrayList<>();
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path p : entries.sorted().toList()) {
                if (Files.isDirectory(p) || p.getFileName().toString().endsWith(".jar")) {
                    urls.add(p.toUri().toURL());
                }
            }
        } catch (IOException e) {
            return new Nd4jKit(null, "cannot read the ND4J kit at " + dir + ": " + e.getMessage());
        }
        Path bench = codeSource(Nd4jSupport.class);
        if (bench != null) {
            try {
                urls.add(bench.toUri().toURL());
            } catch (IOException e) {
                return new Nd4jKit(null, "cannot use la2-bench at " + bench + ": " + e.getMessage());
            }
        }
        URLClassLoader kit = new KitLoader(urls.toArray(URL[]::new), own);
        if (!visible(kit)) {
            return new Nd4jKit(null, "no ND4J in the ND4J kit at " + dir + " (" + urls.size() + " jars)");
        }
        return new Nd4jKit(kit, null);
    }

    private static boolean visible(ClassLoader loader) {
        try {
            Class.forName(PROBE, false, loader);
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** target/lib-nd4j when la2-cli runs from target/la2-cli-<v>.jar or target/classes; null if unknown. */
    private static Path besideCli() {
        Path cli = codeSource(Nd4jKit.class);
        return cli == null || cli.getParent() == null ? null : cli.getParent().resolve(FOLDER);
    }

    /** The jar or folder {@code type} was loaded from, or null if unknown. */
    private static Path codeSource(Class<?> type) {
        CodeSource source = type.getProtectionDomain().getCodeSource();
        if (source == null || source.getLocation() == null) {
            return null;
        }
        try {
            return Path.of(source.getLocation().toURI());
        } catch (URISyntaxException | IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
            return null;
        }
    }

    /** Parent first, except for la2-bench's ND4J code, which it defines itself so that it links against the kit's ND4J. */
    private static final class KitLoader extends URLClassLoader {
        static {
            registerAsParallelCapable();
        }

        KitLoader(URL[] urls, ClassLoader parent) {
            super("la2-nd4j-kit", urls, parent);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.startsWith(BENCH_ND4J_CODE)) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    c = findClass(name);
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }
    }
}
