#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 in ./build-fuzz and
# runs each for a fixed time from its seed corpus (tests/fuzz/corpus/<target>).
# docs/fuzzing.md describes the targets and a longer run.
#
#   scripts/fuzz.sh [--seconds N] [--keep-corpus DIR] [TARGET...]
#
# --seconds N        time per target (default 30)
# --keep-corpus DIR  keep the grown corpora under DIR/<target> (default: a temp
#                    folder, removed; the repository's seeds are never changed)
# FUZZ_FLAGS       extra libFuzzer flags, after the script's own (the later wins)
# Exit status: 0 when no target crashed, 1 otherwise (the crashing inputs are
# kept in build-fuzz/crashes/<target>/ and named in the output).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=30
KEEP=""
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --keep-corpus) KEEP="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_submission fuzz_yaml fuzz_soap_response fuzz_csv)

for tool in clang-14 clang++-14; do
  command -v "$tool" >/dev/null || { echo "fuzz: $tool missing (scripts/install-deps.sh installs clang-14 and libfuzzer-14-dev)" >&2; exit 2; }
done
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DREPORTBRIDGE_FUZZ=ON -DREPORTBRIDGE_TESTS=OFF "${LAUNCHER[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${TARGETS[@]}"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
printf '%-20s %12s %10s %8s %s\n' target executions exec/s crashes coverage
for t in "${TARGETS[@]}"; do
  corpus="${KEEP:-$WORK}/$t"
  mkdir -p "$corpus" "$BUILD_DIR/crashes/$t"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  log="$BUILD_DIR/crashes/$t/last-run.log"
  stamp="$WORK/$t.started"
  touch "$stamp"
  # -max_len: payloads and files are capped well above this by the code under
  # test; 64 KiB keeps the search on structure. -timeout: one input may take
  # at most 10 s (a hang is reported like a crash). -rss_limit_mb: 2 GiB.
  run_target() {
    ASAN_OPTIONS=detect_leaks=$1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -detect_leaks="$1" -artifact_prefix="$BUILD_DIR/crashes/$t/" \
      ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
  }
  set +e
  run_target 1
  rc=$?
  # LeakSanitizer stops the world with ptrace; a container that forbids ptrace
  # makes it fail on its own, not because of a leak. Then fuzz without leak
  # checks rather than report a crash that is not one (and say so).
  if [ "$rc" -ne 0 ] && grep -qE 'LeakSanitizer has encountered a fatal error|LeakSanitizer does not work under ptrace' "$log"; then
    echo "fuzz: $t: LeakSanitizer cannot run here (ptrace refused); fuzzing without leak checks" >&2
    find "$BUILD_DIR/crashes/$t" -maxdepth 1 -type f -newer "$stamp" ! -name last-run.log -delete
    run_target 0
    rc=$?
  fi
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  crashes=$(find "$BUILD_DIR/crashes/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -newer "$stamp" | wc -l)
  printf '%-20s %12s %10s %8s %s\n' "$t" "${execs:-0}" "${rate:-0}" "$crashes" "edges ${cov}"
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    status=1
    echo "fuzz: $t failed (exit $rc); log $log" >&2
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 >&2 || true
  fi
done
exit $status
