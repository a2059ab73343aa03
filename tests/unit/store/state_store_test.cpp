#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;

namespace {

core::SourceRow row(const std::string& id, std::int64_t seq) {
  return {seq, id, 1, "2026-11-27T18:42:11Z", "{}"};
}

void enqueue(store::StateStore& s, const std::string& id, std::int64_t seq,
             const std::vector<std::string>& targets) {
  std::vector<reportbridge::testing::Queued> records;
  for (const auto& t : targets) records.push_back({reportbridge::testing::ref_record(id, 1, t), {}});
  reportbridge::testing::queue(s, row(id, seq), records, 1000);
}

const store::RetryPolicy kRetry{3, std::chrono::milliseconds(10), std::chrono::milliseconds(10)};

}  // namespace

TEST_CASE("the ledger refuses a second claim of the same version") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  auto tx = s.begin_ingest();
  CHECK(tx->claim_version(row("a", 1), "h", 1));
  CHECK_FALSE(tx->claim_version(row("a", 7), "h", 2));  // replayed under another seq
  CHECK(tx->claim_version(row("b", 2), "h", 3));
  tx->commit();
  CHECK(s.ledger_count() == 2);
}

TEST_CASE("cursor with gaps survives a reopen") {
  TempDir dir;
  {
    store::SqliteStateStore s((dir / "state.db").string());
    auto tx = s.begin_ingest();
    tx->save_cursor("app", {42, {{3, 5, 100}, {9, 9, 200}}});
    tx->commit();
  }
  store::SqliteStateStore s((dir / "state.db").string());
  auto c = s.load_cursor("app");
  CHECK(c.high_water == 42);
  REQUIRE(c.gaps.size() == 2);
  CHECK(c.gaps[0].first == 3);
  CHECK(c.gaps[0].last == 5);
  CHECK(c.gaps[1].opened_at_ms == 200);
  CHECK(s.load_cursor("other").high_water == 0);
}

TEST_CASE("a submission is written back as forwarded only when every target has it") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "sub-1", 1, {"a", "b"});
  store::WritebackRule rule{"Passed on.", true};
  auto ba = s.claim_batch("a", 10, 2000);
  REQUIRE(ba);
  REQUIRE(ba->items.size() == 1);
  CHECK(ba->items[0].record.target == "a");
  s.settle_batch(*ba, {core::DeliveryOutcome::ok("A-1")}, 2000, kRetry, rule);
  CHECK(s.pending_writebacks(10).empty());  // b has not got it yet
  auto bb = s.claim_batch("b", 10, 2000);
  REQUIRE(bb);
  s.settle_batch(*bb, {core::DeliveryOutcome::ok("B-7")}, 2000, kRetry, rule);
  auto wb = s.pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.submission_id == "sub-1");
  CHECK(wb[0].update.state == "forwarded");
  CHECK(wb[0].update.message == "Passed on.");
  CHECK((wb[0].update.reference == "A-1, B-7" || wb[0].update.reference == "B-7, A-1"));
  s.mark_writebacks_done({wb[0]});
  CHECK(s.pending_writeback_count() == 0);
}

TEST_CASE("claims are stable: open batches are handed back whole after a crash") {
  TempDir dir;
  {
    store::SqliteStateStore s((dir / "state.db").string());
    enqueue(s, "x", 1, {"a"});
    enqueue(s, "y", 2, {"a"});
    auto b = s.claim_batch("a", 10, 5000);
    REQUIRE(b);
    CHECK(b->items.size() == 2);
    CHECK(s.claim_batch("a", 10, 5000) == std::nullopt);  // nothing left to claim
  }
  store::SqliteStateStore s((dir / "state.db").string());
  auto open = s.open_batches("a");
  REQUIRE(open.size() == 1);
  CHECK(open[0].items.size() == 2);
  CHECK(open[0].items[0].record.submission_id == "x");
  CHECK(open[0].key.find("-000001") != std::string::npos);
}

