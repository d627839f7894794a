package dev.la2.cli;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * The .npy file layout (versions 1.0, 2.0 and 3.0;
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): magic, version, header
 * length, the header padded so the data starts aligned, then the raw elements. Reading maps the
 * data rather than copying it.
 */
final class NpyFile {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** NumPy pads the header so the data starts on a multiple of this (np.lib.format.ARRAY_ALIGN). */
    private static final int ALIGN = 64;
    /** The most bytes one Java array holds, and so the most read from a pipe or taken as a header. */
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private NpyFile() {
    }

    /**
     * {@link NpyArray#read}: checks the framing and the data's length, then maps the data. A pipe
     * or device (a shell's {@code <(...)}) has no size and cannot be mapped: it is read through,
     * the data copied, and refused where the array is larger than one Java array can hold.
     */
    static NpyArray read(Path file, boolean indices) throws IOException {
        if (Files.isDirectory(file)) {
            throw new NpyFormatException(file + ": is a directory, not a .npy file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            boolean regular = Files.isRegularFile(file);
            InputStream in = Channels.newInputStream(ch);
            byte[] preamble = in.readNBytes(10);
            if (!Arrays.equals(preamble, 0, Math.min(MAGIC.length, preamble.length), MAGIC, 0, MAGIC.length)) {
                throw new NpyFormatException(file + ": not a NumPy .npy file (it does not start with \\x93NUMPY)");
            }
            if (preamble.length < 10) {
                throw new NpyFormatException(file + ": truncated .npy header (" + preamble.length + " bytes)");
            }
            int major = preamble[6] & 0xff;
            int minor = preamble[7] & 0xff;
            if (major < 1 || major > 3 || minor != 0) {
                throw new NpyFormatException(file + ": .npy format version " + major + "." + minor
                        + " is not supported; expected 1.0, 2.0 or 3.0");
            }
            long headerLength;
            int headerStart;
            if (major == 1) {
                headerLength = ByteBuffer.wrap(preamble).order(ByteOrder.LITTLE_ENDIAN).getShort(8) & 0xffff;
                headerStart = 10;
            } else {
                byte[] wide = Arrays.copyOf(preamble, 12);
                int more = in.readNBytes(wide, 10, 2);
                if (more < 2) {
                    throw new NpyFormatException(file + ": truncated .npy header (" + (10 + more) + " bytes)");
                }
                headerLength = ByteBuffer.wrap(wide).order(ByteOrder.LITTLE_ENDIAN).getInt(8) & 0xffffffffL;
                headerStart = 12;
            }
            long available = regular ? ch.size() - headerStart : Long.MAX_VALUE;
            if (headerLength > available || headerLength > MAX_ARRAY) {
                throw new NpyFormatException(file + ": truncated .npy header (it declares " + headerLength
                        + " bytes, the file has " + (regular ? available : "fewer") + ")");
            }
            byte[] raw = in.readNBytes((int) headerLength);
            if (raw.length < headerLength) {
                throw new NpyFormatException(file + ": truncated .npy header (it declares " + headerLength
                        + " bytes, the file has " + raw.length + ")");
            }
            // Versions 1 and 2 are latin-1 (ASCII in practice); version 3 allows UTF-8 field names.
            String header = new String(raw, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            NpyHeader h = NpyHeader.parse(file, header, indices);
            long expected = NpyArray.count(h.shape()) * h.type().byteSize();
            MemorySegment data = regular ? mapped(file, ch, h, headerStart + headerLength, expected)
                    : streamed(file, in, h, expected);
            return new NpyArray(h.type(), h.shape(), data);
        }
    }

    /** The data of a regular file, mapped, once its length is checked against the header's shape. */
    private static MemorySegment mapped(Path file, FileChannel ch, NpyHeader h, long dataStart, long expected)
            throws IOException {
        long actual = ch.size() - dataStart;
        if (actual < expected) {
            throw truncatedData(file, h, expected, actual);
        }
        if (actual > expected) {
            throw new NpyFormatException(file + ": " + (actual - expected) + " unexpected bytes after the data of shape "
                    + NpyArray.tuple(h.shape()) + " " + h.type().descr());
        }
        return expected == 0 ? MemorySegment.ofArray(new byte[0])
                : ch.map(FileChannel.MapMode.READ_ONLY, dataStart, expected, Arena.ofAuto());
    }

    /** The data of a pipe or device, read to its end and copied off the heap as mapped data would be. */
    private static MemorySegment streamed(Path file, InputStream in, NpyHeader h, long expected) throws IOException {
        if (expected > MAX_ARRAY) {
            throw new NpyFormatException(file + ": shape " + NpyArray.tuple(h.shape()) + " of " + h.type().descr()
                    + " needs " + expected + " bytes, more than la2 reads from a pipe; save the array to a file");
        }
        byte[] bytes = in.readNBytes((int) expected);
        if (bytes.length < expected) {
            throw truncatedData(file, h, expected, bytes.length);
        }
        if (in.read() >= 0) {
            throw new NpyFormatException(file + ": unexpected bytes after the data of shape " + NpyArray.tuple(h.shape())
                    + " " + h.type().descr());
        }
        MemorySegment data = Arena.ofAuto().allocate(Math.max(1, expected), 8).asSlice(0, expected);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, data, 0, expected);
        return data;
    }

    private static NpyFormatException truncatedData(Path file, NpyHeader h, long expected, long actual) {
        return new NpyFormatException(file + ": truncated data: shape " + NpyArray.tuple(h.shape()) + " of "
                + h.type().descr() + " needs " + expected + " bytes, the file has " + actual);
    }

    /** {@link NpyArray#write}: version 1.0, or 2.0 where the header needs more than 64 KiB. */
    static void write(Path file, NpyArray array) throws IOException {
        String dict = new NpyHeader(array.type(), array.shape()).text();
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
            ByteBuffer body = array.data().asByteBuffer();
            while (body.hasRemaining()) {
                ch.write(body);
            }
        }
    }
}
