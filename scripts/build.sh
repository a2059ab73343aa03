#!/usr/bin/env bash
# Configures and builds into ./build (RelWithDebInfo, -Wall -Wextra, and -Werror:
# REPORTBRIDGE_WERROR=ON for developers and CI; a packager's plain cmake leaves it off).
# Extra arguments go to cmake's configure step, e.g. -DREPORTBRIDGE_SANITIZE=ON;
# BUILD_DIR and BUILD_TYPE (e.g. BUILD_TYPE=Release BUILD_DIR=build-release) pick another build.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DREPORTBRIDGE_WERROR=ON "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
