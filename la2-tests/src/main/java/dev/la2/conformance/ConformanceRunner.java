package dev.la2.conformance;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import dev.la2.api.La2ArgumentException;
import dev.la2.api.BackendOptions;
import java.io.PrintWriter;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.launcher.EngineFilter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs the conformance kit against one backend outside a build tool, through the JUnit Platform
 * Launcher (this is what {@code la2 check} calls). Prints each failure and skip with its reason,
 * then a last line {@code "N passed, N failed"}, with {@code ", N skipped"} appended if any were.
 *
 * <p>A backend that is missing or unavailable counts as skipped, with the reason printed, never as
 * passed. A failure outside any single case (for example the backend failing to start) counts as
 * a failure.
 */
public final class ConformanceRunner {

    /** Counts of cases; a class-level skip or failure counts as one. */
    public record Result(long passed, long failed, long skipped) {
        /** Whether the backend conformed: something passed and nothing failed. */
        public boolean conforms() {
            return failed == 0 && passed > 0;
        }

        /** The summary line the runner prints last. */
        public String summary() {
            return passed + " passed, " + failed + " failed" + (skipped > 0 ? ", " + skipped + " skipped" : "");
        }
    }

    private ConformanceRunner() {
    }

    /**
     * Runs the kit against {@code backendName}, opened with {@code options}. Runs are serialised:
     * the selected backend is handed to the kit class through a static field.
     */
    public static Result run(String backendName, BackendOptions options, PrintWriter out) {
        return run(backendName, options, out, List.of());
    }

    /**
     * As {@link #run(String, BackendOptions, PrintWriter)}, only the kit's cases of the named
     * families ({@link #families()}, such as {@code "savedForward"}); all of them where
     * {@code families} is empty. For a backend author working on one part of the SPI, and for
     * tests that show one family catching a bug without running the whole kit.
     *
     * @throws La2ArgumentException naming {@code families} for a name the kit does not have
     */
    public static Result run(String backendName, BackendOptions options, PrintWriter out, List<String> families) {
        if (backendName == null || backendName.isBlank()) {
            throw new La2ArgumentException("backendName", String.valueOf(backendName), "a backend name such as \"cpu\"");
        }
        if (options == null) {
            throw new La2ArgumentException("options", "null", "backend options (BackendOptions.defaults())");
        }
        if (out == null) {
            throw new La2ArgumentException("out", "null", "a PrintWriter for the report");
        }
        if (families == null) {
            throw new La2ArgumentException("families", "null", "a list of family names, empty for all");
        }
        List<String> known = families();
        for (String f : families) {
            if (!known.contains(f)) {
                throw new La2ArgumentException("families", "\"" + f + "\"", "one of " + known);
            }
        }
        synchronized (ConformanceRunner.class) {
            SelectedBackendKit.select(backendName.strip(), options);
            try {
                LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                        .selectors(families.isEmpty() ? List.of(selectClass(SelectedBackendKit.class))
                                : families.stream().map(m -> selectMethod(SelectedBackendKit.class, m)).toList())
                        .filters(EngineFilter.includeEngines("junit-jupiter"))
                        .build();
                Launcher launcher = LauncherFactory.create();
                Counter counter = new Counter(out);
                launcher.execute(request, counter);
                Result result = counter.result();
                out.println(result.summary());
                out.flush();
                return result;
            } finally {
                SelectedBackendKit.clear();
            }
        }
    }

    /** The kit's families: its test methods, each a family of cases ({@code forward}, {@code misuse}, ...), sorted. */
    public static List<String> families() {
        return Arrays.stream(ConformanceKit.class.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()))
                .filter(m -> m.isAnnotationPresent(Test.class) || m.isAnnotationPresent(TestFactory.class))
                .map(Method::getName).sorted().toList();
    }

    /** Counts results and prints each failure and skip as it happens. */
    private static final class Counter implements TestExecutionListener {
        private final PrintWriter out;
        private final AtomicLong passed = new AtomicLong();
        private final AtomicLong failed = new AtomicLong();
        private final AtomicLong skipped = new AtomicLong();
        private volatile TestPlan plan;

        Counter(PrintWriter out) {
            this.out = out;
        }

        Result result() {
            return new Result(passed.get(), failed.get(), skipped.get());
        }

        @Override
        public void testPlanExecutionStarted(TestPlan testPlan) {
            plan = testPlan;
        }

        @Override
        public void executionSkipped(TestIdentifier id, String reason) {
            skipped.incrementAndGet();
            report("SKIPPED", id, reason);
        }

        @Override
        public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            switch (result.getStatus()) {
                case SUCCESSFUL -> {
                    if (id.isTest()) {
                        passed.incrementAndGet();
                    }
                }
                case ABORTED -> {
                    skipped.incrementAndGet();
                    report("SKIPPED", id, message(result));
                }
                case FAILED -> {
                    failed.incrementAndGet();
                    report("FAILED", id, message(result));
                }
            }
        }

        private void report(String what, TestIdentifier id, String reason) {
            synchronized (out) {
                out.println(what + " " + path(id) + ": " + reason);
                out.flush();
            }
        }

        private static String message(TestExecutionResult result) {
            Optional<Throwable> t = result.getThrowable();
            if (t.isEmpty()) {
                return "(no reason given)";
            }
            String m = t.get().getMessage();
            return m == null ? t.get().toString() : m;
        }

        /** "forward() > FP32/STRICT > B=1 H=3 ..." from the method down, without the engine and class. */
        private String path(TestIdentifier id) {
            List<String> names = new ArrayList<>();
            TestPlan p = plan;
            TestIdentifier at = id;
            while (at != null) {
                if (at != id && at.getSource().filter(ClassSource.class::isInstance).isPresent()) {
                    break;
                }
                Optional<TestIdentifier> parent = p == null ? Optional.empty() : p.getParent(at);
                if (parent.isEmpty() && at != id) {
                    break; // the engine
                }
                names.addFirst(at.getDisplayName());
                at = parent.orElse(null);
            }
            return String.join(" > ", names);
        }
    }
}