TEST_CASE("retry backs off, reject and exhausted retries become dead letters") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "r", 1, {"a"});
  enqueue(s, "j", 2, {"a"});
  store::WritebackRule rule{"ok", false};
  auto b = s.claim_batch("a", 10, 1000);
  REQUIRE(b);
  s.settle_batch(*b,
                 {core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "io_error", "disk"),
                  core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "attachment_mismatch", "sha")},
                 1000, kRetry, rule);
  auto counts = s.target_counts();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].pending == 1);
  CHECK(counts[0].dead == 1);
  CHECK(s.pending_summary("a", 1000, 10).ready == 0);  // backing off
  // The rejected one is settled: the resident is told it was received.
  auto wb = s.pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.submission_id == "j");
  CHECK(wb[0].update.state == "received");
  for (int attempt = 2; attempt <= 3; ++attempt) {
    const std::int64_t later = 1'000'000LL * attempt;  // past any backoff
    auto again = s.claim_batch("a", 10, later);
    REQUIRE(again);
    s.settle_batch(*again, {core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "io_error", "disk")},
                   later, kRetry, rule);
  }
  counts = s.target_counts();
  CHECK(counts[0].pending == 0);
  CHECK(counts[0].dead == 2);
}

TEST_CASE("pending summary counts due items up to the batch size, with the oldest's age") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  for (int i = 0; i < 5; ++i) enqueue(s, "s" + std::to_string(i), i + 1, {"a"});
  auto p = s.pending_summary("a", 2000, 3);
  CHECK(p.ready == 3);
  CHECK(p.oldest_enqueued_ms == 1000);
  CHECK(s.pending_summary("b", 2000, 3).ready == 0);
}

TEST_CASE("rfc3339_utc formats milliseconds since the epoch") {
  CHECK(store::rfc3339_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(store::rfc3339_utc(1'795'804'930'000) == "2026-11-27T18:42:10Z");
}

TEST_CASE("an unreadable stored record becomes a dead letter, the rest of the batch goes on") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  enqueue(s, "good", 1, {"a"});
  enqueue(s, "bad", 2, {"a"});
  auto first = s.claim_batch("a", 10, 2000);
  REQUIRE(first);
  // Both go back for a retry, each with its own copy of its record; one copy is damaged.
  const auto retry = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "io_error", "disk");
  s.settle_batch(*first, {retry, retry}, 2000, kRetry, {"ok", false});
  s.db().exec("UPDATE outbox_records SET record = x'52ff' WHERE item_id = 2");
  auto b = s.claim_batch("a", 10, 10'000'000);
  REQUIRE(b);
  REQUIRE(b->items.size() == 1);
  CHECK(b->items[0].record.submission_id == "good");
  auto counts = s.target_counts();
  CHECK(counts[0].dead == 1);
  CHECK(counts[0].in_flight == 1);
  auto dead = s.dead_letters({}, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].submission_id == "bad");
  CHECK(dead[0].last_error == "record_unreadable");
}

// Issue #15 item 12: the state database (and its -wal and -shm) held personal
// data world-readable (0644) while the audit trail was 0640.
TEST_CASE("the state database and its WAL files are created 0640 and tightened when older ones are open") {
  TempDir dir;
  const mode_t old_umask = ::umask(022);
  auto mode_of = [](const std::filesystem::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
  };
  {
    store::SqliteStateStore s((dir / "state.db").string());
    auto tx = s.begin_ingest();
    tx->queue_status({"id", "received", "", "m", "t"}, 1);
    tx->commit();
    CHECK(mode_of(dir / "state.db") == 0640);
    CHECK(mode_of(dir / "state.db-wal") == 0640);
    CHECK(mode_of(dir / "state.db-shm") == 0640);
  }
  // A database an earlier version left 0644, with a stale WAL of the same mode.
  ::chmod((dir / "state.db").c_str(), 0644);
  reportbridge::testing::write_file(dir / "state.db-wal", "");
  ::chmod((dir / "state.db-wal").c_str(), 0666);
  {
    store::SqliteStateStore s((dir / "state.db").string());
    CHECK(mode_of(dir / "state.db") == 0640);
    CHECK(mode_of(dir / "state.db-wal") == 0640);
  }
  // A stricter mode the operator chose is kept.
  ::chmod((dir / "state.db").c_str(), 0600);
  {
    store::SqliteStateStore s((dir / "state.db").string());
    CHECK(mode_of(dir / "state.db") == 0600);
  }
  ::umask(old_umask);
}

