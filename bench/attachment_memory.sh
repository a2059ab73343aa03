#!/usr/bin/env bash
# Peak memory of the daemon while a large video attachment is in flight
# (issue #6: "peak RSS with a 2 GB video in flight stays under 64 MiB above the
# idle daemon").
#
#   bench/attachment_memory.sh [BINARY] [http|sqlite|both]
#
# BINARY defaults to build/reportbridge (nothing is built here). For each store
# kind the script creates, in a temp folder, a 2 GiB MP4-looking file (a real
# 'ftyp' box, then a sparse fill) and its sha256, an empty app store and a
# config delivering to a csv_drop target; starts `reportbridge run`, samples
# VmRSS from /proc every 50 ms while idle (after the first poll), then adds one
# submission referencing the video and samples until the CSV with the copied
# attachment is published.
#   http:   the store is served by tests/servers/app_store_server.py on
#           127.0.0.1; the daemon streams the download into its spool, then
#           csv_drop copies it into the drop folder.
#   sqlite: the video sits under the store's media root; csv_drop copies it.
# Prints one row per kind: idle RSS, peak RSS (max sampled VmRSS and VmHWM),
# peak minus idle, elapsed time and throughput. Exits 1 when peak - idle is
# 64 MiB or more, or the delivered file's sha256 differs; 2 on setup errors.
# Environment: SIZE_MIB (default 2048), LIMIT_MIB (default 64), TIMEOUT_S
# (default 900), KEEP=1 keeps the temp folder, TMPDIR picks where it goes.
# Needs /usr/bin/python3 (sqlite3 module), sha256sum, truncate.
set -euo pipefail

BIN=${1:-build/reportbridge}
MODE=${2:-both}
SIZE_MIB=${SIZE_MIB:-2048}
LIMIT_MIB=${LIMIT_MIB:-64}
TIMEOUT_S=${TIMEOUT_S:-900}
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "attachment_memory: $*" >&2; exit 2; }
[[ -x $BIN ]] || die "no executable at $BIN (build the reportbridge target first)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
case $MODE in http) MODES=(http) ;; sqlite) MODES=(sqlite) ;; both) MODES=(http sqlite) ;;
  *) die "mode must be http, sqlite or both" ;; esac
[[ -x $PY ]] || die "$PY not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rb-attmem.XXXXXX")
DAEMON_PID=""
SERVER_PID=""
stop_pid() {  # our own child processes only, by pid
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
  stop_pid "$SERVER_PID"
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Disk: the spool copy (http) and the drop copy are real files; the source is sparse.
need_kib=$(( (SIZE_MIB * 2 + 512) * 1024 ))
free_kib=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
(( free_kib > need_kib )) || die "need $((need_kib / 1024)) MiB free in $WORK, have $((free_kib / 1024)) MiB"

# The video: a 24-byte 'ftyp' box (isom, mp41), then zeros up to the size.
make_video() {
  local file=$1
  mkdir -p "$(dirname "$file")"
  printf '\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41' >"$file"
  truncate -s "$((SIZE_MIB * 1024 * 1024))" "$file"
}

rss_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || true; }

run_one() {
  local kind=$1
  local dir=$WORK/$kind
  mkdir -p "$dir/media/2026/11/27" "$dir/mappings"
  local video=$dir/media/2026/11/27/clip.mp4
  make_video "$video"
  local sha size
  sha=$(sha256sum "$video" | cut -d' ' -f1)
  size=$(stat -c %s "$video")

  "$PY" - "$dir/store.db" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""
PRAGMA journal_mode=WAL;
CREATE TABLE submissions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, version INTEGER NOT NULL,
  received_at TEXT NOT NULL, payload TEXT NOT NULL, UNIQUE (id, version));
CREATE TABLE submission_status (submission_id TEXT PRIMARY KEY, state TEXT NOT NULL,
  reference TEXT, message TEXT, updated_at TEXT NOT NULL);
