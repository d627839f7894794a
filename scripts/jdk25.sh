# Sourced by ./la2 and .ci/run: exports JAVA_HOME as a JDK 25 ($JAVA_HOME if it is one, else the
# first of /usr/lib/jvm/temurin-25-jdk-amd64, /usr/lib/jvm/*25*), or exits 2 with a message.
la2_is_jdk25() { [[ -n $1 && -x $1/bin/javac ]] && "$1/bin/java" -version 2>&1 | head -n 1 | grep -q '"25[."]\|"25"'; }
la2_jdk=""
for la2_cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25*; do
  if la2_is_jdk25 "$la2_cand"; then la2_jdk=$la2_cand; break; fi
done
if [[ -z $la2_jdk ]]; then
  echo "la2: no JDK 25 found (looked at \$JAVA_HOME, /usr/lib/jvm/temurin-25-jdk-amd64, /usr/lib/jvm/*25*); set JAVA_HOME to a JDK 25" >&2
  exit 2
fi
export JAVA_HOME=$la2_jdk
unset la2_cand la2_jdk
