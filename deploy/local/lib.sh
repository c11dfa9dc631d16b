# Shared helpers for the engine scripts in deploy/local. Source it; do not run it.
# Callers set ENGINE (the prefix of every status line) and ENGINE_LOGS (the log files whose
# tails explain a failed start) before calling any helper.
# shellcheck shell=bash

SWB_LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SWB_REPO_DIR=$(cd "$SWB_LOCAL_DIR/../.." && pwd)
# Both paths are made absolute, because the generated configs and Cassandra's file:// URL
# must not depend on the working directory.
SWB_INFRA_DIR=$(realpath -m "${SWB_INFRA_DIR:-$SWB_REPO_DIR/.data/infra}")
SWB_INFRA_CACHE=$(realpath -m "${SWB_INFRA_CACHE:-$HOME/.cache/switchboard}")
# Every engine binds here and nowhere else.
SWB_BIND_HOST=127.0.0.1

say() {
  printf '%s: %s\n' "$ENGINE" "$*"
}

fail() {
  printf '%s: %s\n' "$ENGINE" "$*" >&2
  exit 1
}

# Succeeds when something accepts TCP connections on 127.0.0.1:PORT.
is_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$SWB_BIND_HOST/$1" 2>/dev/null
}

# Prints the pid stored in PIDFILE when that process is alive and its command line contains
# MARKER. A pid file left by a dead or unrelated process is removed, so a reused pid is never
# mistaken for the engine.
read_live_pid() {
  local pidfile=$1 marker=$2 pid command_line=''
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  if [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]]; then
    command_line=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  fi
  if [[ -n $marker && $command_line == *"$marker"* ]]; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$pidfile"
  return 1
}

# Fails with a hint when a command the scripts need is not installed.
require_command() {
  command -v "$1" >/dev/null || fail "$1 is missing; install it first ($2)"
}

# Fails when PORT is already taken, because then the engine could not bind it and a client
# would silently talk to whatever process listens there.
assert_port_free() {
  local port=$1 variable=$2
  if is_port_open "$port"; then
    fail "port $port on $SWB_BIND_HOST is in use by another process; stop it or set $variable"
  fi
}

# Prints the last lines of each log in ENGINE_LOGS to stderr, for a failed start.
print_engine_logs() {
  local file
  for file in "${ENGINE_LOGS[@]}"; do
    print_log_tail "$file"
  done
}

print_log_tail() {
  local file=$1
  [[ -s $file ]] || return 0
  printf -- '--- last 40 lines of %s ---\n' "$file" >&2
  tail -n 40 "$file" >&2
  printf -- '--- end of %s ---\n' "$file" >&2
}

# Sends SIGTERM to PID, waits up to GRACE seconds for it to exit, then sends SIGKILL.
stop_process() {
  local pid=$1 grace=$2 waited=0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= grace)); then
      say "still running after ${grace}s; sending SIGKILL to pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      return 0
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# Runs CHECK (a command and its arguments) once a second until it succeeds or TIMEOUT seconds
# pass. Fails early when PID exits, and prints the tails of ENGINE_LOGS on any failure.
wait_until_ready() {
  local timeout=$1 pid=$2 what=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      print_engine_logs
      fail "process $pid exited while waiting for $what"
    fi
    if ((SECONDS >= deadline)); then
      print_engine_logs
      fail "timed out after ${timeout}s waiting for $what (pid $pid is still running)"
    fi
    sleep 1
  done
}

# Starts a command detached from the caller's session, with stdout and stderr appended to LOG,
# and writes its pid to PIDFILE. setsid keeps a Ctrl-C in the calling terminal from reaching
# the engine. The wrapper shell writes its own pid and then execs the command, so the pid file
# is right even when setsid forks.
spawn_detached() {
  local log=$1 pidfile=$2 waited=0
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$ and $@ expand in the wrapper shell, not here
  setsid nohup bash -c 'printf "%s\n" "$$" >"$0"; exec "$@"' "$pidfile" "$@" \
    >>"$log" 2>&1 </dev/null &
  until [[ -s $pidfile ]]; do
    if ((waited >= 50)); then
      print_engine_logs
      fail "no pid file at $pidfile 5s after the start"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# Resolves the runtime classpath of a generated pom with Maven and prints the path of a file
# that contains it. NAME picks a folder under the cache, and POM_XML is the pom's text. The
# local Maven repository sits inside the cache too, so deleting the cache gives a cold start.
# Resolution is skipped while the pom is unchanged and every jar it listed is still present.
resolve_classpath() {
  local name=$1 pom_xml=$2
  local dir=$SWB_INFRA_CACHE/$name
  local classpath_file=$dir/classpath.txt
  mkdir -p "$dir"
  if [[ -f $dir/pom.xml && -s $classpath_file ]] &&
    [[ $(<"$dir/pom.xml") == "$pom_xml" ]] && are_jars_present "$classpath_file"; then
    printf '%s\n' "$classpath_file"
    return 0
  fi
  require_command mvn "apt-get install maven"
  printf '%s\n' "$pom_xml" >"$dir/pom.xml"
  say "resolving jars with Maven into $SWB_INFRA_CACHE (first run only)" >&2
  rm -f "$classpath_file"
  if ! mvn -B -q -ntp -f "$dir/pom.xml" -Dmaven.repo.local="$SWB_INFRA_CACHE/m2" \
    dependency:build-classpath -Dmdep.includeScope=runtime \
    -Dmdep.outputFile="$classpath_file" >"$dir/maven.log" 2>&1; then
    print_log_tail "$dir/maven.log"
    fail "Maven could not resolve the jars of $dir/pom.xml"
  fi
  printf '%s\n' "$classpath_file"
}

are_jars_present() {
  local jar
  local -a jars
  # The file has no trailing newline, so read reports end of file after filling the array.
  IFS=: read -r -a jars <"$1" || true
  for jar in "${jars[@]}"; do
    [[ -f $jar ]] || return 1
  done
}

# Pins the dependency plugin, so resolution does not change with the default plugin version of
# the installed Maven (2.8 in Maven 3.8).
# shellcheck disable=SC2034 # used by the scripts that source this file
readonly SWB_POM_BUILD='<build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId>
    <artifactId>maven-dependency-plugin</artifactId>
    <version>3.8.1</version>
  </plugin></plugins></build>'
