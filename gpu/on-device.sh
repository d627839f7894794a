#!/usr/bin/env bash
# Runs ON the GPU machine (no JDK, no network), from the repository root, with .gpu/ carried
# (staged by gpu/run-cuda.sh). One call does the whole check:
#   tests: `la2 check --backend cuda` (the conformance kit, every dtype and precision), the cuda
#          backend's own GPU tests, and the reliability suite on cuda
#   bench: CudaBench (in the cuda backend's test jar: device-resident inputs, every dtype, vs the
#          anchors) and `la2 bench --backend cuda` (the project's benchmark command, JSON rows),
#          B=4 H=32 D=E=128
#   cpu:   `la2 bench --backend cpu` on this machine's CPU cores, B=1 H=8 D=E=128
#   decode: JMH DecodeBenchmark (one decode step of B x 8 sequences, D=E=128) on cuda and on the
#          host cores with its state-copy floor, B = 1, 16, 128 (run only when named)
#   lab:   .gpu/kernel-lab (the sweep kernels alone, checked against the fp32-FMA sweep) at N=2048
#          and 32768 (run only when named)
#   hopper-lab: .gpu/hopper-lab (the sm_90a Hopper sweep against the wide sweep: every pass the
#          planner routes to it, the forward's variants, agreement and times; run only when named;
#          LA2_HOPPER_LAB_ARGS selects sections and variants, see gpu/hopper-lab.cu)
#   parallel: la2-parallel's NcclGpuTest, one rank through NCCL on cuda against a plain call, and
#          InProcessGpuTest, P = 2, 3 and 5 ranks on threads sharing the GPU, with
#          NVLink multicast off (run only when named; libnccl.so.2 from LA2_NCCL_LIBRARY, else the
#          first one found under /usr, /opt, /root and /home)
#   decode-lab: .gpu/decode-lab (the decode step's kernel against a simpler baseline kernel, S = 1..256
#          sequences x 32 heads, D = E = 128; run only when named)
#   sanitize: `la2 check --backend cuda` and the cuda GPU tests under compute-sanitizer's memcheck,
#          which reports every out-of-bounds or misaligned device access of every kernel they run
#          (writes past an output's end included, which the kit's comparisons cannot see on device
#          memory), and the kit under synccheck (barriers); run only when named
# Logs go to $OUT/la2-gpu-logs.tgz (OUT defaults to /tmp/la2-out); summaries are printed.
# Usage: bash gpu/on-device.sh [all|tests|bench|cpu|decode|lab|hopper-lab|decode-lab|parallel|sanitize] [extra CudaBench arguments...]
set -uo pipefail
what=${1:-all}; shift || true
OUT=${OUT:-/tmp/la2-out}; mkdir -p "$OUT"
logs=/tmp/la2-logs; rm -rf "$logs"; mkdir -p "$logs"
tar xzf .gpu/jre.tgz -C /tmp
J=(/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -Xmx64g)
LIB=$(ls .gpu/lib/*.jar | grep -v console-standalone | tr '\n' ':')
CONSOLE=$(ls .gpu/lib/junit-platform-console-standalone-*.jar)
# `la2 check` runs the kit through the JUnit Platform, which the console launcher's jar carries.
LA2=("${J[@]}" -cp "$LIB:$CONSOLE" dev.la2.cli.La2Cli)
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
status=0
trap 'tar czf "$OUT/la2-gpu-logs.tgz" -C "$logs" . 2>/dev/null' EXIT

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv \
  | tee "$logs/nvidia-smi.txt"
nproc | sed 's/^/host cores: /'

if [[ $what == all || $what == tests ]]; then
  step "la2 check --backend cuda"
  timeout 300 "${LA2[@]}" check --backend cuda > "$logs/check-cuda.log" 2>&1 || status=1
  grep -E "^FAILED|passed, " "$logs/check-cuda.log" | tail -8

  step "cuda backend GPU tests"
  # Classes are named, not a package: package scanning needs the jar file system (jdk.zipfs),
  # which the small runtime leaves out.
  timeout 300 "${J[@]}" -jar "$CONSOLE" execute --class-path "$LIB" --details=tree --disable-banner \
      --select-class dev.la2.backend.cuda.CudaProviderTest --select-class dev.la2.backend.cuda.CudaGpuTest --select-class dev.la2.backend.cuda.CudaPackedTest \
      --select-class dev.la2.backend.cuda.CudaFusedBackwardTest --select-class dev.la2.backend.cuda.CudaHopperDecayTest \
      --select-class dev.la2.backend.cuda.CudaHopperTf32Test > "$logs/cuda-tests.log" 2>&1 || status=1
  grep -E "✘|tests (successful|failed|skipped|aborted)" "$logs/cuda-tests.log" | head -30

  step "reliability suite on cuda"
  timeout 420 "${J[@]}" -Dla2.reliability.backends=cuda -jar "$CONSOLE" execute --class-path "$LIB" \
      --details=tree --disable-banner \
      --select-class dev.la2.reliability.BadInputPropertyTest --select-class dev.la2.reliability.ConcurrencyTest \
      --select-class dev.la2.reliability.MemoryTest --select-class dev.la2.reliability.LongSequenceTest \
      --select-class dev.la2.reliability.DeterminismTest --select-class dev.la2.reliability.AllocationFailureTest \
      --select-class dev.la2.reliability.LowPrecisionTrainingTest \
      > "$logs/reliability-cuda.log" 2>&1 || status=1
  grep -E "✘|bad input on|concurrency on|memory on|N=1e6 on|determinism|16-bit training on|tests (successful|failed|skipped|aborted)" "$logs/reliability-cuda.log" | head -30
fi

if [[ $what == all || $what == bench ]]; then
  # clocks, power and throttle reasons every half second while the benchmarks run
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active \
      --format=csv -lms 500 > "$logs/smi-bench.csv" 2>&1 &
  smi=$!
  step "CudaBench (device-resident inputs filled on the GPU)"
  # dev.la2.backend.cuda.CudaBench lives in la2-backend-cuda's test jar, which $LIB carries
  timeout 420 "${J[@]}" -cp "$LIB" dev.la2.backend.cuda.CudaBench --log "$logs/cudabench.log" "$@" \
      > "$logs/cudabench.out" 2>&1 || status=1
  tail -30 "$logs/cudabench.out"

  for cfg in "bf16 strict fwd" "bf16 strict fwdbwd" "fp32 tf32 fwd" "fp32 tf32 fwdbwd" "fp32 tf32x3 fwd"; do
    read -r dtype precision mode <<< "$cfg"
    step "la2 bench --backend cuda --dtype $dtype --precision $precision --mode $mode"
    timeout 240 "${LA2[@]}" bench --backend cuda --b 4 --h 32 --d 128 --e 128 \
        --n 2048,8192,32768,65536 --dtype "$dtype" --precision "$precision" --mode "$mode" --warmup 3 --repeats 10 \
        --bandwidth 4260 --json "$logs/bench-cuda-$dtype-$precision-$mode.json" > "$logs/bench-cuda-$dtype-$precision-$mode.log" 2>&1 || status=1
    grep -vE "^la2 bench: |^\s*$" "$logs/bench-cuda-$dtype-$precision-$mode.log" | tail -7
  done
  kill $smi 2>/dev/null
  # busy samples only (power above 200 W); reasons are nvidia-smi's clocks_event_reasons bit masks
  awk -F', ' 'NR > 1 && $3 + 0 > 200 { n++; c += $2; p += $3; r[$5]++ }
      END { if (n) { printf "\nbusy samples %d: SM clock mean %.0f MHz, power mean %.0f W; reasons:", n, c / n, p / n
                     for (k in r) printf " %s x%d", k, r[k]; print "" } }' "$logs/smi-bench.csv"
fi

if [[ $what == all || $what == cpu ]]; then
  # fwdbwd twice: the forward keeping its block states (the default), and the backward rebuilding them.
  for run in fwd fwdbwd fwdbwd-recompute; do
    mode=${run%%-*}; keep=--keep-states; [[ $run == *-recompute ]] && keep=--no-keep-states
    step "la2 bench --backend cpu --mode $mode $keep ($(nproc) host cores)"
    timeout 240 "${LA2[@]}" bench --backend cpu --b 1 --h 8 --d 128 --e 128 \
        --n 1024,4096,16384,65536 --dtype fp32 --mode "$mode" "$keep" --warmup 2 --repeats 7 \
        --json "$logs/bench-cpu16-$run.json" > "$logs/bench-cpu16-$run.log" 2>&1 || status=1
    grep -vE "^la2 bench: |^\s*$" "$logs/bench-cpu16-$run.log" | tail -7
  done
fi
if [[ $what == decode ]]; then
  for backend in cuda cpu; do
    step "JMH DecodeBenchmark on $backend"
    filter=DecodeBenchmark; [[ $backend == cuda ]] && filter='DecodeBenchmark.decodeStep'
    timeout 280 "${J[@]}" -cp "$LIB" org.openjdk.jmh.Main "$filter" -p backend=$backend -p b=1,16,128 \
        -rf json -rff "$logs/jmh-decode-$backend.json" > "$logs/jmh-decode-$backend.log" 2>&1 || status=1
    grep -E "^Benchmark|DecodeBenchmark\.[a-zA-Z]+ " "$logs/jmh-decode-$backend.log" | tail -8
  done
fi
if [[ $what == lab ]]; then
  for n in 2048 32768; do
    step "kernel-lab N=$n"
    .gpu/kernel-lab "$n" 4 32 2>&1 | tee "$logs/kernel-lab-$n.log" || status=1
  done
fi
if [[ $what == hopper-lab ]]; then
  step "hopper-lab"
  if command -v cuobjdump >/dev/null; then
    echo "HGMMA instructions in .gpu/hopper-lab: $(cuobjdump -sass .gpu/hopper-lab | grep -c HGMMA)"
  fi
  # shellcheck disable=SC2086 # the arguments are words
  timeout 300 .gpu/hopper-lab ${LA2_HOPPER_LAB_ARGS:-} 2>&1 | tee "$logs/hopper-lab.log"
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
fi
if [[ $what == parallel ]]; then
  step "sequence parallelism through NCCL (NcclGpuTest)"
  nccl=${LA2_NCCL_LIBRARY:-$(find /usr /opt /root /home -name libnccl.so.2 2>/dev/null | head -1)}
  echo "libnccl.so.2: ${nccl:-not found (the test reports itself skipped)}"
  NCCL_NVLS_ENABLE=0 timeout 300 "${J[@]}" ${nccl:+-Dla2.nccl.library=$nccl} -jar "$CONSOLE" execute --class-path "$LIB" \
      --details=tree --disable-banner --select-class dev.la2.parallel.NcclGpuTest --select-class dev.la2.parallel.InProcessGpuTest \
      > "$logs/parallel.log" 2>&1 || status=1
  grep -E "✘|↷|Assumption failed|tests (successful|failed|skipped|aborted)" "$logs/parallel.log" | head -20
fi
if [[ $what == decode-lab ]]; then
  step "decode-lab"
  .gpu/decode-lab 2>&1 | tee "$logs/decode-lab.log" || status=1
fi
if [[ $what == sanitize ]]; then
  # --error-exitcode: any error fails the step; leak checking is left to the backend's own tests (the
  # JVM frees device memory through Cleaners, after the process's last kernel)
  san=(compute-sanitizer --error-exitcode 3 --print-limit 30 --report-api-errors no)
  step "la2 check --backend cuda under compute-sanitizer memcheck"
  timeout 300 "${san[@]}" --tool memcheck "${LA2[@]}" check --backend cuda > "$logs/sanitize-memcheck-kit.log" 2>&1 || status=1
  step "cuda backend GPU tests under memcheck"
  timeout 400 "${san[@]}" --tool memcheck "${J[@]}" -jar "$CONSOLE" execute --class-path "$LIB" --details=tree --disable-banner \
      --select-class dev.la2.backend.cuda.CudaGpuTest --select-class dev.la2.backend.cuda.CudaPackedTest --select-class dev.la2.backend.cuda.CudaFusedBackwardTest \
      --select-class dev.la2.backend.cuda.CudaHopperDecayTest --select-class dev.la2.backend.cuda.CudaHopperTf32Test \
      > "$logs/sanitize-memcheck-gpu-tests.log" 2>&1 || status=1
  step "la2 check --backend cuda under compute-sanitizer synccheck (barriers)"
  timeout 300 "${san[@]}" --tool synccheck "${LA2[@]}" check --backend cuda > "$logs/sanitize-synccheck-kit.log" 2>&1 || status=1
  for f in "$logs"/sanitize-*.log; do
    echo "-- $(basename "$f")"
    grep -E "^FAILED|passed, |tests (successful|failed)|Invalid|out of bounds|misaligned|Barrier|ERROR SUMMARY|========= +at " "$f" | head -30
  done
fi
exit $status
