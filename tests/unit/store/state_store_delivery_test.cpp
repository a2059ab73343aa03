// Updates against the target's reference, in-doubt items, dead letters and
// replays, retention, circuit state and the v1 -> v2 migration.
#include <catch2/catch.hpp>

#include <filesystem>

#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;

namespace {

void enqueue(store::StateStore& s, const std::string& id, std::int64_t version, std::int64_t seq,
             const std::vector<std::string>& targets) {
  std::vector<reportbridge::testing::Queued> records;
  for (const auto& t : targets) records.push_back({reportbridge::testing::ref_record(id, version, t), {}});
  reportbridge::testing::queue(s, {seq, id, version, "2026-11-27T18:42:11Z", "{}"}, records, 1000);
}

const store::RetryPolicy kRetry{3, std::chrono::milliseconds(10), std::chrono::milliseconds(10)};
const store::WritebackRule kRule{"Passed on.", true};

}  // namespace

TEST_CASE("a later version waits for the earlier one, then goes as an update of its reference") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "sub-1", 1, 1, {"rms"});
  enqueue(s, "sub-1", 2, 2, {"rms"});
  enqueue(s, "sub-2", 1, 3, {"rms"});

  auto first = s.claim_batch("rms", 10, 2000);
  REQUIRE(first);
  // v2 of sub-1 is held back while v1 is on its way; sub-2 is not affected.
  REQUIRE(first->items.size() == 2);
  CHECK(first->items[0].record.version == 1);
  CHECK(first->items[0].prior_reference.empty());
  CHECK(first->items[1].record.submission_id == "sub-2");
  CHECK(s.claim_batch("rms", 10, 2000) == std::nullopt);

  s.settle_batch(*first, {core::DeliveryOutcome::ok("RMS-100"), core::DeliveryOutcome::ok("RMS-200")},
                 2000, kRetry, kRule);
  auto second = s.claim_batch("rms", 10, 2000);
  REQUIRE(second);
  REQUIRE(second->items.size() == 1);
  CHECK(second->items[0].record.version == 2);
  CHECK(second->items[0].prior_reference == "RMS-100");
  CHECK_FALSE(second->items[0].in_doubt);
}

TEST_CASE("items of a batch recovered after a crash, or that failed after sending, are in doubt") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "sub-1", 1, 1, {"rms"});
  enqueue(s, "sub-2", 1, 2, {"rms"});
  auto b = s.claim_batch("rms", 10, 2000);
  REQUIRE(b);
  auto open = s.open_batches("rms");
  REQUIRE(open.size() == 1);
  for (const auto& item : open[0].items) CHECK(item.in_doubt);

  auto dropped = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "connection_lost", "after send");
  dropped.in_doubt = true;
  auto refused = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "connect_refused", "before send");
  s.settle_batch(*b, {dropped, refused}, 2000, kRetry, kRule);
  auto again = s.claim_batch("rms", 10, 10'000'000);
  REQUIRE(again);
  REQUIRE(again->items.size() == 2);
  CHECK(again->items[0].in_doubt);
  CHECK_FALSE(again->items[1].in_doubt);
  CHECK(again->items[0].attempts == 1);
}

