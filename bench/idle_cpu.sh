#!/usr/bin/env bash
# CPU use and wakeups of an idle daemon (issue #13: "idle CPU with nothing to
# do <= 0.1 % of a core over 60 s").
#
#   bench/idle_cpu.sh [BINARY] [SECONDS] [RUNS]
#
# BINARY defaults to build/reportbridge (nothing is built here), SECONDS to 60,
# RUNS to 3. Each run creates, in a temp folder, an empty app store (the
# project's generator with --count 0) and the shipped demo config
# (config/demo.yaml: two CSV drops, an XML drop, a SOAP target, the mappings,
# deduplication, the audit trail) with its paths moved into the temp folder,
# health and metrics on a free loopback port and the SOAP target on a port
# nothing listens on (nothing is ever sent to it: the store is empty). It
# starts `reportbridge run`, lets it settle for SETTLE_S seconds (default 5),
# then measures over SECONDS:
#   cpu      CPU time of every thread: the sum of /proc/<pid>/task/*/schedstat
#            (nanoseconds on a CPU), cross-checked with utime+stime of
#            /proc/<pid>/stat (clock ticks);
#   wakeups  voluntary + nonvoluntary context switches of every thread
#            (/proc/<pid>/task/*/status): each time a thread went to sleep
#            and was woken, or was preempted.
# Prints one line per run and the median of the runs: CPU as % of one core,
# wakeups per second, thread count. Exits 1 when the median CPU is above
# LIMIT_PCT (default 0.1), 2 on setup errors.
# Environment: SETTLE_S, LIMIT_PCT, KEEP=1 keeps the temp folders, TMPDIR.
# Needs /usr/bin/python3 (a free port), awk, the generator next to BINARY
# (<build>/tools/gen_store/reportbridge-gen-store).
set -euo pipefail

BIN=${1:-build/reportbridge}
SECONDS_RUN=${2:-60}
RUNS=${3:-3}
SETTLE_S=${SETTLE_S:-5}
LIMIT_PCT=${LIMIT_PCT:-0.1}
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "idle_cpu: $*" >&2; exit 2; }
[[ -x $BIN ]] || die "no executable at $BIN (build the reportbridge target first)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
GEN=$(dirname "$BIN")/tools/gen_store/reportbridge-gen-store
[[ -x $GEN ]] || die "no generator at $GEN (build reportbridge_gen_store_cli)"
[[ -x $PY ]] || die "$PY not found"

DAEMON_PID=""
WORKS=()
stop_pid() {  # our own child process only, by pid
  local pid=$1
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$DAEMON_PID"
  for w in "${WORKS[@]}"; do
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $w" >&2; else rm -rf "$w"; fi
  done
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sum over the process's threads: "<cpu ns> <context switches> <threads>".
sample() {
  local pid=$1 ns=0 cs=0 n=0 t v
  for t in /proc/"$pid"/task/*; do
    [[ -r $t/schedstat ]] || continue
    read -r v _ < "$t/schedstat" || continue
    ns=$((ns + v))
    v=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ {s += $2} END {print s + 0}' "$t/status" 2>/dev/null || echo 0)
    cs=$((cs + v))
    n=$((n + 1))
  done
  echo "$ns $cs $n"
}
# utime + stime of the whole process, in clock ticks.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

one_run() {
  local run=$1 work port soap_port
  work=$(mktemp -d "${TMPDIR:-/tmp}/rb-idle.XXXXXX")
  WORKS+=("$work")
  mkdir -p "$work/store" "$work/config"
  "$GEN" --db "$work/store/store.db" --count 0 >/dev/null || die "generator failed"
  port=$(free_port)
  soap_port=$(free_port)
  # The demo config, its paths moved into the temp folder.
  sed -e "s#\.\./demo-output/#$work/#g" \
      -e "s#\.\./schemas/#$ROOT/schemas/#g" \
      -e "s#\.\./mappings/#$ROOT/mappings/#g" \
      -e "s#http://127.0.0.1:18080/rms#http://127.0.0.1:$soap_port/rms#" \
      "$ROOT/config/demo.yaml" > "$work/config/idle.yaml"
  printf 'health:\n  listen: "127.0.0.1:%s"\n' "$port" >> "$work/config/idle.yaml"
  "$BIN" check --config "$work/config/idle.yaml" >"$work/check.out" 2>&1 ||
    die "config check failed: $(cat "$work/check.out")"
  "$BIN" run --config "$work/config/idle.yaml" >"$work/run.out" 2>"$work/run.err" &
  DAEMON_PID=$!
  sleep "$SETTLE_S"
  kill -0 "$DAEMON_PID" 2>/dev/null || die "daemon exited: $(cat "$work/run.err")"
  local a b t0 t1
  a=$(sample "$DAEMON_PID")
  t0=$(ticks "$DAEMON_PID")
  sleep "$SECONDS_RUN"
  b=$(sample "$DAEMON_PID")
  t1=$(ticks "$DAEMON_PID")
  stop_pid "$DAEMON_PID"
  DAEMON_PID=""
  local hz
  hz=$(getconf CLK_TCK)
  # shellcheck disable=SC2086
  set -- $a $b
  awk -v ns0="$1" -v cs0="$2" -v ns1="$4" -v cs1="$5" -v n="$6" -v t0="$t0" -v t1="$t1" \
      -v hz="$hz" -v s="$SECONDS_RUN" -v run="$run" 'BEGIN {
    cpu = (ns1 - ns0) / 1e9 / s * 100
    ticks_pct = (t1 - t0) / hz / s * 100
    printf "run %d: cpu %.4f %% of a core (utime+stime %.3f %%), wakeups %.2f /s, %d threads\n",
           run, cpu, ticks_pct, (cs1 - cs0) / s, n
    printf "%.6f %.4f\n", cpu, (cs1 - cs0) / s > "/dev/stderr"
  }' 2>>"$RESULTS"
}

RESULTS=$(mktemp "${TMPDIR:-/tmp}/rb-idle-results.XXXXXX")
WORKS+=("$RESULTS")
echo "idle_cpu: $BIN, ${SECONDS_RUN}s per run, $RUNS run(s), settle ${SETTLE_S}s"
for r in $(seq 1 "$RUNS"); do one_run "$r"; done
CPU_MED=$(awk '{print $1}' "$RESULTS" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
WAKE_MED=$(awk '{print $2}' "$RESULTS" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
awk -v cpu="$CPU_MED" -v wake="$WAKE_MED" -v limit="$LIMIT_PCT" 'BEGIN {
  printf "median: cpu %.4f %% of a core, wakeups %.2f /s (limit %.2f %%)\n", cpu, wake, limit
  exit (cpu > limit) ? 1 : 0
}'
