#pragma once
// Deduplication's tables in a SQLite state database (store::DedupTables).
#include <memory>

#include "bridge/store/dedup_tables.hpp"
#include "bridge/store/sqlite.hpp"

namespace reportbridge::store {

// Creates the dedup_* tables if missing (no transaction of its own; tables of
// the first layout are replaced). Installs the connection's rollback hook
// (generation()) for its lifetime: one per connection.
std::unique_ptr<DedupTables> open_sqlite_dedup_tables(Database& db);

}  // namespace reportbridge::store