TEST_CASE("dead letters are listed and replayed for their own target only") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "sub-1", 1, 1, {"rms", "npt"});
  auto rms = s.claim_batch("rms", 10, 2000);
  auto npt = s.claim_batch("npt", 10, 2000);
  REQUIRE(rms);
  REQUIRE(npt);
  s.settle_batch(*rms, {core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "soap_client_fault", "bad code")},
                 2000, kRetry, kRule);
  s.settle_batch(*npt, {core::DeliveryOutcome::ok()}, 2000, kRetry, kRule);

  auto dead = s.dead_letters({}, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].target == "rms");
  CHECK(dead[0].last_error == "soap_client_fault: bad code");
  CHECK(dead[0].replayable);
  CHECK(s.dead_letters({"npt", "", 0}, 10).empty());

  s.request_replay({"", "sub-1", 0}, "operator test", 3000);
  auto done = s.carry_out_replays(3000);
  REQUIRE(done.size() == 1);
  CHECK(done[0].requested_by == "operator test");
  REQUIRE(done[0].replayed.size() == 1);
  CHECK(done[0].replayed[0].target == "rms");
  CHECK(s.carry_out_replays(3001).empty());  // a request is carried out once

  // Only rms gets it again; npt already has it.
  CHECK(s.claim_batch("npt", 10, 4000) == std::nullopt);
  auto again = s.claim_batch("rms", 10, 4000);
  REQUIRE(again);
  REQUIRE(again->items.size() == 1);
  CHECK(again->items[0].attempts == 0);
  s.settle_batch(*again, {core::DeliveryOutcome::ok("RMS-9")}, 4000, kRetry, kRule);
  CHECK(s.dead_letters({}, 10).empty());
  auto counts = s.target_counts();
  for (const auto& c : counts) CHECK(c.delivered == 1);
}

TEST_CASE("retention erases the record copies of old dead letters, which then cannot be replayed") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "old", 1, 1, {"rms"});
  auto b1 = s.claim_batch("rms", 10, 1000);
  s.settle_batch(*b1, {core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "x", "y")}, 1000, kRetry, kRule);
  enqueue(s, "new", 1, 2, {"rms"});
  auto b2 = s.claim_batch("rms", 10, 9000);
  s.settle_batch(*b2, {core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "x", "y")}, 9000, kRetry, kRule);

  auto erased = s.purge_dead_records(5000);
  REQUIRE(erased.size() == 1);
  CHECK(erased[0].submission_id == "old");
  CHECK(s.purge_dead_records(5000).empty());
  auto q = s.db().prepare("SELECT count(*) FROM outbox_records");
  REQUIRE(q.step());
  CHECK(q.int64(0) == 1);  // the copy of "new" only
  auto dead = s.dead_letters({}, 10);
  REQUIRE(dead.size() == 2);  // still accounted for
  CHECK_FALSE(dead[0].replayable);
  CHECK(s.replay({"", "old", 0}, 10000).empty());
  CHECK(s.replay({"", "new", 0}, 10000).size() == 1);
}

TEST_CASE("circuit state is saved and read back") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  s.save_target_health({"rms", "open", 5, 100, 30100, "http_503: unavailable"}, 100);
  s.save_target_health({"rms", "closed", 0, 0, 0, ""}, 200);
  s.save_target_health({"psd", "open", 7, 100, 500, "io_error: disk full"}, 200);
  auto h = s.target_health();
  REQUIRE(h.size() == 2);
  CHECK(h[0].target == "psd");
  CHECK(h[0].consecutive_failures == 7);
  CHECK(h[1].circuit == "closed");
}

TEST_CASE("backlog counts pending and in-flight items per target with the oldest's time") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "a", 1, 1, {"rms"});
  enqueue(s, "b", 1, 2, {"rms"});
  auto b = s.claim_batch("rms", 1, 2000);
  REQUIRE(b);
  auto backlog = s.backlog({"rms", "npt"});
  REQUIRE(backlog.size() == 2);
  CHECK(backlog[0].pending == 2);
  CHECK(backlog[0].oldest_enqueued_ms == 1000);
  CHECK(backlog[1].pending == 0);
  CHECK(backlog[1].oldest_enqueued_ms == 0);
}

