#!/usr/bin/env bash
# Several instances on one PostgreSQL (issue #16): the same generated store
# (default 20,000 submissions) through `reportbridge run` with 1, 2 and 3
# instances sharing one PostgreSQL state (a throw-away local server, fsync on)
# and one CSV drop folder, against one `reportbridge once` on the SQLite state,
# in the same invocation. A fleet run's time is from starting its instances to
# the moment the database shows every version ingested and nothing left to
# deliver (polled every 0.1 s; the drop publishes a partial file after 200 ms,
# max_age, so the tail does not wait the default minute). Each configuration
# runs RUNS times (default 3),
# interleaved; the medians are printed, with each as a ratio to SQLite.
#   bench/pg_fleet.sh [BUILD_DIR] [COUNT] [RUNS]
set -euo pipefail
BUILD=${1:-build}
COUNT=${2:-20000}
RUNS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=rbbench-fleet PG_OPTIONS="-c max_connections=100"
. "$ROOT/bench/pg_common.sh"
common() {  # $1: drop folder
  printf "source:\n  type: sqlite\n  path: store.db\n  media_root: media\nschema: %s\nmappings: [m/all.yaml]\n" \
    "$ROOT/schemas/submission.schema.json"
  printf "targets:\n  - name: drop\n    type: csv_drop\n    directory: %s\n    max_rows: 1000\n    max_age: 200ms\n" "$1"
  printf "health:\n  enabled: false\nlogging:\n  level: warn\n"
}
now() { date +%s.%N; }

sqlite_run() {  # prints seconds
  local k=$1
  rm -rf "$WORK/sqlite-$k" "$WORK/out-sqlite-$k"
  { printf "state:\n  path: sqlite-%s/state.db\n" "$k"; common "out-sqlite-$k"; } > "$WORK/sqlite-$k.yaml"
  local s e
  s=$(now)
  "$BIN" once --config "$WORK/sqlite-$k.yaml" 2>/dev/null
  e=$(now)
  echo "$e - $s" | bc
}
ledger_of() {  # versions the SQLite run $1 recorded
  /usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM ledger').fetchone()[0])" \
    "$WORK/sqlite-$1/state.db"
}

fleet_run() {  # $1 instances, $2 run number; prints seconds
  local n=$1 k=$2 db="fleet_${1}_${2}" i s e
  "${PSQL[@]}" -c "CREATE DATABASE $db" >/dev/null
  # The schema first (as a deployment does: `state migrate`), not timed.
  { printf "state:\n  type: postgresql\n  conninfo: \"host=%s port=%s dbname=%s user=postgres\"\n  sslmode: disable\n  instance: i1\n  local_dir: local-%s-1\n" \
      "$WORK" "$PORT" "$db" "$db"; common "out-$db"; } > "$WORK/$db-1.yaml"
  "$BIN" state migrate --config "$WORK/$db-1.yaml" >/dev/null 2>&1 || true
  for ((i = 1; i <= n; i++)); do
    { printf "state:\n  type: postgresql\n  conninfo: \"host=%s port=%s dbname=%s user=postgres\"\n  sslmode: disable\n  instance: i%s\n  local_dir: local-%s-%s\n" \
        "$WORK" "$PORT" "$db" "$i" "$db" "$i"; common "out-$db"; } > "$WORK/$db-$i.yaml"
  done
  PIDS=()
  s=$(now)
  for ((i = 1; i <= n; i++)); do
    (cd "$WORK" && exec "$BIN" run --config "$WORK/$db-$i.yaml" 2>"$WORK/$db-$i.err" >/dev/null) &
    PIDS+=($!)
  done
  local q="SELECT (SELECT count(*) FROM ledger) >= $LEDGER AND NOT EXISTS (SELECT 1 FROM outbox_items WHERE state IN ('pending','in_flight')) AND NOT EXISTS (SELECT 1 FROM delivery_batches WHERE state = 'open')"
  local deadline=$(( $(date +%s) + 600 ))
  until [ "$("${PSQL[@]}" -d "$db" -c "$q" 2>/dev/null)" = "t" ]; do
    if [ "$(date +%s)" -gt "$deadline" ]; then echo "fleet of $n did not finish in 600 s" >&2; exit 1; fi
    sleep 0.1
  done
  e=$(now)
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  local rows
  rows=$(cat "$WORK/out-$db"/*.csv | grep -vc '^Ref,' || true)
  echo "$n instance(s), run $k: $(echo "$e - $s" | bc) s, $rows CSV rows" >&2
  echo "$e - $s" | bc
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -a S F1 F2 F3
for ((k = 1; k <= RUNS; k++)); do
  S+=("$(sqlite_run "$k")")
  LEDGER=$(ledger_of "$k")
  F1+=("$(fleet_run 1 "$k")")
  F2+=("$(fleet_run 2 "$k")")
  F3+=("$(fleet_run 3 "$k")")
done
ms=$(median "${S[@]}")
echo "submissions: $COUNT, versions recorded: $LEDGER, runs: $RUNS (medians; all on this one 2-core machine)"
printf "sqlite, 1 instance (once):   %6.2f s  %7.0f versions/s\n" "$ms" "$(echo "$LEDGER / $ms" | bc -l)"
for n in 1 2 3; do
  eval "vals=(\"\${F$n[@]}\")"
  m=$(median "${vals[@]}")
  printf "postgresql, %d instance(s):  %6.2f s  %7.0f versions/s  (%.2fx the SQLite time)\n" "$n" "$m" \
    "$(echo "$LEDGER / $m" | bc -l)" "$(echo "$m / $ms" | bc -l)"
done
