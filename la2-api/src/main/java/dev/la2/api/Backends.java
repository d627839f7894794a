package dev.la2.api;

import dev.la2.spi.AttentionBackend;
import dev.la2.spi.Availability;
import dev.la2.spi.BackendProvider;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;

/**
 * Finds backends with {@link ServiceLoader} and picks one: a name given in code, else the system
 * property {@value #PROPERTY}, else the environment variable {@value #ENVIRONMENT}, else the
 * highest-priority available provider.
 */
public final class Backends {
    public static final String PROPERTY = "la2.backend";
    public static final String ENVIRONMENT = "LA2_BACKEND";

    private static final System.Logger LOG = System.getLogger("dev.la2");

    private Backends() {
    }

    private record Found(BackendProvider provider, BackendInfo info) {
    }

    /** Every provider on the class path or module path, highest priority first, each probed. */
    public static List<BackendInfo> discover() {
        return load().stream().map(Found::info).toList();
    }

    /** One line per provider, for diagnostics and error messages. */
    public static String describe() {
        return lines(load());
    }

    /** The backend name requested through the system property or the environment, or null. */
    public static String requestedName() {
        String property = System.getProperty(PROPERTY);
        if (property != null && !property.isBlank()) {
            return property.strip();
        }
        String env = System.getenv(ENVIRONMENT);
        return env != null && !env.isBlank() ? env.strip() : null;
    }

    static LightningAttention open(String name, BackendOptions options) {
        if (options == null) {
            throw new La2ArgumentException("options", "null", "backend options (BackendOptions.defaults())");
        }
        List<Found> found = load();
        Found chosen = choose(found, name, null);
        AttentionBackend backend;
        try {
            backend = chosen.provider().create(options);
        } catch (La2ArgumentException e) {
            // Options this backend cannot take: the caller's to fix, not a backend that is unavailable.
            throw e;
        } catch (RuntimeException | LinkageError e) {
            throw new BackendUnavailableException("la2: backend '" + chosen.info().name()
                    + "' failed to start: " + e + "\nproviders found:\n" + lines(found), e);
        }
        LOG.log(System.Logger.Level.DEBUG, "la2: using backend {0}", backend.name());
        return new ValidatingAttention(backend);
    }

    /**
     * The name of the backend that {@link LightningAttention#open(String)} would open for
     * {@code name} (null: the property, the environment, else automatic), where it must also store
     * sequence tensors of {@code dtype} (null: any). Automatic selection then takes the
     * highest-priority available backend that stores {@code dtype}.
     *
     * @throws BackendUnavailableException if no such backend is available
     * @throws La2ArgumentException if the named backend does not store {@code dtype}
     */
    public static String choose(String name, DType dtype) {
        return choose(load(), name, dtype).info().name();
    }

    private static Found choose(List<Found> found, String name, DType dtype) {
        String wanted = name != null ? name : requestedName();
        if (wanted == null) {
            return best(found, dtype);
        }
        Found match = named(found, wanted.strip().toLowerCase(Locale.ROOT));
        if (dtype != null && !match.info().dtypes().contains(dtype)) {
            throw new La2ArgumentException("backend", "'" + match.info().name() + "' which stores " + match.info().dtypes(),
                    "a backend that stores " + dtype + " (or none, to choose automatically)");
        }
        return match;
    }

    private static Found named(List<Found> found, String wanted) {
        List<Found> matches = found.stream().filter(f -> f.info().name().equals(wanted)).toList();
        if (matches.size() > 1) {
            throw new BackendUnavailableException("la2: two providers are named '" + wanted + "': "
                    + matches.get(0).info().providerClass() + " and " + matches.get(1).info().providerClass()
                    + "; remove one jar from the class path");
        }
        if (matches.isEmpty()) {
            throw new BackendUnavailableException("la2: no backend named '" + wanted + "'" + artifactHint(wanted)
                    + "; providers found:\n" + lines(found));
        }
        Found match = matches.get(0);
        if (!match.info().availability().isAvailable()) {
            throw new BackendUnavailableException("la2: backend '" + wanted + "' is "
                    + match.info().availability() + "\nproviders found:\n" + lines(found));
        }
        return match;
    }

    private static Found best(List<Found> found, DType dtype) {
        for (Found f : found) {
            if (f.info().availability().isAvailable() && (dtype == null || f.info().dtypes().contains(dtype))) {
                for (Found skipped : found) {
                    if (skipped == f) {
                        break;
                    }
                    LOG.log(System.Logger.Level.DEBUG, "la2: skipped {0}", skipped.info());
                }
                return f;
            }
        }
        throw new BackendUnavailableException("la2: no available backend" + (dtype == null ? "" : " that stores " + dtype)
                + "; providers found:\n" + lines(found));
    }

    /** For la2's own backends, the artifact that provides one; empty for any other name. */
    private static String artifactHint(String wanted) {
        String artifact = switch (wanted) {
            case "cpu" -> "la2-backend-cpu";
            case "cuda" -> "la2-backend-cuda";
            case "reference" -> "la2-reference";
            default -> null;
        };
        return artifact == null ? "" : " (it comes with " + artifact + ": put that jar on the class path or the module path)";
    }

    private static String lines(List<Found> found) {
        if (found.isEmpty()) {
            return "  (none: put a backend jar such as la2-backend-cpu on the class path or the module path)";
        }
        StringBuilder sb = new StringBuilder();
        for (Found f : found) {
            sb.append("  ").append(f.info()).append('\n');
        }
        return sb.toString().stripTrailing();
    }

    private static List<Found> load() {
        List<Found> found = new ArrayList<>();
        Iterator<BackendProvider> it = ServiceLoader.load(BackendProvider.class).iterator();
        while (true) {
            BackendProvider provider;
            try {
                if (!it.hasNext()) {
                    break;
                }
                provider = it.next();
            } catch (ServiceConfigurationError e) {
                // One broken provider must not hide the others: report it as an unusable entry.
                found.add(new Found(null, new BackendInfo("(broken provider)", Integer.MIN_VALUE,
                        EnumSet.noneOf(DType.class), new Availability.Unavailable(
                        "failed to load: " + e.getMessage(), "check the jar's META-INF/services entry"),
                        "?")));
                continue;
            }
            found.add(new Found(provider, probe(provider)));
        }
        found.sort(Comparator.comparingInt((Found f) -> f.info().priority()).reversed()
                .thenComparing(f -> f.info().name()));
        return found;
    }

    private static BackendInfo probe(BackendProvider provider) {
        String name;
        int priority;
        Availability availability;
        Set<DType> dtypes;
        try {
            name = provider.name();
            priority = provider.priority();
            dtypes = Set.copyOf(provider.dtypes());
        } catch (RuntimeException | LinkageError e) {
            return new BackendInfo(provider.getClass().getName(), Integer.MIN_VALUE, EnumSet.noneOf(DType.class),
                    new Availability.Unavailable("provider failed to describe itself: " + e, ""),
                    provider.getClass().getName());
        }
        try {
            availability = provider.probe();
            if (availability == null) {
                availability = new Availability.Unavailable("probe returned nothing", "");
            }
        } catch (RuntimeException | LinkageError e) {
            availability = new Availability.Unavailable("probe failed: " + e, "");
        }
        return new BackendInfo(name, priority, dtypes, availability, provider.getClass().getName());
    }
}