TEST_CASE("a version 1 state database is migrated in place") {
  TempDir dir;
  const auto path = (dir / "state.db").string();
  // A database written by main at 5fd1c87 (schema 3), taken back to what
  // schema version 1 had.
  std::filesystem::copy_file(REPORTBRIDGE_SOURCE_DIR "/tests/fixtures/state/v3-main-5fd1c87.db", path);
  {
    store::Database db(path, store::Database::Mode::read_write);
    db.exec("DROP TABLE legacy_refs; DROP TABLE target_health; DROP TABLE replay_requests; DROP TABLE status_hints;"
            " DROP INDEX outbox_open_by_submission; DROP INDEX outbox_dead_by_submission;"
            " ALTER TABLE outbox_items DROP COLUMN in_doubt;"
            " UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  }
  store::SqliteStateStore s(path);
  auto v = s.db().prepare("SELECT value FROM meta WHERE key = 'schema_version'");
  REQUIRE(v.step());
  CHECK(v.text(0) == "5");
  auto open = s.open_batches("rms_soap");
  REQUIRE(open.size() == 1);
  CHECK(open[0].items.size() == 10);
  CHECK(s.target_health().empty());
}

TEST_CASE("a state database from a newer build is refused") {
  TempDir dir;
  const auto path = (dir / "state.db").string();
  {
    store::SqliteStateStore s(path);
    s.db().exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
  }
  CHECK_THROWS_WITH(store::SqliteStateStore(path), Catch::Contains("schema version 99"));
}

TEST_CASE("references are kept only for targets that read them back, reference_for finds them by target") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "sub-1", 1, 1, {"csv", "rms"});
  auto csv = s.claim_batch("csv", 10, 2000);
  auto rms = s.claim_batch("rms", 10, 2000);
  REQUIRE(csv);
  REQUIRE(rms);
  s.settle_batch(*csv, {core::DeliveryOutcome::ok("csv-file#1")}, 2000, kRetry, {"Passed on.", false, false});
  s.settle_batch(*rms, {core::DeliveryOutcome::ok("RMS-7")}, 2100, kRetry, kRule);
  auto count = s.db().prepare("SELECT COUNT(*) FROM legacy_refs WHERE target = 'csv'");
  REQUIRE(count.step());
  CHECK(count.int64(0) == 0);  // nothing reads the CSV drop's references: none written
  CHECK(s.reference_for("sub-1", "rms") == "RMS-7");
  CHECK(s.reference_for("sub-1", "csv").empty());
  CHECK(s.reference_for("sub-1") == "RMS-7");  // any target, newest
  CHECK(s.reference_for("sub-2").empty());
  // The lookups use the primary key and the open-items index, not a scan.
  auto plan = s.db().prepare(
      "EXPLAIN QUERY PLAN SELECT 1 FROM outbox_items e WHERE e.target = 'rms' AND e.submission_id = 'x'"
      " AND e.version < 2 AND e.state IN ('pending', 'waiting', 'in_flight')");
  std::string details;
  while (plan.step()) details += plan.text(3) + "\n";
  CHECK(details.find("outbox_open_by_submission") != std::string::npos);
}

// Issue #14 (memory): a claim is bounded by the bytes its records take once
// decoded (field structs, names, values), not by their compact encoding, which
// is many times smaller for records of many short fields: the delivery of a
// sink with large batches (CSV: 10,000 rows) held tens of MiB per target.
TEST_CASE("a claim is bounded by the memory its decoded records take") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  for (int i = 0; i < 100; ++i) {
    core::TargetRecord r = reportbridge::testing::ref_record("sub-" + std::to_string(i), 1, "csv");
    for (int f = 0; f < 200; ++f) r.fields.push_back({"AFieldNameLongerThanSixteen" + std::to_string(f), "x"});
    reportbridge::testing::queue(s, {i + 1, r.submission_id, 1, "2026-11-27T18:42:11Z", "{}"}, {{r, {}}}, 1000);
  }
  // Encoded, a record is about 600 bytes (100 of them: 60 KiB, under the
  // limit); decoded, each takes 200 field structs and 200 heap-held names.
  auto b = s.claim_batch("csv", store::ClaimLimits{1000, 64u << 10}, 2000);
  REQUIRE(b);
  CHECK(b->items.size() >= 1);
  CHECK(b->items.size() <= 6);
  // The rest follows in later claims, in order, nothing skipped.
  std::size_t total = b->items.size();
  std::int64_t last = b->items.back().outbox_id;
  s.settle_batch(*b, std::vector<core::DeliveryOutcome>(b->items.size(), core::DeliveryOutcome::ok("R")), 2000, kRetry,
                 kRule);
  while (auto next = s.claim_batch("csv", store::ClaimLimits{1000, 64u << 10}, 2000)) {
    CHECK(next->items.front().outbox_id > last);
    last = next->items.back().outbox_id;
    total += next->items.size();
    s.settle_batch(*next, std::vector<core::DeliveryOutcome>(next->items.size(), core::DeliveryOutcome::ok("R")), 2000,
                   kRetry, kRule);
  }
  CHECK(total == 100);
}

