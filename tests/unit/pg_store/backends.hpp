#pragma once
// The state stores the contract tests run against: the same test body, once
// on SQLite and once on PostgreSQL, so the two are proven to keep the same
// promises (bridge/store/state_store.hpp).
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>

#include "bridge/pg_store/pg_state_store.hpp"
#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace reportbridge::testing {

struct Backend {
  std::string name;
  // Opens a store on the same state (a new connection, as each bridge thread has).
  std::function<std::unique_ptr<store::StateStore>()> open;
  // The first value of a query on its own connection (for what the store's
  // interface does not show, e.g. a ledger row's outcome); "" when no row.
  std::function<std::string(const std::string&)> scalar;
};

inline Backend sqlite_backend(const TempDir& dir) {
  const std::string path = (dir / "state.db").string();
  return {"sqlite", [path] { return std::make_unique<store::SqliteStateStore>(path); },
          [path](const std::string& sql) {
            store::Database db(path, store::Database::Mode::read_only);
            auto q = db.prepare(sql);
            return q.step() ? q.text(0) : std::string();
          }};
}

// A fresh database on the test server.
inline Backend postgres_backend(PgServer& server) {
  const std::string conninfo = server.conninfo(server.create_database()) + " sslmode=disable";
  return {"postgresql",
          [conninfo] { return std::make_unique<pg_store::PgStateStore>(std::make_unique<pg::Connection>(conninfo)); },
          [conninfo](const std::string& sql) {
            pg::Connection c(conninfo);
            auto r = c.exec(sql);
            return r.empty() ? std::string() : r.text(0, 0);
          }};
}

}  // namespace reportbridge::testing

// In a TEST_CASE: runs the rest of it once per backend (`backend`), skipping
// PostgreSQL with a warning where the server binaries are absent.
#define FOR_EACH_STATE_BACKEND(backend)                                                        \
  ::reportbridge::testing::TempDir backend##_dir;                                             \
  const std::string backend##_kind = GENERATE(as<std::string>{}, "sqlite", "postgresql");     \
  ::reportbridge::testing::Backend backend;                                                   \
  if (backend##_kind == "sqlite") {                                                           \
    backend = ::reportbridge::testing::sqlite_backend(backend##_dir);                         \
  } else {                                                                                    \
    PG_SERVER_OR_SKIP(backend##_server);                                                      \
    backend = ::reportbridge::testing::postgres_backend(*backend##_server);                   \
  }                                                                                           \
  INFO("state backend: " << backend.name)
