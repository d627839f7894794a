#!/usr/bin/env bash
# Prints the home of a JDK 25 or newer on stdout, or says on stderr in one line that there is none
# and how to get one, and exits 2. Used by ./la2 and .ci/run:  JAVA_HOME=$(scripts/find-jdk.sh)
# Looks at, in this order: $JAVA_HOME, the java on the PATH, /usr/lib/jvm/*, SDKMAN's
# ~/.sdkman/candidates/java/*, macOS's /usr/libexec/java_home -v 25+ and
# /Library/Java/JavaVirtualMachines/*/Contents/Home; within a folder the newest version first.
# LA2_FIND_JDK_SYSROOT prefixes the system paths (/usr/lib/jvm, /usr/libexec, /Library): the
# tests (scripts/test-find-jdk.sh) point it at fake JDKs.
set -uo pipefail

min=25
sys=${LA2_FIND_JDK_SYSROOT:-}

# The feature release of the JDK at $1 ("25.0.1" -> 25, "26-ea" -> 26, "1.8.0_412" -> 1), or
# nothing when $1 has no java and javac (a JRE cannot compile).
major() {
  [[ -x $1/bin/java && -x $1/bin/javac ]] || return 1
  local v
  v=$("$1/bin/java" -version 2>&1 | sed -n 's/^[^"]* version "\([0-9]*\).*/\1/p' | head -n 1)
  [[ -n $v ]] && echo "$v"
}

accept() {
  local v
  v=$(major "$1") || return 1
  (( v >= min ))
}

# Folders under the given globs, newest version first (version sort of the folder names).
newest_first() {
  local d
  for d in "$@"; do [[ -d $d ]] && echo "$d"; done | sort -rV
}

candidates() {
  [[ -n ${JAVA_HOME:-} ]] && echo "$JAVA_HOME"
  local java
  if java=$(command -v java); then
    # java.home of the java on the PATH, whatever links or stubs (macOS /usr/bin/java) lead to it.
    "$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.home = //p' | head -n 1
  fi
  newest_first "$sys"/usr/lib/jvm/*
  newest_first "${HOME:-/nonexistent}"/.sdkman/candidates/java/*
  if [[ -x $sys/usr/libexec/java_home ]]; then
    "$sys"/usr/libexec/java_home -v "$min+" 2>/dev/null
  fi
  newest_first "$sys"/Library/Java/JavaVirtualMachines/*/Contents/Home
}

while IFS= read -r home; do
  if [[ -n $home ]] && accept "$home"; then
    if [[ -n ${JAVA_HOME:-} && $home != "$JAVA_HOME" ]]; then
      echo "la2: JAVA_HOME ($JAVA_HOME) is not a JDK $min or newer; using $home" >&2
    fi
    echo "$home"
    exit 0
  fi
done < <(candidates)

echo "la2: no JDK $min or newer found (looked at JAVA_HOME, java on the PATH, /usr/lib/jvm, ~/.sdkman, macOS java_home); install Temurin $min from adoptium.net or your package manager, or set JAVA_HOME to one" >&2
exit 2
