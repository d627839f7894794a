/**
 * la2's CUDA backend: provider "cuda" for NVIDIA GPUs of compute capability 8.0 or newer.
 * JCuda is an automatic module (its jar declares no module name, so it is "jcuda").
 */
module dev.la2.backend.cuda {
    requires dev.la2.api;
    requires jcuda;

    provides dev.la2.spi.BackendProvider with dev.la2.backend.cuda.CudaProvider;
}
