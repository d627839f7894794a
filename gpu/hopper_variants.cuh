// Variants of the Hopper sweep that gpu/hopper-lab.cu checks against the wide sweep and times
// beside the backend's la2_sweep_hopper_bf16_d128 (forward, bf16, Dk = Dv = 128).
#pragma once

#include <vector>

#include "../la2-backend-cuda/src/main/cuda/sweep_hopper.cuh"

// A sweep entry point and its launch shape.
struct LabKernel {
    const char* name;
    const void* fn;
    int threads, smem;
};

static std::vector<LabKernel> hopperVariants() { return {}; }
