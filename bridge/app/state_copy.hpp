#pragma once
// `reportbridge state copy`: moves a SQLite state database to PostgreSQL
// (issue #16), then proves the copy: per table, the row count and an
// order-independent checksum of every row, read back from both sides.
#include <string>

#include "bridge/pg_store/pg.hpp"

namespace reportbridge::app {

struct CopyReport {
  bool ok = false;
  std::string text;  // what was copied and verified, table by table (no personal data: counts and checksums)
};

// Copies the SQLite state at `sqlite_path` into the database behind `target`
// (migrated first). Holds SQLite's write lock throughout, so a bridge still
// running on it cannot change it meanwhile. Refuses (ok = false, the reason
// in text) a target that already holds state unless `replace` (which empties
// it first), and a source whose outbox still has records no claim has taken
// or batches left open (let the bridge deliver and stop it first).
CopyReport copy_sqlite_to_postgres(const std::string& sqlite_path, pg::Connection& target, bool replace);

}  // namespace reportbridge::app
