#!/usr/bin/env bash
# Installs the Debian 12 packages Reportbridge builds and tests with.
# Runs apt-get as root (directly, or through sudo when not root).
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev   # Asio, Beast, JSON (1.81: 1.74 has no Boost.JSON)
  libxml2-dev libsqlite3-dev sqlite3 libspdlog-dev catch2 libyaml-cpp-dev
  libssl-dev libsystemd-dev libre2-dev libicu-dev libhowardhinnant-date-dev libproj-dev
  # the PostgreSQL state store (libpq; docs/operations.md) and the real server
  # its tests start (initdb + pg_ctl, tests/support/pg_server.hpp)
  libpq-dev postgresql-15
  python3-spyne python3-zeep python3-lxml   # real SOAP server and client for the tests
  openssl ca-certificates                   # test CAs and certificates; the system trust store
  # fuzzing (scripts/fuzz.sh, docs/fuzzing.md): libclang-rt-14-dev holds the
  # libFuzzer, ASan and UBSan runtimes clang links: only recommended by
  # clang-14's packages, and this script installs no recommends
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
