#!/usr/bin/env bash
# Builds a small Java 25 runtime for a GPU machine that has no JDK of its own, as .gpu/jre.tgz in
# the repository root (git-ignored; about 28 MB). gpu/run-cuda.sh calls it when the file is missing.
# On the GPU machine:  tar xzf .gpu/jre.tgz -C /tmp && /tmp/jre/bin/java -version
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jdk=""
for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25*; do
  if [[ -n $cand && -x $cand/bin/jlink ]] && "$cand/bin/java" -version 2>&1 | grep -q '"25'; then jdk=$cand; break; fi
done
[[ -n $jdk ]] || { echo "make-jre: no JDK 25 with jlink found (set JAVA_HOME)" >&2; exit 1; }
mkdir -p "$root/.gpu"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# what la2, JUnit's console launcher and JMH need at run time, and the Vector API for the cpu backend
modules=java.base,java.logging,java.management,jdk.management,jdk.unsupported,java.xml,java.naming,java.sql,java.instrument,java.scripting,jdk.incubator.vector
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
  --compress=zip-9 --output "$tmp/jre" 2>&1 | grep -v 'incubator modules' || true
tar czf "$root/.gpu/jre.tgz" -C "$tmp" jre
echo "wrote .gpu/jre.tgz ($(du -h "$root/.gpu/jre.tgz" | cut -f1)) from $jdk"
