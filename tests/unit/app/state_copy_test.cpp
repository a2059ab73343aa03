// `reportbridge state copy` (issue #16): a SQLite state moved to PostgreSQL
// carries on there as it would have on SQLite; the copy is verified table by
// table and refuses what it cannot carry.
#include <catch2/catch.hpp>

#include "bridge/app/state_copy.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/pg_store/pg_state_store.hpp"
#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/dedup/dedup_docs.hpp"

using namespace reportbridge;

namespace {

core::SourceRow row(const std::string& id, std::int64_t version, std::int64_t seq) {
  return {seq, id, version, "2026-11-27T18:42:11Z", "{}"};
}

void enqueue(store::StateStore& s, const std::string& id, std::int64_t seq, const std::vector<std::string>& targets,
             std::optional<store::StatusHint> hint = std::nullopt) {
  std::vector<testing::Queued> records;
  for (const auto& t : targets) records.push_back({testing::ref_record(id, 1, t), {}});
  testing::queue(s, row(id, 1, seq), records, 1000, std::move(hint));
}

const store::RetryPolicy kRetry{5, std::chrono::milliseconds(10), std::chrono::milliseconds(10)};
const store::WritebackRule kRule{"Passed on.", true};

std::unique_ptr<pg::Connection> connect_to(const std::string& conninfo) {
  return std::make_unique<pg::Connection>(conninfo + " sslmode=disable");
}

// Copies the SQLite state at `path` to a new database on `server` (named by
// `conninfo` then); the copy must verify and commit.
app::CopyReport copy_verified(testing::PgServer& server, const std::string& path, std::string& conninfo) {
  conninfo = server.conninfo(server.create_database());
  auto target = connect_to(conninfo);
  auto report = app::copy_sqlite_to_postgres(path, *target, false);
  INFO(report.text);
  REQUIRE(report.ok);
  CHECK(report.text.find("MISMATCH") == std::string::npos);
  CHECK(report.text.find("verified and committed") != std::string::npos);
  return report;
}

}  // namespace

TEST_CASE("state copy moves a SQLite state to PostgreSQL, verified, and work goes on there") {
  PG_SERVER_OR_SKIP(server);
  testing::TempDir dir;
  const std::string path = (dir / "state.db").string();
  std::string batch_key_before;
  {
    store::SqliteStateStore s(path);
    s.set_writeback_rule("rms", kRule);
    s.set_writeback_rule("csv", {"Dropped.", false});
    // sub-1 goes to both targets with a hint: csv delivers, rms asks for a retry.
    enqueue(s, "sub-1", 1, {"rms", "csv"}, store::StatusHint{"needs_review", "Call 101."});
    enqueue(s, "sub-2", 2, {"rms"});  // rejected: a dead letter
    enqueue(s, "sub-3", 3, {"rms"});  // delivered with a reference
    auto csv = s.claim_batch("csv", 10, 2000);
    auto rms = s.claim_batch("rms", 10, 2000);
    REQUIRE(csv);
    REQUIRE(rms);
    REQUIRE(rms->items.size() == 3);
    batch_key_before = rms->key;
    s.settle_batch(*csv, {core::DeliveryOutcome::ok()}, 2000, kRetry, {"Dropped.", false});
    s.settle_batch(*rms,
                   {core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "io_error", "down"),
                    core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "soap_client_fault", "bad"),
                    core::DeliveryOutcome::ok("RMS-3")},
                   2000, kRetry, kRule);
    auto tx = s.begin_ingest();
    tx->claim_version(row("bad", 1, 4), "h", 1000);
    tx->set_outcome(row("bad", 1, 4), "rejected");
    tx->quarantine({4, "bad", 1, "invalid_payload", "/kind", "not in the list", "", 1000});
    tx->save_cursor("app", {4, {{2, 2, 900}}});
    tx->commit();
    s.save_target_health({"rms", "open", 3, 2000, 32000, "io_error: down"}, 2000);
  }
  std::string conninfo;
  const auto report = copy_verified(*server, path, conninfo);
  INFO(report.text);
  CHECK(report.text.find("ledger                      4 -> 4") != std::string::npos);
  auto target = connect_to(conninfo);

  pg_store::PgStateStore pg(connect_to(conninfo));
  pg.set_writeback_rule("rms", kRule);
  pg.set_writeback_rule("csv", {"Dropped.", false});
  CHECK(pg.ledger_count() == 4);
  CHECK(pg.quarantine_count() == 1);
  auto cursor = pg.load_cursor("app");
  CHECK(cursor.high_water == 4);
  REQUIRE(cursor.gaps.size() == 1);
  CHECK(pg.target_health().at(0).circuit == "open");
  CHECK(pg.reference_for("sub-3", "rms") == "RMS-3");
  auto dead = pg.dead_letters({}, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].submission_id == "sub-2");
  CHECK(dead[0].replayable);
  const auto counts = pg.target_counts();
  REQUIRE(counts.size() == 2);
  CHECK(counts[0].target == "csv");
  CHECK(counts[0].delivered == 1);
  CHECK(counts[1].delivered == 1);
  CHECK(counts[1].pending == 1);
  CHECK(counts[1].dead == 1);
  // The statuses queued on SQLite (sub-2 received, sub-3 forwarded) wait on PostgreSQL.
  const auto waiting = pg.pending_writebacks(10);
  REQUIRE(waiting.size() == 2);
  CHECK(waiting[0].update.submission_id == "sub-2");
  CHECK(waiting[1].update.reference == "RMS-3");
  pg.mark_writebacks_done(waiting);

  // The retry goes on: delivered on PostgreSQL, sub-1 is settled at both
  // targets and gets its hint's status (the item metadata came across).
  auto again = pg.claim_batch("rms", 10, 10'000'000);
  REQUIRE(again);
  REQUIRE(again->items.size() == 1);
  CHECK(again->items[0].record.submission_id == "sub-1");
  CHECK(again->items[0].attempts == 1);
  CHECK(again->key > batch_key_before);  // batch numbering goes on after SQLite's: no key twice
  pg.settle_batch(*again, {core::DeliveryOutcome::ok("RMS-1")}, 10'000'000, kRetry, kRule);
  auto wb = pg.pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.submission_id == "sub-1");
  CHECK(wb[0].update.state == "needs_review");
  // New items are numbered after the copied ones.
  enqueue(pg, "sub-5", 5, {"rms"});
  auto next = pg.claim_batch("rms", 10, 10'000'000);
  REQUIRE(next);
  CHECK(next->items[0].outbox_id > again->items[0].outbox_id);

  // The target now holds state: refused unless told to replace it.
  auto second = app::copy_sqlite_to_postgres(path, *target, false);
  CHECK_FALSE(second.ok);
  CHECK(second.text.find("--replace") != std::string::npos);
  auto replaced = app::copy_sqlite_to_postgres(path, *target, true);
  INFO(replaced.text);
  CHECK(replaced.ok);
  CHECK(pg.ledger_count() == 4);
}

