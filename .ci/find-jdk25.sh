# Sourced by .ci/run and ./la2: exports JAVA_HOME pointing at a JDK 25, or exits with a message.
la2_is_jdk25() { [[ -x "$1/bin/javac" ]] && "$1/bin/java" -version 2>&1 | head -1 | grep -q '"25'; }
if [[ -n "${JAVA_HOME:-}" ]] && la2_is_jdk25 "$JAVA_HOME"; then
  :
else
  JAVA_HOME=""
  for cand in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25* /opt/java/*25* "$HOME"/.sdkman/candidates/java/25*; do
    if la2_is_jdk25 "$cand"; then JAVA_HOME=$cand; break; fi
  done
  if [[ -z "$JAVA_HOME" ]]; then
    echo "la2: no JDK 25 found (looked at \$JAVA_HOME and /usr/lib/jvm/*25*); install Temurin 25 and set JAVA_HOME" >&2
    exit 1
  fi
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
