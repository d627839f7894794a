#!/usr/bin/env bash
# Run HERE (the machine without a GPU): builds the CUDA backend (nvcc compiles the kernels into a
# fatbin) and stages everything the GPU machine needs into .gpu/ (git-ignored):
#   .gpu/jre.tgz  a small Java 25 runtime (gpu/make-jre.sh)
#   .gpu/lib/     la2 jars (api, reference, cuda and cpu backends, the conformance kit, the la2
#                 command, the bench engine and sequence parallelism), the cuda backend's test jar
#                 (its GPU tests and CudaBench), la2-tests' and la2-parallel's test jars, JCuda
#                 and a slimmed linux-x86_64 natives jar, JUnit's console launcher, AssertJ,
#                 picocli, SLF4J and JMH's runner (never ND4J: its natives are hundreds of MB)
#   .gpu/kernel-lab  gpu/kernel-lab.cu built for sm_90 (kernel variants and ablations, no JVM)
#   .gpu/hopper-lab  gpu/hopper-lab.cu built for sm_90a (the wgmma forward against the wide sweep)
#   .gpu/decode-lab  gpu/decode-lab.cu built for sm_90 (the decode step against a simpler baseline kernel)
# Then copy the repository with .gpu/ to the GPU machine and run there, from its root:  bash gpu/on-device.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
JAVA_HOME=$(bash "$root/scripts/find-jdk.sh") || exit 2
export JAVA_HOME
m2=${M2_REPO:-$HOME/.m2/repository}
# dependency versions: the root pom's properties
prop() { sed -n "s|.*<$1>\(.*\)</$1>.*|\1|p" "$root/pom.xml" | head -1; }
jcuda_version=$(prop jcuda.version)
junit_version=$(prop junit.version)
# JUnit 5.x.y ships its platform (the console launcher) as 1.x.y
junit_platform_version=${junit_version:+1.${junit_version#5.}}
assertj_version=$(prop assertj.version)
picocli_version=$(prop picocli.version)
slf4j_version=$(prop slf4j.version)
jmh_version=$(prop jmh.version)
for v in jcuda_version junit_platform_version assertj_version picocli_version slf4j_version jmh_version; do
  [[ -n ${!v} ]] || { echo "run-cuda: no ${v%_version} version property in pom.xml" >&2; exit 1; }
done

[[ -f .gpu/jre.tgz ]] || bash "$root/gpu/make-jre.sh"

# The modules the GPU run uses, and what they need (tests ran on this machine already).
mvn=("$root/mvnw"); [[ -x ${mvn[0]} ]] || mvn=(mvn)
"${mvn[@]}" -q -B -DskipTests install -pl la2-backend-cuda,la2-backend-cpu,la2-tests,la2-bench,la2-cli,la2-parallel -am
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
v=0.1.0-SNAPSHOT
cp la2-backend-cuda/target/la2-backend-cuda-$v.jar la2-backend-cuda/target/la2-backend-cuda-$v-tests.jar \
   la2-backend-cpu/target/la2-backend-cpu-$v.jar la2-tests/target/la2-tests-$v.jar la2-tests/target/la2-tests-$v-tests.jar \
   la2-cli/target/la2-cli-$v.jar la2-bench/target/la2-bench-$v.jar \
   la2-parallel/target/la2-parallel-$v.jar la2-parallel/target/la2-parallel-$v-tests.jar .gpu/lib/
fetch org.jcuda jcuda $jcuda_version
fetch info.picocli picocli $picocli_version
fetch org.slf4j slf4j-api $slf4j_version
fetch org.slf4j slf4j-simple $slf4j_version
fetch org.junit.platform junit-platform-console-standalone $junit_platform_version
fetch org.assertj assertj-core $assertj_version
# JMH's runner for la2-bench's benchmarks (DecodeBenchmark on the GPU and the host cores)
fetch org.openjdk.jmh jmh-core $jmh_version
fetch net.sf.jopt-simple jopt-simple 5.0.4
fetch org.apache.commons commons-math3 3.6.1

# The natives jar carries NVRTC and the PTX compiler too (24 MB); the driver API needs only
# libJCudaDriver, and the carried tree is limited to 64 MiB.
natives="$m2/org/jcuda/jcuda-natives/$jcuda_version/jcuda-natives-$jcuda_version-linux-x86_64.jar"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && unzip -q "$natives" "lib/libJCudaDriver-$jcuda_version-linux-x86_64.so" "META-INF/MANIFEST.MF" \
  && zip -q -r "$root/.gpu/lib/jcuda-natives-$jcuda_version-linux-x86_64-driver-only.jar" META-INF lib)

# The kernel labs (gpu/kernel-lab.cu, gpu/decode-lab.cu): kernels timed and checked without the JVM.
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
"$nvcc_bin" -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o .gpu/kernel-lab gpu/kernel-lab.cu
"$nvcc_bin" -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o .gpu/decode-lab gpu/decode-lab.cu
# The Hopper lab (gpu/hopper-lab.cu): the sm_90a wgmma forward against the wide sweep.
"$nvcc_bin" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o .gpu/hopper-lab gpu/hopper-lab.cu

# The runtime and the jars travel on every run; each lab binary only with the step that runs it.
total=$(du -cb .gpu/jre.tgz .gpu/lib/* | tail -1 | cut -f1)
ls -la .gpu/lib
echo "staged $((total / 1048576)) MiB of runtime and jars in .gpu"
for lab in .gpu/kernel-lab .gpu/decode-lab .gpu/hopper-lab; do
  echo "  $lab: $(( $(stat -c %s "$lab") / 1048576 )) MiB, carried only for its step"
done
(( total < 48 * 1048576 )) || { echo "run-cuda: the runtime and jars are too large to carry" >&2; exit 1; }
