package dev.la2.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The subset of Python literals NumPy writes in .npy headers: dicts, tuples/lists, quoted strings,
 * integers, True, False and None. Dicts parse to maps, tuples and lists to lists, integers to
 * Long, True and False to Boolean and None to the string "None"; anything else throws
 * IllegalArgumentException saying where.
 */
final class PythonLiteral {
    /**
     * Deepest nesting taken: NumPy's headers nest two deep (a dict holding a tuple); a header of
     * thousands of brackets would otherwise overflow the stack instead of being refused.
     */
    static final int MAX_DEPTH = 16;

    private final String s;
    private int pos;
    private int depth;

    PythonLiteral(String s) {
        this.s = s;
    }

    Object parseWhole() {
        Object value = parse();
        skipSpace();
        if (pos != s.length()) {
            throw new IllegalArgumentException("unexpected text at offset " + pos);
        }
        return value;
    }

    private Object parse() {
        skipSpace();
        if (pos >= s.length()) {
            throw new IllegalArgumentException("unexpected end");
        }
        char c = s.charAt(pos);
        return switch (c) {
            case '{' -> nested(this::dict);
            case '(' -> nested(() -> sequence(')'));
            case '[' -> nested(() -> sequence(']'));
            case '\'', '"' -> string();
            default -> {
                if (c == '-' || Character.isDigit(c)) {
                    yield integer();
                }
                yield word();
            }
        };
    }

    private Object nested(java.util.function.Supplier<Object> container) {
        if (++depth > MAX_DEPTH) {
            throw new IllegalArgumentException("nesting deeper than " + MAX_DEPTH + " at offset " + pos);
        }
        Object value = container.get();
        depth--;
        return value;
    }

    private Map<Object, Object> dict() {
        Map<Object, Object> map = new LinkedHashMap<>();
        pos++;
        while (true) {
            skipSpace();
            if (peek() == '}') {
                pos++;
                return map;
            }
            Object key = parse();
            skipSpace();
            expect(':');
            Object value = parse();
            if (map.put(key, value) != null) {
                throw new IllegalArgumentException("key " + key + " repeated");
            }
            skipSpace();
            if (peek() == ',') {
                pos++;
            } else if (peek() != '}') {
                throw new IllegalArgumentException("expected ',' or '}' at offset " + pos);
            }
        }
    }

    /** A list, or a tuple; as in Python, {@code (x)} without a comma is just x, not a tuple. */
    private Object sequence(char close) {
        List<Object> items = new ArrayList<>();
        boolean comma = false;
        pos++;
        while (true) {
            skipSpace();
            if (peek() == close) {
                pos++;
                return close == ')' && items.size() == 1 && !comma ? items.get(0) : items;
            }
            items.add(parse());
            skipSpace();
            if (peek() == ',') {
                pos++;
                comma = true;
            } else if (peek() != close) {
                throw new IllegalArgumentException("expected ',' or '" + close + "' at offset " + pos);
            }
        }
    }

    private String string() {
        char quote = s.charAt(pos++);
        StringBuilder sb = new StringBuilder();
        while (pos < s.length() && s.charAt(pos) != quote) {
            char c = s.charAt(pos++);
            if (c == '\\' && pos < s.length()) {
                c = s.charAt(pos++);
            }
            sb.append(c);
        }
        expect(quote);
        return sb.toString();
    }

    private Long integer() {
        int start = pos;
        if (peek() == '-') {
            pos++;
        }
        while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
            pos++;
        }
        String digits = s.substring(start, pos);
        // Python 2 era files write long integers with an L suffix.
        if (pos < s.length() && (s.charAt(pos) == 'L' || s.charAt(pos) == 'l')) {
            pos++;
        }
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad integer '" + digits + "'");
        }
    }

    private Object word() {
        int start = pos;
        while (pos < s.length() && Character.isLetter(s.charAt(pos))) {
            pos++;
        }
        String w = s.substring(start, pos);
        return switch (w) {
            case "True" -> Boolean.TRUE;
            case "False" -> Boolean.FALSE;
            case "None" -> "None";
            default -> throw new IllegalArgumentException("unexpected '" + (w.isEmpty() ? s.charAt(pos) : w)
                    + "' at offset " + start);
        };
    }

    private char peek() {
        if (pos >= s.length()) {
            throw new IllegalArgumentException("unexpected end");
        }
        return s.charAt(pos);
    }

    private void expect(char c) {
        if (pos >= s.length() || s.charAt(pos) != c) {
            throw new IllegalArgumentException("expected '" + c + "' at offset " + pos);
        }
        pos++;
    }

    private void skipSpace() {
        while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
            pos++;
        }
    }
}
