package dev.la2.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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

    private NpyFile() {
    }

    /** {@link NpyArray#read}: checks the framing and the data's length, then maps the data. */
    static NpyArray read(Path file, boolean indices) throws IOException {
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
            NpyHeader h = NpyHeader.parse(file, header, indices);
            long count = NpyArray.count(h.shape());
            long dataStart = headerStart + headerLength;
            long expected = count * h.type().byteSize();
            long actual = size - dataStart;
            if (actual < expected) {
                throw new NpyFormatException(file + ": truncated data: shape " + NpyArray.tuple(h.shape()) + " of "
                        + h.type().descr() + " needs " + expected + " bytes, the file has " + actual);
            }
            if (actual > expected) {
                throw new NpyFormatException(file + ": " + (actual - expected) + " unexpected bytes after the data of shape "
                        + NpyArray.tuple(h.shape()) + " " + h.type().descr());
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
