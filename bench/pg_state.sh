#!/usr/bin/env bash
# The state on PostgreSQL against SQLite (issue #16): `reportbridge once` over
# the same generated store (default 20,000 submissions) to a CSV drop, once
# with the SQLite state and once with a PostgreSQL state on a throw-away local
# server (initdb + pg_ctl in a temporary folder, as the tests do; fsync on).
# Prints each run's wall time and the ratio.
#   bench/pg_state.sh [BUILD_DIR] [COUNT]
# DEDUP=1 runs both with deduplication on (its history in each state database).
set -euo pipefail
BUILD=${1:-build}
COUNT=${2:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=rbbench-pg
. "$ROOT/bench/pg_common.sh"
"${PSQL[@]}" -c "CREATE DATABASE bench" >/dev/null
common="source:\n  type: sqlite\n  path: store.db\n  media_root: media\nschema: $ROOT/schemas/submission.schema.json\nmappings: [m/all.yaml]\ntargets:\n  - name: drop\n    type: csv_drop\n    directory: OUT\n    max_rows: 1000\nhealth:\n  enabled: false\nlogging:\n  level: warn\n"
if [ "${DEDUP:-0}" = 1 ]; then common="${common}dedup: {}\n"; fi
printf "state:\n  path: sqlite/state.db\n${common//OUT/out-sqlite}" > "$WORK/sqlite.yaml"
printf "state:\n  type: postgresql\n  conninfo: \"host=$WORK port=$PORT dbname=bench user=postgres\"\n  sslmode: disable\n  local_dir: pglocal\n${common//OUT/out-pg}" > "$WORK/pg.yaml"
run() {
  local start end
  start=$(date +%s.%N)
  "$BIN" once --config "$WORK/$1.yaml" 2>/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
s=$(run sqlite)
p=$(run pg)
rows_s=$(cat "$WORK"/out-sqlite/*.csv | wc -l)
rows_p=$(cat "$WORK"/out-pg/*.csv | wc -l)
echo "submissions: $COUNT; CSV lines sqlite $rows_s, postgresql $rows_p"
printf "sqlite state:     %.2f s (%.0f submissions/s)\n" "$s" "$(echo "$COUNT / $s" | bc -l)"
printf "postgresql state: %.2f s (%.0f submissions/s)\n" "$p" "$(echo "$COUNT / $p" | bc -l)"
printf "postgresql / sqlite time: %.1fx\n" "$(echo "$p / $s" | bc -l)"
