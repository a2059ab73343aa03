#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
namespace fs = std::filesystem;

TEST_CASE("poll reads new rows in seq order and re-reads gaps") {
  TempDir dir;
  const std::string store = (dir / "store.db").string();
  create_app_store(store);
  for (int seq : {1, 2, 5, 6}) insert_submission(store, seq, test_id(seq), 1, "{}");
  sqlite_store::SqliteStoreSource src({"app", store, dir / "media"});
  core::SourceCursor c;
  auto rows = src.poll(c, 3);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].seq == 1);
  CHECK(rows[2].seq == 5);
  CHECK(rows[2].id == test_id(5));
  CHECK(rows[2].received_at == "2026-11-27T18:42:11Z");
  c.high_water = 6;
  c.gaps = {{3, 4, 0}};
  CHECK(src.poll(c, 10).empty());
  insert_submission(store, 4, test_id(4), 1, "{}");
  rows = src.poll(c, 10);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].seq == 4);
  CHECK(src.backlog({2, {}}) == 3);
}

TEST_CASE("write_status upserts and touches nothing else") {
  TempDir dir;
  const std::string store = (dir / "store.db").string();
  create_app_store(store);
  insert_submission(store, 1, test_id(1), 1, "{\"x\":1}");
  sqlite_store::SqliteStoreSource src({"app", store, {}});
  src.write_status({{test_id(1), "rejected", "", "first", "2026-11-27T18:00:00Z"}});
  src.write_status({{test_id(1), "forwarded", "CLE-1", "second", "2026-11-27T19:00:00Z"}});
  sqlite3* db = nullptr;
  sqlite3_open(store.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT state, reference, message, (SELECT count(*) FROM submission_status),"
                         " (SELECT payload FROM submissions) FROM submission_status", -1, &st, nullptr);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "forwarded");
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 1))) == "CLE-1");
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 2))) == "second");
  CHECK(sqlite3_column_int(st, 3) == 1);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 4))) == "{\"x\":1}");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_CASE("a missing store is an error, not an empty poll") {
  TempDir dir;
  sqlite_store::SqliteStoreSource src({"app", dir / "nope.db", {}});
  CHECK_THROWS_WITH(src.poll({}, 10), Catch::Contains("submission store not found"));
  // Unavailable, not fatal: a daemon waits and polls again (the file may be
  // replaced by a nightly export, or moved back), it does not stop.
  CHECK_THROWS_AS(src.poll({}, 10), core::SourceUnavailable);
  CHECK_THROWS_AS(src.backlog({}), core::SourceUnavailable);
}

TEST_CASE("attachment paths from payloads cannot leave the media root") {
  TempDir dir;
  write_file(dir / "media/2026/11/a.jpg", "jpeg");
  write_file(dir / "secret.txt", "secret");
  fs::create_symlink(dir / "secret.txt", dir / "media/link.jpg");
  const auto root = dir / "media";
  CHECK(sqlite_store::resolve_under_root(root, "2026/11/a.jpg") == fs::canonical(root / "2026/11/a.jpg"));
  CHECK_THROWS_WITH(sqlite_store::resolve_under_root(root, "../secret.txt"), Catch::Contains(".."));
  CHECK_THROWS_WITH(sqlite_store::resolve_under_root(root, "2026/../../secret.txt"), Catch::Contains(".."));
  CHECK_THROWS_WITH(sqlite_store::resolve_under_root(root, (dir / "secret.txt").string()), Catch::Contains("absolute"));
  CHECK_THROWS_WITH(sqlite_store::resolve_under_root(root, "link.jpg"), Catch::Contains("leaves the media root"));
  CHECK_THROWS_WITH(sqlite_store::resolve_under_root(root, "a\nb.jpg"), Catch::Contains("control character"));
  CHECK_THROWS_WITH(sqlite_store::resolve_under_root(root, "missing.jpg"), Catch::Contains("not found"));
  CHECK_THROWS_WITH(sqlite_store::resolve_under_root(root, "2026"), Catch::Contains("not a regular file"));
  CHECK_THROWS(sqlite_store::resolve_under_root(root, ""));
}
