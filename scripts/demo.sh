#!/usr/bin/env bash
# The README's first command: set up, build, generate a demo store of Cleveland
# submissions, start a local stand-in for the force's records management system
# (RMS, a SOAP service) and run the bridge on the shipped example config until
# the backlog is drained. Output lands in ./demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${DEMO_COUNT:-3000}
RMS_PORT=18080   # must match targets[rms_soap].url in config/demo.yaml
PY=/usr/bin/python3   # Debian's python3, with python3-spyne and python3-lxml
scripts/install-deps.sh
scripts/build.sh
BIN=build/reportbridge
GEN=build/tools/gen_store/reportbridge-gen-store

rm -rf demo-output
mkdir -p demo-output/store demo-output/rms

RMS_PID=""
stop_rms() {
  if [ -n "$RMS_PID" ]; then
    kill "$RMS_PID" 2>/dev/null || true
    wait "$RMS_PID" 2>/dev/null || true
    RMS_PID=""
  fi
}
trap stop_rms EXIT

rms_dump() {
  "$PY" - "$RMS_PORT" <<'PYEOF'
import json, sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:%s/dump" % sys.argv[1], timeout=10) as r:
    print(r.read().decode())
PYEOF
}

echo
echo "== 1. A demo app store: $COUNT submissions from Cleveland towns (with double taps, edits, bad rows, photos)"
"$GEN" --db demo-output/store/store.db --media-root demo-output/store/media --count "$COUNT" \
  --seed 7 --truth demo-output/store/truth.jsonl
echo
echo "== 2. Starting the stand-in RMS SOAP service on 127.0.0.1:$RMS_PORT (tests/servers/rms_spyne_server.py)"
# It validates every Report against the RMS schema, like the real intake would.
"$PY" tests/servers/rms_spyne_server.py "$RMS_PORT" --xsd schemas/rms_community_report.xsd \
  > demo-output/rms/server.out 2> demo-output/rms/server.log &
RMS_PID=$!
for _ in $(seq 1 100); do   # it prints its port once it listens
  [ -s demo-output/rms/server.out ] && break
  if ! kill -0 "$RMS_PID" 2>/dev/null; then
    echo "the RMS stand-in did not start (port $RMS_PORT in use?):" >&2
    cat demo-output/rms/server.log >&2
    RMS_PID=""
    exit 1
  fi
  sleep 0.1
done
if [ ! -s demo-output/rms/server.out ]; then
  echo "the RMS stand-in did not start listening within 10 s" >&2
  exit 1
fi
echo "  listening (pid $RMS_PID)"
echo
echo "== 3. Checking the shipped config, mappings, lookups and schemas"
"$BIN" check --config config/demo.yaml
echo
echo "== 4. Running the bridge until the backlog is drained (log: demo-output/bridge.log)"
"$BIN" once --config config/demo.yaml 2> demo-output/bridge.log
tail -n 1 demo-output/bridge.log
echo
echo "== 5. What happened"
"$BIN" status --config config/demo.yaml --limit 5
echo
echo "Statuses written back to the app (submission_status):"
sqlite3 -column demo-output/store/store.db \
  "SELECT state, count(*) AS submissions FROM submission_status GROUP BY state ORDER BY 2 DESC"
echo
echo "== 6. Where the output is"
for d in demo-output/drop/*; do
  csv=$(find "$d" -maxdepth 1 -name '*.csv' | wc -l)
  xml=$(find "$d" -maxdepth 1 -name '*.xml' | wc -l)
  atts=$(find "$d" -path '*.attachments/*' -type f | wc -l)
  what="$csv CSV file(s)"
  [ "$xml" -eq 0 ] || what="$xml XML document(s)"
  echo "  $d: $what, $atts attachment file(s) copied beside them"
done
first=$(find demo-output/drop/npt -maxdepth 1 -name '*.csv' | sort | sed -n 1p)
if [ -n "$first" ]; then
  echo
  echo "First rows of $first:"
  head -n 3 "$first" | cut -c1-200
fi
first=$(find demo-output/drop/psd_xml -maxdepth 1 -name '*.xml' | sort | sed -n 1p)
if [ -n "$first" ]; then
  echo
  echo "First lines of $first:"
  head -n 12 "$first" | cut -c1-200
fi
echo
echo "== 7. What the RMS received (its /dump, saved to demo-output/rms/dump.json)"
rms_dump > demo-output/rms/dump.json
"$PY" - demo-output/rms/dump.json <<'PYEOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
records = d["records"]
versions = sum(len(r["versions"]) for r in records)
print("  calls: %(create)d create, %(update)d update, %(find)d lookup" % d["calls"])
print("  records: %d, versions held: %d (updates of an edited report go to its first record)"
      % (len(records), versions))
edited = next((r for r in records if len(r["versions"]) > 1), None)
if edited:
    print("  an edited report, %s: %s" % (edited["legacy_reference"],
          ", ".join("%s %s" % (v["operation"], v["external_reference"]) for v in edited["versions"])))
photo = next((r for r in records if "Content>" in r["versions"][0]["xml"]), None)
if photo:
    xml = photo["versions"][0]["xml"]
    xml = re.sub(r"(<(?:\w+:)?Content\b[^>]*>)[^<]*", r"\1[base64]", xml)
    print("  a report with a photo sent inline, %s (its end):\n    ...%s" % (photo["legacy_reference"], xml[-420:]))
PYEOF
stop_rms
echo
echo "Preview one submission exactly as the targets would receive it:"
id=$(sqlite3 demo-output/store/store.db "SELECT submission_id FROM submission_status WHERE state='forwarded' LIMIT 1")
echo "  $BIN preview --config config/demo.yaml --submission $id"
echo "Run it as a daemon:  $BIN run --config config/demo.yaml   (Ctrl-C stops it cleanly;"
echo "  start the RMS stand-in first, as step 2 does, or rms_soap deliveries wait and retry)"