TEST_CASE("state copy refuses a SQLite outbox with records no claim has taken, and changes nothing") {
  PG_SERVER_OR_SKIP(server);
  testing::TempDir dir;
  const std::string path = (dir / "state.db").string();
  {
    store::SqliteStateStore s(path);
    enqueue(s, "waiting", 1, {"rms"});
  }
  const std::string conninfo = server->conninfo(server->create_database());
  auto target = connect_to(conninfo);
  auto report = app::copy_sqlite_to_postgres(path, *target, false);
  CHECK_FALSE(report.ok);
  CHECK(report.text.find("1 record(s) no claim has taken") != std::string::npos);
  CHECK(pg_store::database_schema_version(*target) == 0);  // nothing written
  store::SqliteStateStore s(path);
  CHECK(s.claim_batch("rms", 10, 2000));  // the source is as it was
}

TEST_CASE("state copy carries the deduplication history: the fleet judges against what SQLite recorded") {
  PG_SERVER_OR_SKIP(server);
  testing::TempDir dir;
  const std::string path = (dir / "state.db").string();
  const auto key = dir / "dedup.key";
  testing::write_file(key, "0123456789abcdef0123456789abcdef");
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  dedup::DedupSettings settings;
  settings.reporter_key_file = key.string();
  dedup::Verdict related;
  {
    store::SqliteStateStore s(path);
    dedup::Deduplicator d(s.open_dedup_tables(), settings);
    const auto first = testing::base_doc();
    CHECK(d.check_and_record(first, testing::row_of(first, 1, "2026-11-27T18:42:11Z")).kind ==
          dedup::Verdict::Kind::original);
    const auto second = testing::reworded("b1");
    related = d.check_and_record(second, testing::row_of(second, 2, "2026-11-27T19:05:00Z"));
    REQUIRE(related.kind == dedup::Verdict::Kind::related);
  }
  std::string conninfo;
  const auto report = copy_verified(*server, path, conninfo);
  INFO(report.text);
  CHECK(report.text.find("dedup_verdicts              2 -> 2") != std::string::npos);
  CHECK(report.text.find("dedup_incidents             2 -> 2") != std::string::npos);
  CHECK(report.text.find("dedup_reporters             2 -> 2") != std::string::npos);

  pg_store::PgStateStore pg(connect_to(conninfo));
  dedup::Deduplicator d(pg.open_dedup_tables(), settings);
  auto stored = d.recorded_verdict("b1", 1);
  REQUIRE(stored);
  CHECK(stored->explanation == related.explanation);  // the figures came across
  // A double tap of a1 and a third report of the incident, judged on PostgreSQL.
  auto tap = testing::base_doc();
  tap.as_object()["id"] = "a2";
  auto tx = pg.begin_ingest();
  const auto v = d.check_and_record(tap, testing::row_of(tap, 3, "2026-11-27T18:42:40Z"));
  CHECK(v.kind == dedup::Verdict::Kind::duplicate);
  CHECK(v.of_id == "a1");
  CHECK(v.reporter_key == d.recorded_verdict("a1", 1)->reporter_key);
  auto third = testing::reworded("b2");
  third.as_object()["location"].as_object()["lat"] = 54.57480;  // not a copy of b1
  const auto v3 = d.check_and_record(third, testing::row_of(third, 4, "2026-11-27T19:10:00Z"));
  CHECK(v3.kind == dedup::Verdict::Kind::related);
  CHECK(v3.of_id == "a1");
  tx->commit();
}
