#!/usr/bin/env bash
# Run HERE (the machine without a GPU): builds the CUDA backend (nvcc compiles the kernels into a
# fatbin) and stages everything the GPU machine needs into .gpu/ (git-ignored):
#   .gpu/jre.tgz  a small Java 25 runtime (../shared/gpu/make-jre.sh)
#   .gpu/lib/     la2 jars, the cuda backend's test jar, the conformance kit if built, JCuda and a
#                 slimmed linux-x86_64 natives jar, JUnit's console launcher, AssertJ (never ND4J)
# Then, with the device tool:  run(command="bash gpu/on-device.sh", carry=[".gpu"], timeout_s=600)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
m2=${M2_REPO:-$HOME/.m2/repository}
jcuda_version=12.6.0
junit_platform_version=1.13.4
assertj_version=3.27.3

[[ -f .gpu/jre.tgz ]] || bash "${LA2_SHARED:-$root/../shared}/gpu/make-jre.sh"

# Only this module is built: la2-api and la2-reference come from ~/.m2 (installed by their owner).
mvn -q -B -f la2-backend-cuda install -DskipTests
[[ -f la2-backend-cuda/target/classes/dev/la2/backend/cuda/la2_kernels.fatbin ]] \
  || { echo "run-cuda: no fatbin was built (is nvcc installed?)" >&2; exit 1; }

fetch() { # groupId artifactId version [classifier]
  local g=${1//.//} a=$2 v=$3 c=${4:+-$4}
  local f="$m2/$g/$a/$v/$a-$v$c.jar"
  if [[ ! -f $f ]]; then
    mvn -q -B dependency:get -Dartifact="$1:$a:$v:jar${4:+:$4}" -Dtransitive=false >/dev/null
  fi
  cp "$f" .gpu/lib/
}

rm -rf .gpu/lib && mkdir -p .gpu/lib
cp la2-api/target/la2-api-*-SNAPSHOT.jar la2-reference/target/la2-reference-*-SNAPSHOT.jar .gpu/lib/ 2>/dev/null || {
  fetch dev.la2 la2-api 0.1.0-SNAPSHOT; fetch dev.la2 la2-reference 0.1.0-SNAPSHOT; }
cp la2-backend-cuda/target/la2-backend-cuda-0.1.0-SNAPSHOT.jar la2-backend-cuda/target/la2-backend-cuda-0.1.0-SNAPSHOT-tests.jar .gpu/lib/
for j in la2-tests/target/la2-tests-*-SNAPSHOT.jar; do
  [[ -f $j && $j != *-tests.jar && $j != *-sources.jar ]] && cp "$j" .gpu/lib/ && echo "staged conformance kit $(basename "$j")"
done
fetch org.jcuda jcuda $jcuda_version
fetch org.junit.platform junit-platform-console-standalone $junit_platform_version
fetch org.assertj assertj-core $assertj_version

# The natives jar carries NVRTC and the PTX compiler too (24 MB); the driver API needs only
# libJCudaDriver, and the carried tree is limited to 64 MiB.
natives="$m2/org/jcuda/jcuda-natives/$jcuda_version/jcuda-natives-$jcuda_version-linux-x86_64.jar"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && unzip -q "$natives" "lib/libJCudaDriver-$jcuda_version-linux-x86_64.so" "META-INF/MANIFEST.MF" \
  && zip -q -r "$root/.gpu/lib/jcuda-natives-$jcuda_version-linux-x86_64-driver-only.jar" META-INF lib)

total=$(du -cb .gpu/jre.tgz .gpu/lib/* | tail -1 | cut -f1)
ls -la .gpu/lib
echo "staged $((total / 1048576)) MiB in .gpu (limit 64 MiB with the working tree)"
(( total < 60 * 1048576 )) || { echo "run-cuda: .gpu is too large to carry" >&2; exit 1; }
