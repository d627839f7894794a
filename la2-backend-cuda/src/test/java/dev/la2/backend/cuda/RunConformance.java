package dev.la2.backend.cuda;

import dev.la2.api.BackendOptions;
import java.io.PrintWriter;
import java.lang.reflect.Method;

/**
 * Runs the shared conformance kit (module la2-tests) on a backend, for the GPU machine where no
 * build tool runs. Found by reflection: the kit is written in parallel and is not a dependency of
 * this module. Exits 1 unless the backend conforms.
 */
public final class RunConformance {
    private RunConformance() {
    }

    public static void main(String[] args) throws Exception {
        String backend = args.length > 0 ? args[0] : "cuda";
        Class<?> runner = Class.forName("dev.la2.conformance.ConformanceRunner");
        Method run = runner.getMethod("run", String.class, BackendOptions.class, PrintWriter.class);
        PrintWriter out = new PrintWriter(System.out, true);
        Object result = run.invoke(null, backend, BackendOptions.defaults(), out);
        boolean conforms = (boolean) result.getClass().getMethod("conforms").invoke(result);
        out.println("conformance on " + backend + ": " + result);
        System.exit(conforms ? 0 : 1);
    }
}
