package dev.la2.cli;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The header of a .npy file: the element type and shape, parsed from and written as the Python
 * dict literal NumPy uses, for example {@code {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}.
 * Only C-ordered little-endian float16, float32 and float64 arrays are accepted.
 */
record NpyHeader(NpyArray.Type type, int[] shape) {
    private static final String SUPPORTED = "'<f2' (float16), '<f4' (float32) or '<f8' (float64)";
    private static final String SUPPORTED_INDICES = "'<i4' (int32) or '<i8' (int64)";
    /** np.lib.format.GROWTH_AXIS_MAX_DIGITS. */
    private static final int GROWTH_DIGITS = 21;
    /** How much of a malformed header a message quotes. */
    private static final int EXCERPT = 200;

    /** Parses NumPy's header, a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
    static NpyHeader parse(Path file, String text, boolean indices) {
        Map<String, Object> dict;
        try {
            Object value = new PythonLiteral(text.strip()).parseWhole();
            if (!(value instanceof Map<?, ?> m)) {
                throw new IllegalArgumentException("the header is not a dict");
            }
            dict = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                dict.put(String.valueOf(e.getKey()), e.getValue());
            }
        } catch (IllegalArgumentException e) {
            throw new NpyFormatException(file + ": malformed .npy header (" + e.getMessage() + "): " + excerpt(text.strip()));
        }
        if (!dict.keySet().equals(Set.of("descr", "fortran_order", "shape"))) {
            throw new NpyFormatException(file + ": malformed .npy header: keys " + dict.keySet()
                    + "; expected descr, fortran_order and shape");
        }
        Object descr = dict.get("descr");
        if (!(descr instanceof String d)) {
            throw new NpyFormatException(file + ": structured or record dtypes are not supported (descr " + descr
                    + "); expected " + SUPPORTED);
        }
        NpyArray.Type type = indices ? switch (d) {
            case "<i4" -> NpyArray.Type.INT32;
            case "<i8" -> NpyArray.Type.INT64;
            default -> throw new NpyFormatException(file + ": dtype '" + d + "' is not supported; expected " + SUPPORTED_INDICES);
        } : switch (d) {
            case "<f2" -> NpyArray.Type.FLOAT16;
            case "<f4" -> NpyArray.Type.FLOAT32;
            case "<f8" -> NpyArray.Type.FLOAT64;
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
        // An array with a zero extent is empty however large the others are.
        boolean empty = Arrays.stream(shape).anyMatch(dim -> dim == 0);
        long count = 1;
        for (int dim : shape) {
            count *= dim;
            if (count > Integer.MAX_VALUE - 8 && !empty) {
                throw new NpyFormatException(file + ": shape " + NpyArray.tuple(shape) + " has more than 2^31 elements");
            }
        }
        return new NpyHeader(type, shape);
    }

    /** The start of a header for a message: a damaged one may be 4 GiB of anything. */
    private static String excerpt(String text) {
        return text.length() <= EXCERPT ? text : text.substring(0, EXCERPT) + "... (" + text.length() + " characters)";
    }

    /** The dict as np.save writes it, before the padding that aligns the data. */
    String text() {
        String dict = "{'descr': '" + type.descr() + "', 'fortran_order': False, 'shape': " + NpyArray.tuple(shape) + ", }";
        if (shape.length > 0) {
            // As NumPy does: room for the first extent to grow to 21 digits without moving the data,
            // which also makes la2's files byte-identical to np.save's.
            dict += " ".repeat(Math.max(0, GROWTH_DIGITS - String.valueOf(shape[0]).length()));
        }
        return dict;
    }
}
