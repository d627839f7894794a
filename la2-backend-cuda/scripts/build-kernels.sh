#!/usr/bin/env bash
# Compiles the CUDA C kernels into one fatbin (sm_80 and sm_90a cubins plus compute_80 PTX) and
# writes la2_kernels.properties beside it (the CUDA version the driver must support).
# Usage: build-kernels.sh <cuda source dir> <output dir> [nvcc] [require kernels: true|false] [min driver CUDA version]
# Without nvcc a development build goes on without kernels (the provider then reports
# "kernels were not compiled"); with require kernels = true (a release build) it fails.
set -u
src=$1
out=$2
nvcc=${3:-nvcc}
require=${4:-false}
min_driver=${5:-13.0}
if ! command -v "$nvcc" >/dev/null 2>&1; then
  if [[ -x /usr/local/cuda/bin/nvcc ]]; then nvcc=/usr/local/cuda/bin/nvcc; else
    if [[ $require == true ]]; then
      echo "la2-backend-cuda: nvcc not found, and this build requires the kernels (la2.requireKernels=true); install the CUDA toolkit or pass -Dla2.nvcc=/path/to/nvcc" >&2
      exit 1
    fi
    echo "la2-backend-cuda: nvcc not found; development build without kernels (the cuda backend will report itself unavailable; a release build, -Dla2.requireKernels=true, fails here)"
    exit 0
  fi
fi
# Binaries of one toolkit major version need a driver of that major version or newer: a newer
# nvcc than the stated minimum would make the jar claim too old a driver.
release=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
if [[ -n $release ]] && (( ${release%%.*} > ${min_driver%%.*} )); then
  echo "la2-backend-cuda: nvcc $release makes kernels that need a driver for CUDA ${release%%.*}.0, but la2.cuda.minDriver states $min_driver" >&2
  exit 1
fi
mkdir -p "$out"
target="$out/la2_kernels.fatbin"
printf 'minDriver=%s\nnvcc=%s\n' "$min_driver" "$release" > "$out/la2_kernels.properties"
# Rebuild only when a source is newer than the fatbin: nvcc takes a while and the machine is shared.
if [[ -f $target ]] && [[ -z $(find "$src" -newer "$target" \( -name '*.cu' -o -name '*.cuh' \) 2>/dev/null) ]]; then
  exit 0
fi
tmp="$target.tmp"
# Compute capability 9.0 runs the sm_90a cubin: the Hopper sweep's warpgroup products exist only
# there, and a fatbin with both an sm_90 and an sm_90a cubin would leave the choice between them to
# the driver. sm_90a is sm_90 plus those instructions, so the other kernels are the same code. Later
# devices compile the compute_80 PTX, the sm_80 cubin's own front-end output (one compilation
# serves both; the Hopper sweeps trap outside sm_90a either way).
# --threads 0: the two targets compile side by side on every core
if "$nvcc" -fatbin -O3 -std=c++17 --threads 0 \
    -gencode "arch=compute_80,code=[sm_80,compute_80]" \
    -gencode arch=compute_90a,code=sm_90a \
    -o "$tmp" "$src"/la2_kernels.cu; then
  mv "$tmp" "$target"
  echo "la2-backend-cuda: compiled $(basename "$target") ($(stat -c %s "$target") bytes) with $("$nvcc" --version | tail -1)"
else
  rm -f "$tmp" "$target"
  # nvcc is here but the sources do not compile: that is a bug to see, not to hide.
  echo "la2-backend-cuda: nvcc failed on $src/la2_kernels.cu" >&2
  exit 1
fi
exit 0