""")
db.close()
PYEOF

  cat >"$dir/mappings/all.yaml" <<'EOF'
mapping: all
targets: [drop]
attachments: true
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Summary, from: summary, default: ""}
  - {name: attachment_files, default: ""}
EOF

  local source
  if [[ $kind == http ]]; then
    "$PY" "$ROOT/tests/servers/app_store_server.py" --db "$dir/store.db" --media-root "$dir/media" \
      >"$dir/server.out" 2>"$dir/server.err" &
    SERVER_PID=$!
    local port=""
    for _ in $(seq 1 200); do
      port=$(awk '/^PORT / {print $2}' "$dir/server.out" 2>/dev/null || true)
      [[ -n $port ]] && break
      kill -0 "$SERVER_PID" 2>/dev/null || die "test server exited: $(cat "$dir/server.err")"
      sleep 0.05
    done
    [[ -n $port ]] || die "test server did not start"
    source="source:
  type: http
  base_url: http://127.0.0.1:$port
  poll_interval: 200ms
  spool_dir: spool
  max_attachment_size: 4GiB"
  else
    source="source:
  type: sqlite
  path: store.db
  media_root: media
  poll_interval: 200ms"
  fi
  cat >"$dir/config.yaml" <<EOF
state:
  path: state/state.db
$source
schema: $ROOT/schemas/submission.schema.json
mappings: [mappings/all.yaml]
targets:
  - name: drop
    type: csv_drop
    directory: out
    max_rows: 100
    max_age: 100ms
    copy_attachments: true
    max_attachment_size: 4GiB
writeback:
  enabled: true
health:
  enabled: false
logging:
  level: info
EOF

  "$BIN" run --config "$dir/config.yaml" >"$dir/daemon.out" 2>"$dir/daemon.log" &
  DAEMON_PID=$!
  for _ in $(seq 1 400); do
    grep -q "run: source" "$dir/daemon.log" 2>/dev/null && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "daemon exited: $(tail -5 "$dir/daemon.log")"
    sleep 0.05
  done
  grep -q "run: source" "$dir/daemon.log" || die "daemon did not start"
  sleep 2  # a few empty polls

  # Idle: 2 s of samples; the median is the idle figure.
  local samples=() v
  for _ in $(seq 1 40); do
    v=$(rss_kib "$DAEMON_PID" VmRSS)
    [[ -n $v ]] && samples+=("$v")
    sleep 0.05
  done
  local idle
  idle=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')

  # The submission referencing the video.
  "$PY" - "$dir/store.db" "$sha" "$size" <<'PYEOF'
import json, sqlite3, sys
db_path, sha, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
sid = "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01"
payload = {
    "id": sid, "version": 1, "submitted_at": "2026-11-27T18:42:10+00:00", "kind": "concern",
    "category": "anti_social_behaviour", "summary": "Group throwing stones at buses",
    "description": "Video of the incident attached.",
    "occurred": {"start": "2026-11-27T18:15:00+00:00", "end": None, "ongoing": True},
    "location": {"lat": 54.5742, "lon": -1.235, "accuracy_m": 15,
                 "address": "Linthorpe Road, Middlesbrough", "postcode": "TS1 3QY"},
    "reporter": {"anonymous": True, "name": None, "email": None, "phone": None,
                 "contact_ok": False, "preferred_language": "en"},
    "attachments": [{"id": "b0c4e1d2-video", "filename": "VID_0001.mp4", "media_type": "video/mp4",
                     "size_bytes": size, "sha256": sha, "path": "2026/11/27/clip.mp4"}],
    "device": {"platform": "ios", "app_version": "1.4.2"},
    "consent": {"share_with_partners": False},
}
db = sqlite3.connect(db_path, timeout=5)
db.execute("INSERT INTO submissions (seq, id, version, received_at, payload) VALUES (1, ?, 1,"
           " '2026-11-27T18:42:11Z', ?)", (sid, json.dumps(payload)))
db.commit()
db.close()
PYEOF
  local t0 t1 peak=$idle csv=""
  t0=$(date +%s.%N)
  local deadline=$(( $(date +%s) + TIMEOUT_S ))
  while :; do
    v=$(rss_kib "$DAEMON_PID" VmRSS)
    [[ -n $v ]] && (( v > peak )) && peak=$v
    csv=$(find "$dir/out" -maxdepth 1 -name '*.csv' -print -quit 2>/dev/null || true)
    [[ -n $csv ]] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "daemon exited: $(tail -5 "$dir/daemon.log")"
    (( $(date +%s) < deadline )) || die "no CSV after ${TIMEOUT_S}s: $(tail -5 "$dir/daemon.log")"
    sleep 0.05
  done
  t1=$(date +%s.%N)
  local hwm
  hwm=$(rss_kib "$DAEMON_PID" VmHWM)
  stop_pid "$DAEMON_PID"
  DAEMON_PID=""
  stop_pid "$SERVER_PID"
  SERVER_PID=""

  local delivered got="none"
  delivered=$(find "$dir/out" -path '*.attachments/*.mp4' -print -quit)
  [[ -n $delivered ]] && got=$(sha256sum "$delivered" | cut -d' ' -f1)
  local top=$(( hwm > peak ? hwm : peak ))
  local result
  result=$(awk -v k="$kind" -v idle="$idle" -v peak="$peak" -v hwm="$hwm" -v top="$top" \
    -v t0="$t0" -v t1="$t1" -v bytes="$size" -v limit="$LIMIT_MIB" -v ok="$([[ $got == "$sha" ]] && echo 1 || echo 0)" \
    'BEGIN {
       d = (top - idle) / 1024; el = t1 - t0;
       printf "%-6s idle %7.1f MiB  peak(sampled) %7.1f MiB  VmHWM %7.1f MiB  peak-idle %6.1f MiB  elapsed %7.2f s  %7.1f MB/s  sha256 %s  %s\n",
              k, idle / 1024, peak / 1024, hwm / 1024, d, el, bytes / 1e6 / el, ok ? "ok" : "DIFFERS",
              (d < limit && ok) ? "PASS" : "FAIL";
     }')
  echo "$result"
  rm -rf "$dir"  # 2 GiB files: free the space before the next kind
  [[ $result == *PASS ]]
}

status=0
for kind in "${MODES[@]}"; do
  run_one "$kind" || status=1
done
exit $status
