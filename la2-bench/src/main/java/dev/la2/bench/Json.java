package dev.la2.bench;

/** Members of the one-line JSON objects the bench writes: each appended with a trailing comma. */
final class Json {
    private Json() {
    }

    static void field(StringBuilder sb, String key, String value) {
        sb.append('"').append(key).append("\":");
        if (value == null) {
            sb.append("null");
        } else {
            sb.append('"');
            for (char c : value.toCharArray()) {
                switch (c) {
                    case '"' -> sb.append("\\\"");
                    case '\\' -> sb.append("\\\\");
                    default -> {
                        if (c < 0x20) {
                            sb.append(String.format("\\u%04x", (int) c));
                        } else {
                            sb.append(c);
                        }
                    }
                }
            }
            sb.append('"');
        }
        sb.append(',');
    }

    static void bool(StringBuilder sb, String key, boolean value) {
        sb.append('"').append(key).append("\":").append(value).append(',');
    }

    /** Unknown (non-finite) figures are null; whole numbers are written without a fraction. */
    static void number(StringBuilder sb, String key, double value) {
        sb.append('"').append(key).append("\":");
        if (!Double.isFinite(value)) {
            sb.append("null");
        } else if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            sb.append((long) value);
        } else {
            sb.append(value);
        }
        sb.append(',');
    }

    /** {@code prefix}_median, _min and _max of timings. */
    static void stats(StringBuilder sb, String prefix, Stats stats) {
        number(sb, prefix + "_median", stats.median());
        number(sb, prefix + "_min", stats.min());
        number(sb, prefix + "_max", stats.max());
    }
}
