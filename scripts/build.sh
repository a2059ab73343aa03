#!/usr/bin/env bash
# Configures and builds into ./build (RelWithDebInfo, -Wall -Wextra -Werror).
# Extra arguments go to cmake's configure step, e.g. -DREPORTBRIDGE_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
