// Deduplication on each state store (issue #16: "dedup sees every instance's
// history"): the same judgements on SQLite and on PostgreSQL, inside ingest
// transactions, read back by another connection (another instance), undone
// with a rolled-back batch, purged; and on PostgreSQL, an instance whose
// in-memory window went stale while another held the ingest lease.
#include "tests/unit/pg_store/backends.hpp"

#include <sys/stat.h>

#include <thread>

#include "bridge/dedup/deduplicator.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/dedup/dedup_docs.hpp"

using namespace reportbridge;
using dedup::Deduplicator;
using dedup::Verdict;
using testing::base_doc;
using testing::reworded;
using testing::row_of;
namespace json = boost::json;

namespace {

dedup::DedupSettings settings_with_key(const testing::TempDir& dir) {
  const auto path = (dir / "dedup.key").string();
  testing::write_file(path, "0123456789abcdef0123456789abcdef");
  ::chmod(path.c_str(), 0600);
  dedup::DedupSettings s;
  s.reporter_key_file = path;
  return s;
}

// A double tap of base_doc() under `id`.
json::value tap_of(const std::string& id) {
  json::value d = base_doc();
  d.as_object()["id"] = id;
  d.as_object()["submitted_at"] = "2026-11-27T18:42:25+00:00";
  return d;
}

// Judges `doc` in an ingest transaction of its own, committed.
Verdict judge(store::StateStore& s, Deduplicator& d, const json::value& doc, std::int64_t seq,
              const std::string& received_at) {
  auto tx = s.begin_ingest();
  auto v = d.check_and_record(doc, row_of(doc, seq, received_at));
  tx->commit();
  return v;
}

}  // namespace

TEST_CASE("dedup on each state store: duplicates, related reports, reporter keys, seen from another connection") {
  FOR_EACH_STATE_BACKEND(backend);
  testing::TempDir keys;
  const auto settings = settings_with_key(keys);
  auto a = backend.open();
  Deduplicator da(a->open_dedup_tables(), settings);
  const auto first = base_doc();
  const auto v1 = judge(*a, da, first, 1, "2026-11-27T18:42:11Z");
  CHECK(v1.kind == Verdict::Kind::original);
  REQUIRE(v1.reporter_key);
  CHECK(backend.scalar("SELECT count(*) FROM dedup_verdicts") == "1");
  CHECK(backend.scalar("SELECT count(*) FROM dedup_reporters") == "2");  // email and phone

  // Another connection (another instance of a fleet, or the bridge restarted):
  // it judges against what the first recorded.
  auto b = backend.open();
  Deduplicator db(b->open_dedup_tables(), settings);
  const auto v2 = judge(*b, db, tap_of("a2"), 2, "2026-11-27T18:42:30Z");
  CHECK(v2.kind == Verdict::Kind::duplicate);
  CHECK(v2.of_id == "a1");
  CHECK(v2.reporter_key == v1.reporter_key);
  const auto v3 = judge(*b, db, reworded("b1"), 3, "2026-11-27T19:05:00Z");
  CHECK(v3.kind == Verdict::Kind::related);
  CHECK(v3.of_id == "a1");
  CHECK(v3.explanation.find(" m apart") != std::string::npos);

  // Stored verdicts read back with their explanation (the audit trail).
  auto stored = da.recorded_verdict("a2", 1);
  REQUIRE(stored);
  CHECK(stored->kind == Verdict::Kind::duplicate);
  CHECK(stored->explanation == v2.explanation);
  CHECK_FALSE(da.recorded_verdict("zz", 1));
  // Judged again: the stored verdict (a batch replayed after a crash).
  auto again = judge(*b, db, tap_of("a2"), 2, "2026-11-27T18:42:30Z");
  CHECK(again.replayed);
  CHECK(again.of_id == "a1");
  // preview: judged, nothing recorded.
  CHECK(da.check(tap_of("a9"), row_of(tap_of("a9"), 9, "2026-11-27T18:43:00Z")).kind == Verdict::Kind::duplicate);
  CHECK_FALSE(da.recorded_verdict("a9", 1));

  // Retention: everything received before the cutoff goes.
  CHECK(da.purge(*dedup::parse_rfc3339_ms("2026-11-27T18:50:00Z") + settings.retention.count()) == 6);
  CHECK(backend.scalar("SELECT count(*) FROM dedup_fingerprints") == "1");  // b1's
  CHECK(backend.scalar("SELECT count(*) FROM dedup_verdicts") == "1");
}

