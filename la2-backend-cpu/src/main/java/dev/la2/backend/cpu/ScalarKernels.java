package dev.la2.backend.cpu;

/** Plain Java loops: the fallback when the Vector API is absent or switched off. */
final class ScalarKernels implements Kernels {
    private final String reason;

    ScalarKernels(String reason) {
        this.reason = reason;
    }

    @Override
    public void gemm(float[] a, int ao, int lda, float[] b, int bo, int ldb, float[] c, int co, int ldc,
                     int m, int n, int k, float beta, boolean accumulate, int shape) {
        for (int i = 0; i < m; i++) {
            int jlo = Kernels.colLo(shape, i), jhi = Kernels.colHi(shape, i, 1, n);
            int plo = Kernels.innerLo(shape, i), phi = Kernels.innerHi(shape, i, 1, k);
            int ci = co + i * ldc;
            if (accumulate) {
                if (beta != 1f) {
                    for (int j = jlo; j < jhi; j++) {
                        c[ci + j] *= beta;
                    }
                }
            } else {
                for (int j = jlo; j < jhi; j++) {
                    c[ci + j] = 0f;
                }
            }
            for (int p = plo; p < phi; p++) {
                float x = a[ao + i * lda + p];
                int bp = bo + p * ldb;
                for (int j = jlo; j < jhi; j++) {
                    c[ci + j] = Math.fma(x, b[bp + j], c[ci + j]);
                }
            }
        }
    }

    @Override
    public void transpose(float[] src, int rows, int cols, float[] dst, int ldd) {
        Rows.transpose(src, rows, cols, dst, ldd);
    }

    @Override
    public String describe() {
        return "scalar fallback: " + reason;
    }
}
