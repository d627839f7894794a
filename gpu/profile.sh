#!/usr/bin/env bash
# Runs ON the GPU machine: Nsight Compute on one launch of a sweep kernel inside CudaBench (from
# la2-backend-cuda's test jar, staged in .gpu/lib by gpu/run-cuda.sh), plus the kernels' SASS.
# Usage: bash gpu/profile.sh [kernel regex] [CudaBench arguments...]
set -uo pipefail
OUT=${OUT:-/tmp/la2-out}; mkdir -p "$OUT"
kernel=${1:-la2_sweep_tc}; shift || true
tar xzf .gpu/jre.tgz -C /tmp
CP=$(ls .gpu/lib/*.jar | grep -v console-standalone | tr '\n' ':')
python3 -c "import zipfile,sys; open('/tmp/k.fatbin','wb').write(zipfile.ZipFile(sys.argv[1]).read('dev/la2/backend/cuda/la2_kernels.fatbin'))" .gpu/lib/la2-backend-cuda-0.1.0-SNAPSHOT.jar
cuobjdump -sass /tmp/k.fatbin > "$OUT/kernels.sass" 2>&1
ncu --clock-control none --kernel-name "regex:$kernel" --launch-skip 1 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section Occupancy \
    --section LaunchStats --section InstructionStats --section MemoryWorkloadAnalysis \
    /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$CP" \
    dev.la2.backend.cuda.CudaBench --log "$OUT/bench.log" "$@" > "$OUT/ncu.txt" 2>&1
grep -v "^==PROF==" "$OUT/ncu.txt" | grep -E "Duration|Throughput|Stall|Issue|Warp Cycles|Eligible|Active Warps|Registers|Shared Memory|Achieved|Executed Ipc|Block Limit|Theoretical|Busy|Mem|L1|Pipe|warp" | head -70
