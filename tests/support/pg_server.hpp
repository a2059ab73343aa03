#pragma once
// A real PostgreSQL server for tests (issue #16): initdb + pg_ctl in a
// temporary folder, listening on a free loopback port and on a unix socket in
// that folder, run as the `postgres` user when the tests run as root (initdb
// refuses root). One server per test executable, started on first use; each
// test case takes a database of its own (create_database).
//
// Torn down at the end, even when the test process dies: a small reaper
// process (its own session, so a signal to the test's process group spares
// it) waits for the test process to go, then stops the server and removes the
// folder.
//
// Where the PostgreSQL binaries are absent the server is not available and
// PG_SERVER_OR_SKIP skips the test with a message; with
// REPORTBRIDGE_REQUIRE_POSTGRES=1 (set by scripts/test.sh, as in CI) their
// absence is a failure instead.
#include <filesystem>
#include <string>

namespace reportbridge::testing {

class PgServer {
 public:
  // The server of this executable; nullptr when PostgreSQL is not installed
  // (and not required). Throws when it is installed but cannot start.
  static PgServer* instance();
  // Why instance() is nullptr.
  static std::string unavailable_reason();

  // A new, empty database; returns its name.
  std::string create_database();
  // libpq conninfo for `database` over the unix socket (trust: no password).
  std::string conninfo(const std::string& database) const;
  // libpq conninfo for `database` over TCP on 127.0.0.1, which needs the
  // password (password()) and no TLS (sslmode=disable is up to the caller).
  std::string tcp_conninfo(const std::string& database) const;
  static std::string password() { return "rb-test-secret"; }
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Stops the server (immediate: like a crash) and starts it again on the same port.
  void restart();
  // The two halves of restart(), for a test that needs the server down for a
  // while (until the bridge has seen it gone): stop() is immediate (like a
  // crash); start_again() starts it on the same port.
  void stop();
  void start_again() { start(); }

  ~PgServer();

 private:
  PgServer();
  void start();
  std::filesystem::path bindir_, dir_;
  int port_ = 0;
  int reaper_fd_ = -1;
  int reaper_pid_ = -1;
  int databases_ = 0;
};

}  // namespace reportbridge::testing

// In a TEST_CASE: `auto* pg = ...` or return early with a warning.
#define PG_SERVER_OR_SKIP(var)                                                                    \
  auto* var = ::reportbridge::testing::PgServer::instance();                                     \
  if (!var) {                                                                                     \
    WARN("skipped: " << ::reportbridge::testing::PgServer::unavailable_reason());               \
    return;                                                                                       \
  }