TEST_CASE("a status waiting to be retried never overwrites a newer status of the same submission") {
  // v1's status is not taken by the app and waits its turn; meanwhile v2's
  // status is written. When v1's retry comes due it must not be written over
  // v2's (the app keeps one status per submission: the last write wins).
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  {
    auto tx = s.begin_ingest();
    tx->queue_status({"sub-1", "received", "", "v1", "2026-11-27T18:42:11Z"}, 1);
    tx->queue_status({"sub-2", "received", "", "other", "2026-11-27T18:42:11Z"}, 1);
    tx->commit();
  }
  const std::int64_t t0 = store::now_ms();
  auto first = s.pending_writebacks(10, t0);
  REQUIRE(first.size() == 2);
  std::vector<std::pair<store::WritebackItem, std::int64_t>> later;
  for (auto& w : first) later.emplace_back(w, t0 + 10'000);
  s.finish_writebacks({}, later);  // the app was away: both wait 10 s
  CHECK(s.pending_writebacks(10, t0).empty());
  {
    auto tx = s.begin_ingest();
    tx->queue_status({"sub-1", "needs_review", "", "v2", "2026-11-27T18:43:11Z"}, 2);
    tx->commit();
  }
  auto second = s.pending_writebacks(10, t0 + 1);
  REQUIRE(second.size() == 1);
  CHECK(second[0].update.message == "v2");
  s.mark_writebacks_done(second);
  // v1's retry is due now: it is superseded by v2 and dropped; sub-2's is kept.
  auto due = s.pending_writebacks(10, t0 + 20'000);
  REQUIRE(due.size() == 1);
  CHECK(due[0].update.submission_id == "sub-2");
  CHECK(s.pending_writeback_count() == 1);
}

TEST_CASE("an older status that fails in the same pass as a newer one is not written after it") {
  TempDir dir;
  store::SqliteStateStore s((dir / "state.db").string());
  {
    auto tx = s.begin_ingest();
    tx->queue_status({"sub-1", "received", "", "v1", "2026-11-27T18:42:11Z"}, 1);
    tx->commit();
  }
  {
    auto tx = s.begin_ingest();
    tx->queue_status({"sub-1", "received", "", "v2", "2026-11-27T18:43:11Z"}, 2);
    tx->commit();
  }
  const std::int64_t t0 = store::now_ms();
  auto both = s.pending_writebacks(10, t0);
  REQUIRE(both.size() == 2);
  CHECK(both[0].update.message == "v1");  // oldest first
  // v1 failed, v2 was written: v1's retry must not be kept.
  s.finish_writebacks({both[1]}, {{both[0], t0 + 1000}});
  CHECK(s.pending_writebacks(10, t0 + 5000).empty());
  CHECK(s.pending_writeback_count() == 0);
}

namespace {
std::uintmax_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}
}  // namespace

TEST_CASE("a written-back chunk is deleted without zeroing its pages and a delivered record is still erased") {
  // docs/performance.md, change 15: a chunk holds statuses, not what residents
  // wrote, so its freed pages are not zeroed (they were: ~80 MB of WAL per
  // million submissions); an outbox segment's still are, whatever ran before.
  TempDir dir;
  const auto path = dir / "state.db";
  store::SqliteStateStore s(path.string());
  store::WritebackRule rule{"Passed on.", true};
  const int n = 4000;
  for (int i = 0; i < n; ++i) enqueue(s, "sub-" + std::to_string(i), i + 1, {"a"});
  auto b = s.claim_batch("a", n, 1 << 24);
  REQUIRE(b);
  REQUIRE(b->items.size() == static_cast<std::size_t>(n));
  std::vector<core::DeliveryOutcome> ok;
  for (int i = 0; i < n; ++i) ok.push_back(core::DeliveryOutcome::ok("REF-" + std::to_string(i)));
  s.settle_batch(*b, ok, 2000, kRetry, rule);
  auto wb = s.pending_writebacks(n);
  REQUIRE(wb.size() == static_cast<std::size_t>(n));
  REQUIRE(wb[0].in_chunk);

  store::Database other(path.string(), store::Database::Mode::read_write);
  std::int64_t chunk_pages = 0;
  {
    auto q = other.prepare("SELECT sum(length(body)) FROM writeback_chunks");
    REQUIRE(q.step());
    chunk_pages = q.int64(0) / 4096;
  }
  REQUIRE(chunk_pages >= 16);
  other.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const auto wal = std::filesystem::path(path.string() + "-wal");
  REQUIRE(file_size_or_zero(wal) == 0);
  s.mark_writebacks_done(wb);
  CHECK(s.pending_writeback_count() == 0);
  const auto frames = static_cast<std::int64_t>(file_size_or_zero(wal)) / (4096 + 24);
  INFO("chunk pages " << chunk_pages << ", WAL frames written by the deletion " << frames);
  CHECK(frames * 4 < chunk_pages);

  // A record larger than a page (its segment spills to overflow pages), with
  // text a resident could have written: once delivered and released, the
  // state database's file no longer holds it.
  const std::string marker = "resident-wrote-this-";
  std::string text;
  while (text.size() < 20000) text += marker + std::to_string(text.size()) + " ";
  core::TargetRecord big{"sub-big", 1, std::string("m"), "a", {core::RecordField{"Text", text}}, {}};
  reportbridge::testing::queue(s, row("sub-big", n + 1), {{big, {}}}, 3000);
  auto bb = s.claim_batch("a", 10, 1 << 24);
  REQUIRE(bb);
  REQUIRE(bb->items.size() == 1);
  s.settle_batch(*bb, {core::DeliveryOutcome::ok("REF-big")}, 4000, kRetry, rule);
  CHECK(s.release_settled_records() >= 1);
  other.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  REQUIRE(file_size_or_zero(wal) == 0);
  CHECK(reportbridge::testing::read_file(path).find(marker) == std::string::npos);
}

TEST_CASE("a busy ingest erases the settled segments as it writes new ones") {
  // Change 15: each ingest transaction erases settled segments up to about
  // the bytes it writes (so their zeroed pages are filled again at once). The
  // delivered records must still go while ingest is busy, not pile up until
  // it idles.
  TempDir dir;
  const auto path = dir / "state.db";
  store::SqliteStateStore s(path.string());
  store::Database other(path.string(), store::Database::Mode::read_only);
  store::WritebackRule rule{"Passed on.", true};
  std::int64_t most = 0;
  for (int i = 0; i < 60; ++i) {
    // Records of varying size, some larger than a page.
    core::TargetRecord r{"sub-" + std::to_string(i), 1, std::string("m"), "a",
                         {core::RecordField{"Text", std::string(100 + (i * 997) % 9000, 'x')}}, {}};
    reportbridge::testing::queue(s, row(r.submission_id, i + 1), {{r, {}}}, 1000 + i);
    auto b = s.claim_batch("a", 10, 1 << 24);
    REQUIRE(b);
    s.settle_batch(*b, std::vector<core::DeliveryOutcome>(b->items.size(), core::DeliveryOutcome::ok("R")), 2000 + i,
                   kRetry, rule);
    auto q = other.prepare("SELECT count(*) FROM outbox_segments");
    REQUIRE(q.step());
    most = std::max(most, q.int64(0));
  }
  INFO("most segments kept at once " << most);
  CHECK(most <= 4);
  CHECK(s.release_settled_records() <= 4);
}