TEST_CASE("items settle while the rest of their batch is in flight, a crash leaves only the rest in doubt") {
  TempDir dir;
  const auto path = (dir / "state.db").string();
  store::SqliteStateStore s(path);
  REQUIRE(s.settles_items());
  enqueue(s, "sub-1", 1, 1, {"rms"});
  enqueue(s, "sub-2", 1, 2, {"rms"});
  enqueue(s, "sub-3", 1, 3, {"rms"});
  enqueue(s, "sub-2", 2, 4, {"rms"});

  auto b = s.claim_batch("rms", 10, 2000);
  REQUIRE(b);
  REQUIRE(b->items.size() == 3);  // sub-2 v2 waits for v1
  REQUIRE(b->items[1].record.submission_id == "sub-2");
  s.settle_items(*b, {1}, {core::DeliveryOutcome::ok("RMS-2")}, 2100, kRetry, kRule);

  // Its status is queued at once, with the reference.
  auto statuses = s.pending_writebacks(100);
  bool sub2 = false;
  for (const auto& w : statuses)
    if (w.update.submission_id == "sub-2") {
      sub2 = true;
      CHECK(w.update.state == "forwarded");
      CHECK(w.update.reference == "RMS-2");
    }
  CHECK(sub2);
  for (const auto& c : s.target_counts())
    if (c.target == "rms") {
      CHECK(c.delivered == 1);
      CHECK(c.in_flight == 2);
    }
  {
    // The bridge dies now: another process finds the batch open with only the
    // two items still on their way, both in doubt.
    store::SqliteStateStore after(path);
    auto open = after.open_batches("rms");
    REQUIRE(open.size() == 1);
    REQUIRE(open[0].items.size() == 2);
    CHECK(open[0].key == b->key);
    CHECK(open[0].items[0].record.submission_id == "sub-1");
    CHECK(open[0].items[1].record.submission_id == "sub-3");
    for (const auto& item : open[0].items) CHECK(item.in_doubt);
  }
  // v2 of sub-2 goes now, as an update of v1's reference, while the batch is still open.
  auto next = s.claim_batch("rms", 10, 2200);
  REQUIRE(next);
  REQUIRE(next->items.size() == 1);
  CHECK(next->items[0].record.version == 2);
  CHECK(next->items[0].prior_reference == "RMS-2");

  auto dropped = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "connection_lost", "after send");
  dropped.in_doubt = true;
  s.settle_items(*b, {2, 0}, {dropped, core::DeliveryOutcome::ok("RMS-1")}, 2300, kRetry, kRule);
  CHECK_THROWS_AS(s.settle_items(*b, {0}, {core::DeliveryOutcome::ok("RMS-1")}, 2300, kRetry, kRule),
                  std::logic_error);
  s.settle_batch(*next, {core::DeliveryOutcome::ok("RMS-2")}, 2300, kRetry, kRule);
  CHECK(s.open_batches("rms").empty());
  for (const auto& c : s.target_counts())
    if (c.target == "rms") {
      CHECK(c.delivered == 3);
      CHECK(c.in_flight == 0);
      CHECK(c.pending == 1);  // sub-3, in doubt
    }
  auto retry = s.claim_batch("rms", 10, 10'000'000);
  REQUIRE(retry);
  REQUIRE(retry->items.size() == 1);
  CHECK(retry->items[0].record.submission_id == "sub-3");
  CHECK(retry->items[0].in_doubt);
}
