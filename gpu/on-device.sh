#!/usr/bin/env bash
# Runs ON the GPU machine (no JDK, no network), from the repository root, with .gpu/ carried:
#   nvidia-smi summary, the cuda backend's GPU tests (JUnit console), the conformance kit on
#   "cuda" if staged, then the benchmark. Full logs go to $OUT; a short table is printed last.
# Usage: bash gpu/on-device.sh [tests|bench|all] [extra CudaBench arguments...]
set -uo pipefail
what=${1:-all}; shift || true
OUT=${OUT:-/tmp/la2-out}; mkdir -p "$OUT"
tar xzf .gpu/jre.tgz -C /tmp
J=(/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -Xmx48g)
CP=$(ls .gpu/lib/*.jar | grep -v console-standalone | tr '\n' ':')
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv | tee "$OUT/nvidia-smi.txt"
status=0
if [[ $what == all || $what == tests ]]; then
  # Classes are named, not a package: package scanning needs the jar file system (jdk.zipfs),
  # which the small runtime leaves out.
  "${J[@]}" -jar .gpu/lib/junit-platform-console-standalone-*.jar execute --class-path "$CP" \
      --select-class dev.la2.backend.cuda.CudaProviderTest --select-class dev.la2.backend.cuda.CudaGpuTest --details=tree --disable-banner > "$OUT/tests.log" 2>&1 || status=1
  grep -E "✘|tests (successful|failed|skipped|aborted)|Exception" "$OUT/tests.log" | head -60
  grep -E "err " "$OUT/tests.log" | sort -k4 -g -r | head -5 || true
  if ls .gpu/lib/la2-tests-*.jar >/dev/null 2>&1; then
    "${J[@]}" -cp "$CP:$(ls .gpu/lib/junit-platform-console-standalone-*.jar)" dev.la2.backend.cuda.RunConformance cuda \
        > "$OUT/conformance.log" 2>&1 || status=1
    grep -v "^\s*$" "$OUT/conformance.log" | tail -25
  fi
fi
if [[ $what == all || $what == bench ]]; then
  "${J[@]}" -cp "$CP" dev.la2.backend.cuda.CudaBench --log "$OUT/bench.log" "$@" > "$OUT/bench.out" 2>&1 || status=1
  tail -45 "$OUT/bench.out"
fi
exit $status
