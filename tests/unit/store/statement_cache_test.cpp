// A connection's prepared statements are kept and reused (store::StatementCache):
// a reused statement starts clean (reset, no bindings), two live uses of one
// SQL text do not share a statement, errors leave the cache usable, the cache
// is bounded, and a statement may outlive its connection.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "bridge/store/sqlite.hpp"

using namespace reportbridge::store;
namespace fs = std::filesystem;

namespace {
struct TempDb {
  fs::path path;
  TempDb() {
    path = fs::temp_directory_path() / ("rb-stmt-cache-" + std::to_string(::getpid()) + ".db");
    fs::remove(path);
  }
  ~TempDb() {
    fs::remove(path);
    fs::remove(path.string() + "-wal");
    fs::remove(path.string() + "-shm");
  }
};
}  // namespace

TEST_CASE("a statement used twice is kept, and comes back clean") {
  TempDb t;
  Database db(t.path.string(), Database::Mode::read_write_create);
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  const std::size_t before = db.cached_statements();
  {
    auto ins = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    ins.bind(1, 1).bind(2, "one").run();
  }
  CHECK(db.cached_statements() == before);  // used once: not kept (SQL run once at start takes no memory)
  {
    auto ins = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    ins.bind(1, 3).bind(2, "three").run();
  }
  CHECK(db.cached_statements() == before + 1);  // used again: kept
  {
    // The same text again: the kept statement, with no binding left over (v is NULL).
    auto ins = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    ins.bind(1, 2).run();
  }
  CHECK(db.cached_statements() == before + 1);
  auto q = db.prepare("SELECT v FROM t WHERE k = ?1");
  q.bind(1, 2);
  REQUIRE(q.step());
  CHECK(q.is_null(0));
}

TEST_CASE("a statement given back mid-iteration is reset: no read transaction is kept open") {
  TempDb t;
  Database db(t.path.string(), Database::Mode::read_write_create);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
  db.exec("INSERT INTO t VALUES (1), (2), (3)");
  {
    auto q = db.prepare("SELECT k FROM t ORDER BY k");
    REQUIRE(q.step());  // left after the first row
  }
  CHECK(sqlite3_get_autocommit(db.handle()) != 0);
  // Another connection can write and this one sees it: no stale snapshot kept.
  {
    Database other(t.path.string(), Database::Mode::read_write);
    other.exec("INSERT INTO t VALUES (4)");
  }
  auto q = db.prepare("SELECT k FROM t ORDER BY k");
  int n = 0;
  while (q.step()) ++n;
  CHECK(n == 4);
}

TEST_CASE("two live uses of one SQL text each have their own statement") {
  TempDb t;
  Database db(t.path.string(), Database::Mode::read_write_create);
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
  db.exec("INSERT INTO t VALUES (1), (2), (3)");
  const char* sql = "SELECT k FROM t WHERE k >= ?1 ORDER BY k";
  auto a = db.prepare(sql);
  a.bind(1, 2);
  REQUIRE(a.step());
  CHECK(a.int64(0) == 2);
  {
    auto b = db.prepare(sql);  // while `a` is mid-iteration
    b.bind(1, 1);
    REQUIRE(b.step());
    CHECK(b.int64(0) == 1);
  }
  REQUIRE(a.step());
  CHECK(a.int64(0) == 3);  // `a` was not disturbed
  CHECK_FALSE(a.step());
}

TEST_CASE("a failed step leaves the kept statement usable") {
  TempDb t;
  Database db(t.path.string(), Database::Mode::read_write_create);
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
  const char* sql = "INSERT INTO t (k) VALUES (?1)";
  db.prepare(sql).bind(1, 1).run();
  CHECK_THROWS_AS(db.prepare(sql).bind(1, 1).run(), SqliteError);  // constraint
  db.prepare(sql).bind(1, 2).run();
  auto q = db.prepare("SELECT count(*) FROM t");
  REQUIRE(q.step());
  CHECK(q.int64(0) == 2);
}

TEST_CASE("exec goes through the cache and keeps its errors") {
  TempDb t;
  Database db(t.path.string(), Database::Mode::read_write_create);
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
  for (int i = 0; i < 3; ++i) {
    Transaction tx(db);
    db.prepare("INSERT INTO t (k) VALUES (?1)").bind(1, i).run();
    tx.commit();
  }
  {
    Transaction tx(db);  // rolled back
    db.prepare("INSERT INTO t (k) VALUES (?1)").bind(1, 99).run();
  }
  auto q = db.prepare("SELECT count(*), max(k) FROM t");
  REQUIRE(q.step());
  CHECK(q.int64(0) == 3);
  CHECK(q.int64(1) == 2);
  try {
    db.exec("INSERT INTO nowhere VALUES (1)");
    FAIL("no error");
  } catch (const SqliteError& e) {
    CHECK(std::string(e.what()).find("exec 'INSERT INTO nowhere") == 0);
    CHECK(std::string(e.what()).find("no such table") != std::string::npos);
  }
  // Several statements in one text still run (sqlite3_exec).
  db.exec("INSERT INTO t VALUES (10); INSERT INTO t VALUES (11)");
  auto c = db.prepare("SELECT count(*) FROM t");
  REQUIRE(c.step());
  CHECK(c.int64(0) == 5);
}

TEST_CASE("the cache is bounded, and a statement may outlive its connection") {
  TempDb t;
  auto db = std::make_unique<Database>(t.path.string(), Database::Mode::read_write_create);
  db->exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
  for (int use = 0; use < 2; ++use)
    for (std::size_t i = 0; i < StatementCache::kMaxEntries + 50; ++i)
      db->prepare("SELECT " + std::to_string(i) + " FROM t").run();
  CHECK(db->cached_statements() == StatementCache::kMaxEntries);
  // Past the bound a text is still prepared and runs.
  auto q = db->prepare("SELECT 12345");
  REQUIRE(q.step());
  CHECK(q.int64(0) == 12345);
  {
    auto kept = db->prepare("SELECT k FROM t");
    CHECK_FALSE(kept.step());
    db.reset();  // the connection closes while `kept` lives; `kept` is finalized, not kept (ASan, valgrind)
  }
  CHECK(db == nullptr);
}

// SQLite's memory statistics stay off (bridge/store/sqlite.cpp): with them on,
// every allocation SQLite makes on any thread takes one process-wide mutex
// (docs/performance.md, change 14). With them off its counter never moves.
TEST_CASE("SQLite keeps no memory statistics so its allocations take no process-wide lock") {
  TempDb t;
  Database db(t.path.string(), Database::Mode::read_write_create);
  db.exec("CREATE TABLE t (a TEXT)");
  for (int i = 0; i < 200; ++i) db.prepare("INSERT INTO t VALUES (?1)").bind(1, std::string(500, 'x')).run();
  CHECK(sqlite3_memory_used() == 0);
  CHECK(sqlite3_memory_highwater(0) == 0);
}
