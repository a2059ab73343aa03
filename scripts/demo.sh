#!/usr/bin/env bash
# The README's first command: set up, build, generate a demo store of Cleveland
# submissions and run the bridge on the shipped example config until the
# backlog is drained. Output lands in ./demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${DEMO_COUNT:-3000}
scripts/install-deps.sh
scripts/build.sh
BIN=build/reportbridge
GEN=build/tools/gen_store/reportbridge-gen-store

rm -rf demo-output
mkdir -p demo-output/store
echo
echo "== 1. A demo app store: $COUNT submissions from Cleveland towns (with double taps, edits, bad rows, photos)"
"$GEN" --db demo-output/store/store.db --media-root demo-output/store/media --count "$COUNT" \
  --seed 7 --truth demo-output/store/truth.jsonl
echo
echo "== 2. Checking the shipped config, mappings, lookups and schema"
"$BIN" check --config config/demo.yaml
echo
echo "== 3. Running the bridge until the backlog is drained (log: demo-output/bridge.log)"
"$BIN" once --config config/demo.yaml 2> demo-output/bridge.log
tail -n 1 demo-output/bridge.log
echo
echo "== 4. What happened"
"$BIN" status --config config/demo.yaml --limit 5
echo
echo "Statuses written back to the app (submission_status):"
sqlite3 -column demo-output/store/store.db \
  "SELECT state, count(*) AS submissions FROM submission_status GROUP BY state ORDER BY 2 DESC"
echo
echo "== 5. Where the output is"
for d in demo-output/drop/*; do
  files=$(find "$d" -maxdepth 1 -name '*.csv' | wc -l)
  atts=$(find "$d" -path '*.attachments/*' -type f | wc -l)
  echo "  $d: $files CSV file(s), $atts attachment file(s) copied beside them"
done
first=$(find demo-output/drop/npt -maxdepth 1 -name '*.csv' | sort | head -n 1)
if [ -n "$first" ]; then
  echo
  echo "First rows of $first:"
  head -n 3 "$first" | cut -c1-200
fi
echo
echo "Preview one submission exactly as the targets would receive it:"
id=$(sqlite3 demo-output/store/store.db "SELECT submission_id FROM submission_status WHERE state='forwarded' LIMIT 1")
echo "  $BIN preview --config config/demo.yaml --submission $id"
echo "Run it as a daemon:  $BIN run --config config/demo.yaml   (Ctrl-C stops it cleanly)"
