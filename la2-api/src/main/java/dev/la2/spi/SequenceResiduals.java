package dev.la2.spi;

/** What the per-sequence default of a packed forward kept: one backend's residuals per sequence (null entries allowed). */
record SequenceResiduals(Residuals[] parts) implements Residuals {

    Residuals part(int i) {
        return parts[i];
    }

    @Override
    public long byteSize() {
        long bytes = 0;
        for (Residuals r : parts) {
            bytes += r == null ? 0 : r.byteSize();
        }
        return bytes;
    }

    @Override
    public void close() {
        for (Residuals r : parts) {
            if (r != null) {
                r.close();
            }
        }
    }
}