TEST_CASE("dedup on each state store: a rolled-back batch leaves no verdict and no index row behind") {
  FOR_EACH_STATE_BACKEND(backend);
  testing::TempDir keys;
  auto s = backend.open();
  Deduplicator d(s->open_dedup_tables(), settings_with_key(keys));
  {
    auto tx = s->begin_ingest();
    CHECK(d.check_and_record(base_doc(), row_of(base_doc(), 1, "2026-11-27T18:42:11Z")).kind ==
          Verdict::Kind::original);
    // no commit: the batch is undone (a crash, a lost lease)
  }
  CHECK(backend.scalar("SELECT count(*) FROM dedup_verdicts") == "0");
  // The in-memory window is dropped with it: the copy is not a duplicate of a
  // report that was never recorded.
  const auto v = judge(*s, d, tap_of("a2"), 2, "2026-11-27T18:42:30Z");
  CHECK(v.kind == Verdict::Kind::original);
  CHECK_FALSE(d.recorded_verdict("a1", 1));
}

TEST_CASE("dedup on each state store: the earlier copy ingested late supersedes the later one") {
  FOR_EACH_STATE_BACKEND(backend);
  testing::TempDir keys;
  auto s = backend.open();
  Deduplicator d(s->open_dedup_tables(), settings_with_key(keys));
  judge(*s, d, tap_of("late"), 1, "2026-11-27T18:42:30Z");  // received later, ingested first
  auto early = base_doc();
  auto tx = s->begin_ingest();
  const auto row = row_of(early, 2, "2026-11-27T18:42:11Z");
  auto v = d.check_and_record(early, row);
  CHECK(v.kind == Verdict::Kind::duplicate);
  CHECK(v.received_before_of);
  auto swapped = d.supersede(early, row);
  REQUIRE(swapped);
  tx->commit();
  CHECK(swapped->verdict.kind == Verdict::Kind::original);
  CHECK(swapped->later_id == "late");
  CHECK(swapped->later_verdict.kind == Verdict::Kind::duplicate);
  CHECK(swapped->later_verdict.of_id == "a1");
  CHECK(backend.scalar("SELECT id FROM dedup_fingerprints") == "a1");
  // A third copy is a duplicate of the first received.
  CHECK(judge(*s, d, tap_of("third"), 3, "2026-11-27T18:43:00Z").of_id == "a1");
}

TEST_CASE("dedup on PostgreSQL: an instance's window is rebuilt after another instance held the ingest lease") {
  PG_SERVER_OR_SKIP(server);
  const std::string conninfo = server->conninfo(server->create_database()) + " sslmode=disable";
  const auto lease = std::chrono::milliseconds(300);
  auto open = [&](const char* name) {
    return std::make_unique<pg_store::PgStateStore>(std::make_unique<pg::Connection>(conninfo), name, lease);
  };
  testing::TempDir keys;
  const auto settings = settings_with_key(keys);
  auto a = open("a");
  auto b = open("b");
  Deduplicator da(a->open_dedup_tables(), settings);
  Deduplicator db(b->open_dedup_tables(), settings);
  // a ingests (its window now holds a1 and nothing else).
  CHECK(judge(*a, da, base_doc(), 1, "2026-11-27T18:42:11Z").kind == Verdict::Kind::original);
  // a's lease runs out; b takes ingest over and records another report.
  std::this_thread::sleep_for(lease + std::chrono::milliseconds(200));
  auto other = reworded("x1");
  other.as_object()["category"] = "fly_tipping";
  CHECK(judge(*b, db, other, 2, "2026-11-27T18:50:00Z").kind == Verdict::Kind::original);
  // b's lease runs out; a takes it back: a copy of b's report is a duplicate
  // of it (a's window, which lacked it, was rebuilt from the tables).
  std::this_thread::sleep_for(lease + std::chrono::milliseconds(200));
  auto copy = other;
  copy.as_object()["id"] = "x2";
  const auto v = judge(*a, da, copy, 3, "2026-11-27T18:51:00Z");
  CHECK(v.kind == Verdict::Kind::duplicate);
  CHECK(v.of_id == "x1");
}
