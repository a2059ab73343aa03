#!/usr/bin/env bash
# The README's second command: set up, build and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
# The PostgreSQL tests run here, never skip: install-deps installed the server.
export REPORTBRIDGE_REQUIRE_POSTGRES=1
ctest --output-on-failure -j2 --timeout 600
