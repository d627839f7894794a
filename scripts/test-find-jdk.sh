#!/usr/bin/env bash
# Tests scripts/find-jdk.sh on fake JDKs (shell scripts that answer -version like a real java),
# with a fake HOME, PATH and system root. Run by the build (root pom, phase test) and by hand.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# fake_jdk DIR VERSION [jre]: a java that prints VERSION the way `java -version` does and its
# java.home the way -XshowSettings:properties does, and a javac unless it is a JRE.
fake_jdk() {
  mkdir -p "$1/bin"
  cat > "$1/bin/java" <<JAVA
#!/bin/sh
echo 'openjdk version "$2" 2026-01-20' >&2
case "\$1" in -XshowSettings*) echo "    java.home = $1" >&2 ;; esac
JAVA
  chmod +x "$1/bin/java"
  if [[ ${3:-} != jre ]]; then printf '#!/bin/sh\n' > "$1/bin/javac"; chmod +x "$1/bin/javac"; fi
}

sysroot=$tmp/sys
home=$tmp/home
empty=$tmp/empty-bin
mkdir -p "$sysroot" "$home" "$empty"
# Only the tools the script itself needs, so that the machine's own java stays out of the PATH.
for tool in bash sh sed sort head mktemp; do ln -s "$(command -v "$tool")" "$empty/$tool"; done

# check NAME EXPECTED_HOME|exit2 [VAR=VALUE...]: runs find-jdk.sh with a clean environment.
check() {
  local name=$1 want=$2 out rc
  shift 2
  out=$(env -i HOME="$home" PATH="$empty" LA2_FIND_JDK_SYSROOT="$sysroot" "$@" \
        bash "$here/find-jdk.sh" 2>"$tmp/stderr")
  rc=$?
  if [[ $want == exit2 ]]; then
    if [[ $rc == 2 && -z $out && $(wc -l < "$tmp/stderr") == 1 ]] && grep -q 'adoptium.net' "$tmp/stderr"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); echo "FAIL $name: rc=$rc out='$out' stderr='$(cat "$tmp/stderr")'"
    fi
  elif [[ $rc == 0 && $out == "$want" ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL $name: rc=$rc out='$out' (wanted $want) stderr='$(cat "$tmp/stderr")'"
  fi
}

check "no JDK anywhere" exit2

fake_jdk "$tmp/jdk8" 1.8.0_412
fake_jdk "$tmp/jdk17" 17.0.15
fake_jdk "$tmp/jre25" 25.0.1 jre
check "JAVA_HOME too old, no other JDK" exit2 JAVA_HOME="$tmp/jdk17"
check "a JDK 8 version string" exit2 JAVA_HOME="$tmp/jdk8"
check "a JRE 25 has no javac" exit2 JAVA_HOME="$tmp/jre25"

fake_jdk "$tmp/jdk25" 25.0.1
check "JAVA_HOME is a JDK 25" "$tmp/jdk25" JAVA_HOME="$tmp/jdk25"

fake_jdk "$tmp/path-jdk" 26-ea
mkdir -p "$tmp/path-bin"
ln -s "$tmp/path-jdk/bin/java" "$tmp/path-bin/java"
check "java on the PATH, 26-ea" "$tmp/path-jdk" PATH="$tmp/path-bin:$empty"
check "JAVA_HOME 17 loses to the PATH's 26-ea" "$tmp/path-jdk" JAVA_HOME="$tmp/jdk17" PATH="$tmp/path-bin:$empty"

fake_jdk "$sysroot/usr/lib/jvm/java-17-openjdk-amd64" 17.0.15
check "/usr/lib/jvm with only 17" exit2
fake_jdk "$sysroot/usr/lib/jvm/temurin-25-jdk-amd64" 25.0.1
fake_jdk "$sysroot/usr/lib/jvm/temurin-26-jdk-amd64" 26.0.0
check "/usr/lib/jvm, newest first" "$sysroot/usr/lib/jvm/temurin-26-jdk-amd64"
rm -rf "$sysroot/usr/lib/jvm"

fake_jdk "$home/.sdkman/candidates/java/21.0.5-tem" 21.0.5
fake_jdk "$home/.sdkman/candidates/java/25.0.1-tem" 25.0.1
check "SDKMAN" "$home/.sdkman/candidates/java/25.0.1-tem"
rm -rf "$home/.sdkman"

fake_jdk "$tmp/mac-jdk" 25.0.2
mkdir -p "$sysroot/usr/libexec"
printf '#!/bin/sh\n[ "$1 $2" = "-v 25+" ] && echo %s\n' "$tmp/mac-jdk" > "$sysroot/usr/libexec/java_home"
chmod +x "$sysroot/usr/libexec/java_home"
check "macOS java_home -v 25+" "$tmp/mac-jdk"
rm -rf "$sysroot/usr/libexec"

fake_jdk "$sysroot/Library/Java/JavaVirtualMachines/temurin-25.jdk/Contents/Home" 25
check "/Library/Java/JavaVirtualMachines" "$sysroot/Library/Java/JavaVirtualMachines/temurin-25.jdk/Contents/Home"

echo "find-jdk: $passed passed, $failed failed"
[[ $failed == 0 ]]
