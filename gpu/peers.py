# Runs ON the GPU machine: flash-linear-attention's chunked kernel (fla 0.5.2, chunk_simple_gla
# with g_gamma = -slope and scale 1: la2's function) on the shapes of docs/BENCHMARKS.md, so la2's
# figures have a baseline measured on the same card in the same run. bf16, [B, T, H, D]
# inputs resident on the GPU, triton.testing.do_bench medians (warm-up 50 ms, repetitions 200 ms);
# fwd+bwd is a forward plus a backward with a random dO. Prints one line per shape and mode.
# Usage (fla's wheels carried as .whl/, see docs/GPU.md):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site python3 gpu/peers.py
import math

import torch
import triton
from fla.ops.simple_gla import chunk_simple_gla


def slopes(h):
    # ALiBi slopes, la2's default decay rates (DecaySlopes): 2^(-8 (i + 1) / h)
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / h) for i in range(h)], device="cuda", dtype=torch.float32)


def bench(b, h, n, d):
    torch.manual_seed(0)
    q = (torch.randn(b, n, h, d, device="cuda") / math.sqrt(d)).bfloat16().requires_grad_()
    k = (torch.randn(b, n, h, d, device="cuda") / math.sqrt(d)).bfloat16().requires_grad_()
    v = torch.randn(b, n, h, d, device="cuda").bfloat16().requires_grad_()
    do = torch.randn(b, n, h, d, device="cuda").bfloat16()
    g = -slopes(h)

    def fwd():
        with torch.no_grad():
            return chunk_simple_gla(q, k, v, g_gamma=g, scale=1.0)[0]

    def fwdbwd():
        o = chunk_simple_gla(q, k, v, g_gamma=g, scale=1.0)[0]
        o.backward(do)

    for name, fn in (("fwd", fwd), ("fwd+bwd", fwdbwd)):
        torch.cuda.reset_peak_memory_stats()
        ms = triton.testing.do_bench(fn, warmup=50, rep=200, return_mode="median")
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f"fla chunk_simple_gla bf16 B={b} H={h} N={n} D=E={d} {name}: {ms:.3f} ms (peak {peak:.2f} GiB)", flush=True)


if __name__ == "__main__":
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "triton", triton.__version__, flush=True)
    bench(4, 32, 32768, 128)
    bench(1, 16, 131072, 128)
