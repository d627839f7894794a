package dev.la2.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A NumPy array of float16, float32 or float64 in C order, read from and written to the .npy format
 * (versions 1.0, 2.0 and 3.0; https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 * Data is held as raw little-endian elements; reading maps the file rather than copying it.
 */
public final class NpyArray {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** NumPy pads the header so the data starts on a multiple of this (np.lib.format.ARRAY_ALIGN). */
    private static final int ALIGN = 64;
    private static final String SUPPORTED = "'<f2' (float16), '<f4' (float32) or '<f8' (float64)";
    /** np.lib.format.GROWTH_AXIS_MAX_DIGITS. */
    private static final int GROWTH_DIGITS = 21;
    private static final ValueLayout.OfShort F2 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F4 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F8 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The element types la2 reads and writes. */
    public enum Type {
        FLOAT16("<f2", 2),
        FLOAT32("<f4", 4),
        FLOAT64("<f8", 8);

        private final String descr;
        private final int byteSize;

        Type(String descr, int byteSize) {
            this.descr = descr;
            this.byteSize = byteSize;
        }

        /** The NumPy type string, for example "<f4". */
        public String descr() {
            return descr;
        }

        public int byteSize() {
            return byteSize;
        }
    }

    private final Type type;
    private final int[] shape;
    private final MemorySegment data;

    private NpyArray(Type type, int[] shape, MemorySegment data) {
        this.type = type;
        this.shape = shape;
        this.data = data;
    }

    public static NpyArray of(float[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 4, 8);
        MemorySegment.copy(values, 0, data, F4, 0, values.length);
        return new NpyArray(Type.FLOAT32, shape.clone(), data);
    }

    /** A float16 array of {@code values}, each rounded to the nearest float16 (ties to even). */
    public static NpyArray ofFloat16(float[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 2, 8);
        for (int i = 0; i < values.length; i++) {
            data.setAtIndex(F2, i, Float.floatToFloat16(values[i]));
        }
        return new NpyArray(Type.FLOAT16, shape.clone(), data);
    }

    public static NpyArray of(double[] values, int... shape) {
        checkCount(values.length, shape);
        MemorySegment data = Arena.ofAuto().allocate((long) values.length * 8, 8);
        MemorySegment.copy(values, 0, data, F8, 0, values.length);
        return new NpyArray(Type.FLOAT64, shape.clone(), data);
    }

    public Type type() {
        return type;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long elementCount() {
        return count(shape);
    }

    /** The raw elements, little-endian, read-only. */
    public MemorySegment data() {
        return data.asReadOnly();
    }

    public float[] toFloatArray() {
        int n = Math.toIntExact(elementCount());
        float[] out = new float[n];
        switch (type) {
            case FLOAT16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(data.getAtIndex(F2, i));
                }
            }
            case FLOAT32 -> MemorySegment.copy(data, F4, 0, out, 0, n);
            case FLOAT64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) data.getAtIndex(F8, i);
                }
            }
        }
        return out;
    }

    public double[] toDoubleArray() {
        int n = Math.toIntExact(elementCount());
        double[] out = new double[n];
        if (type == Type.FLOAT64) {
            MemorySegment.copy(data, F8, 0, out, 0, n);
        } else {
            float[] widened = toFloatArray();
            for (int i = 0; i < n; i++) {
                out[i] = widened[i];
            }
        }
        return out;
    }

    /** The shape as NumPy prints it: (2, 3) or (4,). */
    public String shapeString() {
        return tuple(shape);
    }

    @Override
    public String toString() {
        return type.descr() + " " + shapeString();
    }

    // ------------------------------------------------------------------ reading

    /**
     * Reads a .npy file.
     *
     * @throws NoSuchFileException if there is no such file
     * @throws NpyFormatException  if the file is not a C-ordered little-endian float16/32/64 array
     */
    public static NpyArray read(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new NpyFormatException(file + ": is a directory, not a .npy file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer preamble = readFully(ch, 0, (int) Math.min(12, size));
            byte[] magic = new byte[Math.min(MAGIC.length, preamble.remaining())];
            preamble.get(0, magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new NpyFormatException(file + ": not a NumPy .npy file (it does not start with \\x93NUMPY)");
            }
            if (size < 10) {
                throw new NpyFormatException(file + ": truncated .npy header (" + size + " bytes)");
            }
            int major = preamble.get(6) & 0xff;
            int minor = preamble.get(7) & 0xff;
            long headerLength;
            int headerStart;
            if (major == 1) {
                headerLength = preamble.order(ByteOrder.LITTLE_ENDIAN).getShort(8) & 0xffff;
                headerStart = 10;
            } else if (major == 2 || major == 3) {
                if (size < 12) {
                    throw new NpyFormatException(file + ": truncated .npy header (" + size + " bytes)");
                }
                headerLength = preamble.order(ByteOrder.LITTLE_ENDIAN).getInt(8) & 0xffffffffL;
                headerStart = 12;
            } else {
                throw new NpyFormatException(file + ": .npy format version " + major + "." + minor
                        + " is not supported; expected 1.0, 2.0 or 3.0");
            }
            if (minor != 0) {
                throw new NpyFormatException(file + ": .npy format version " + major + "." + minor
                        + " is not supported; expected 1.0, 2.0 or 3.0");
            }
            if (headerStart + headerLength > size) {
                throw new NpyFormatException(file + ": truncated .npy header (it declares " + headerLength
                        + " bytes, the file has " + (size - headerStart) + ")");
            }
            ByteBuffer headerBytes = readFully(ch, headerStart, (int) headerLength);
            byte[] raw = new byte[headerBytes.remaining()];
            headerBytes.get(raw);
            // Versions 1 and 2 are latin-1 (ASCII in practice); version 3 allows UTF-8 field names.
            String header = new String(raw, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            Header h = Header.parse(file, header);
            long count = count(h.shape());
            long dataStart = headerStart + headerLength;
            long expected = count * h.type().byteSize();
            long actual = size - dataStart;
            if (actual < expected) {
                throw new NpyFormatException(file + ": truncated data: shape " + tuple(h.shape()) + " of "
                        + h.type().descr() + " needs " + expected + " bytes, the file has " + actual);
            }
            if (actual > expected) {
                throw new NpyFormatException(file + ": " + (actual - expected) + " unexpected bytes after the data of shape "
                        + tuple(h.shape()) + " " + h.type().descr());
            }
            MemorySegment data = expected == 0 ? MemorySegment.ofArray(new byte[0])
                    : ch.map(FileChannel.MapMode.READ_ONLY, dataStart, expected, Arena.ofAuto());
            return new NpyArray(h.type(), h.shape(), data);
        }
    }

    private static ByteBuffer readFully(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length);
        while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) {
                break;
            }
        }
        return buf.flip();
    }

    private record Header(Type type, int[] shape) {

        /** Parses NumPy's header, a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
        static Header parse(Path file, String text) {
            Map<String, Object> dict;
            try {
                Object value = new Literal(text.strip()).parseWhole();
                if (!(value instanceof Map<?, ?> m)) {
                    throw new IllegalArgumentException("the header is not a dict");
                }
                dict = new LinkedHashMap<>();
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    dict.put(String.valueOf(e.getKey()), e.getValue());
                }
            } catch (IllegalArgumentException e) {
                throw new NpyFormatException(file + ": malformed .npy header (" + e.getMessage() + "): " + text.strip());
            }
            if (!dict.keySet().equals(java.util.Set.of("descr", "fortran_order", "shape"))) {
                throw new NpyFormatException(file + ": malformed .npy header: keys " + dict.keySet()
                        + "; expected descr, fortran_order and shape");
            }
            Object descr = dict.get("descr");
            if (!(descr instanceof String d)) {
                throw new NpyFormatException(file + ": structured or record dtypes are not supported (descr " + descr
                        + "); expected " + SUPPORTED);
            }
            Type type = switch (d) {
                case "<f2" -> Type.FLOAT16;
                case "<f4" -> Type.FLOAT32;
                case "<f8" -> Type.FLOAT64;
                case ">f2", ">f4", ">f8" -> throw new NpyFormatException(file + ": big-endian dtype '" + d
                        + "' is not supported; save it little-endian, e.g. a.astype('<" + d.substring(1) + "')");
                default -> throw new NpyFormatException(file + ": dtype '" + d + "' is not supported; expected " + SUPPORTED);
            };
            Object fortran = dict.get("fortran_order");
            if (!(fortran instanceof Boolean f)) {
                throw new NpyFormatException(file + ": malformed .npy header: fortran_order is " + fortran + "; expected True or False");
            }
            if (f) {
                throw new NpyFormatException(file + ": Fortran-ordered arrays are not supported; save a C-ordered copy"
                        + " (np.ascontiguousarray(a))");
            }
            if (!(dict.get("shape") instanceof List<?> dims)) {
                throw new NpyFormatException(file + ": malformed .npy header: shape is " + dict.get("shape") + "; expected a tuple");
            }
            int[] shape = new int[dims.size()];
            for (int i = 0; i < shape.length; i++) {
                if (!(dims.get(i) instanceof Long dim) || dim < 0 || dim > Integer.MAX_VALUE) {
                    throw new NpyFormatException(file + ": malformed .npy header: shape " + dims + " has extent " + dims.get(i));
                }
                shape[i] = (int) (long) dim;
            }
            long count = 1;
            for (int dim : shape) {
                count *= dim;
                if (count > Integer.MAX_VALUE - 8) {
                    throw new NpyFormatException(file + ": shape " + tuple(shape) + " has more than 2^31 elements");
                }
            }
            return new Header(type, shape);
        }
    }

    /**
     * The subset of Python literals NumPy writes in headers: dicts, tuples/lists, quoted strings,
     * integers, True, False and None.
     */
    private static final class Literal {
        private final String s;
        private int pos;

        Literal(String s) {
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
                case '{' -> dict();
                case '(' -> sequence(')');
                case '[' -> sequence(']');
                case '\'', '"' -> string();
                default -> {
                    if (c == '-' || Character.isDigit(c)) {
                        yield integer();
                    }
                    yield word();
                }
            };
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

        private List<Object> sequence(char close) {
            List<Object> items = new ArrayList<>();
            pos++;
            while (true) {
                skipSpace();
                if (peek() == close) {
                    pos++;
                    return items;
                }
                items.add(parse());
                skipSpace();
                if (peek() == ',') {
                    pos++;
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

    // ------------------------------------------------------------------ writing

    /** Writes the array as .npy version 1.0 (2.0 if the header needs more than 64 KiB). */
    public void write(Path file) throws IOException {
        String dict = "{'descr': '" + type.descr() + "', 'fortran_order': False, 'shape': " + tuple(shape) + ", }";
        if (shape.length > 0) {
            // As NumPy does: room for the first extent to grow to 21 digits without moving the data,
            // which also makes our files byte-identical to np.save's.
            dict += " ".repeat(Math.max(0, GROWTH_DIGITS - String.valueOf(shape[0]).length()));
        }
        boolean v2 = dict.length() + 1 + 10 > 0xffff;
        int preamble = v2 ? 12 : 10;
        int padded = (preamble + dict.length() + 1 + ALIGN - 1) / ALIGN * ALIGN;
        int headerLength = padded - preamble;
        ByteBuffer head = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).put((byte) (v2 ? 2 : 1)).put((byte) 0);
        if (v2) {
            head.putInt(headerLength);
        } else {
            head.putShort((short) headerLength);
        }
        head.put(dict.getBytes(StandardCharsets.ISO_8859_1));
        while (head.position() < padded - 1) {
            head.put((byte) ' ');
        }
        head.put((byte) '\n').flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (head.hasRemaining()) {
                ch.write(head);
            }
            ByteBuffer body = data.asByteBuffer();
            while (body.hasRemaining()) {
                ch.write(body);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static String tuple(int[] shape) {
        if (shape.length == 1) {
            return "(" + shape[0] + ",)";
        }
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return sb.append(')').toString();
    }

    private static long count(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    private static void checkCount(int length, int[] shape) {
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("shape: got " + Arrays.toString(shape) + "; expected extents >= 0");
            }
        }
        if (count(shape) != length) {
            throw new IllegalArgumentException("values: got " + length + " elements; expected " + count(shape)
                    + " for shape " + tuple(shape));
        }
    }
}
