// The spine on real components: a real app store (SQLite file), the real
// state database, the real schema from schemas/, a mapping file and the CSV
// drop sink writing into a temp folder.
#include <catch2/catch.hpp>

#include "bridge/store/sqlite_state_store.hpp"

#include <sqlite3.h>

#include <boost/json.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"
#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"
#include "bridge/core/sha256.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/pipeline/ingest.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
namespace fs = std::filesystem;

namespace {

struct Bridge {
  TempDir dir;
  std::string store_path = (dir / "store.db").string();
  std::unique_ptr<store::SqliteStateStore> state;
  std::unique_ptr<sqlite_store::SqliteStoreSource> source;
  std::optional<schema::SubmissionSchema> schema;
  std::optional<mapping::MappingSet> mappings;
  std::unique_ptr<csv_drop::CsvDropSink> sink;

  Bridge() {
    create_app_store(store_path);
    write_file(dir / "m.yaml", R"(mapping: m
targets: [drop]
when: {kind: [concern, information]}
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Summary, from: summary}
)");
    core::Diagnostics d;
    schema = schema::SubmissionSchema::load(std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json", d);
    mappings = mapping::MappingSet::load({(dir / "m.yaml").string()}, {"drop"}, d);
    INFO(d.to_string());
    REQUIRE(schema);
    REQUIRE(mappings);
    reopen();
  }

  // A fresh process view: new state connection, source and sink.
  void reopen() {
    state = std::make_unique<store::SqliteStateStore>((dir / "state.db").string());
    source = std::make_unique<sqlite_store::SqliteStoreSource>(
        sqlite_store::SqliteStoreConfig{"app", store_path, dir / "media"});
    csv_drop::CsvDropConfig c;
    c.name = "drop";
    c.directory = dir / "out";
    c.max_rows = 1000;
    c.max_age = std::chrono::milliseconds(0);
    sink = std::make_unique<csv_drop::CsvDropSink>(c, mappings->columns_for("drop"),
                                                   [](const core::AttachmentRef&) -> fs::path {
                                                     throw std::runtime_error("no media in this test");
                                                   });
  }

  pipeline::IngestStats ingest() {
    pipeline::Ingestor ing(*state, *source, *schema, *mappings, {100, std::chrono::minutes(10)});
    pipeline::IngestStats total;
    for (;;) {
      auto s = ing.run_batch();
      total += s;
      if (s.read == 0) break;
    }
    return total;
  }

  pipeline::DispatchStats dispatch() {
    pipeline::Dispatcher d(*state);
    d.add_target(*sink, {}, {"Passed to the team.", true});
    auto r = d.recover();
    auto s = d.dispatch(true);
    s.recovered_batches = r.recovered_batches;
    s.delivered += r.delivered;
    return s;
  }

  // (Ref, Version) -> count over every published CSV row.
  std::map<std::pair<std::string, std::string>, int> published() const {
    std::map<std::pair<std::string, std::string>, int> rows;
    if (!fs::exists(dir / "out")) return rows;
    for (const auto& e : fs::directory_iterator(dir / "out")) {
      if (e.path().extension() != ".csv") continue;
      std::string text = read_file(e.path());
      std::size_t pos = text.find("\r\n") + 2;  // skip header
      while (pos < text.size()) {
        std::size_t end = text.find("\r\n", pos);
        std::string line = text.substr(pos, end - pos);
        auto c1 = line.find(','), c2 = line.find(',', c1 + 1);
        rows[{line.substr(0, c1), line.substr(c1 + 1, c2 - c1 - 1)}]++;
        pos = end + 2;
      }
    }
    return rows;
  }

  std::map<std::string, std::string> statuses() const { return read_statuses(store_path); }
};

}  // namespace

TEST_CASE("rows committed out of seq order by two connections are all delivered") {
  Bridge b;
  insert_submission(b.store_path, 1, test_id(1), 1, valid_payload(test_id(1)));
  CHECK(b.ingest().queued == 1);
  // Writer B commits seq 3 before writer A commits seq 2.
  insert_submission(b.store_path, 3, test_id(3), 1, valid_payload(test_id(3)));
  auto s = b.ingest();
  CHECK(s.queued == 1);
  CHECK(s.open_gaps == 1);  // seq 2 is awaited
  insert_submission(b.store_path, 2, test_id(2), 1, valid_payload(test_id(2)));
  // and a burst with a hole that fills later still
  insert_submission(b.store_path, 7, test_id(7), 1, valid_payload(test_id(7)));
  s = b.ingest();
  CHECK(s.late_rows == 1);
  CHECK(s.queued == 2);
  insert_submission(b.store_path, 5, test_id(5), 1, valid_payload(test_id(5)));
  insert_submission(b.store_path, 4, test_id(4), 1, valid_payload(test_id(4)));
  insert_submission(b.store_path, 6, test_id(6), 1, valid_payload(test_id(6)));
  s = b.ingest();
  CHECK(s.late_rows == 3);
  CHECK(s.open_gaps == 0);
  b.dispatch();
  auto rows = b.published();
  REQUIRE(rows.size() == 7);
  for (int i = 1; i <= 7; ++i) CHECK(rows[{test_id(i), "1"}] == 1);
}

TEST_CASE("a malformed row is quarantined, written back as rejected, and later rows flow") {
  Bridge b;
  insert_submission(b.store_path, 1, test_id(1), 1, valid_payload(test_id(1)));
  insert_submission(b.store_path, 2, test_id(2), 1, R"({"id": "truncated)");
  std::string wrong_kind = valid_payload(test_id(3));
  wrong_kind.replace(wrong_kind.find("\"concern\""), 9, "\"emergency\"");
  insert_submission(b.store_path, 3, test_id(3), 1, wrong_kind);
  insert_submission(b.store_path, 4, test_id(4), 1, valid_payload(test_id(4)));
  insert_submission(b.store_path, 5, test_id(5), 1, valid_payload(test_id(5), 1, "compliment"));
  auto s = b.ingest();
  CHECK(s.rejected == 2);
  CHECK(s.queued == 2);
  CHECK(s.unrouted == 1);
  auto q = b.state->quarantined(10);
  REQUIRE(q.size() == 3);
  std::map<std::string, store::QuarantineEntry> by_id;
  for (const auto& e : q) by_id[e.submission_id] = e;
  CHECK(by_id[test_id(2)].reason_code == "invalid_payload");
  CHECK(by_id[test_id(3)].field == "/kind");
  CHECK(by_id[test_id(3)].detail.find("not one of") != std::string::npos);
  CHECK(by_id[test_id(3)].detail.find("emergency") == std::string::npos);  // no data echoed
  CHECK(by_id[test_id(5)].reason_code == "unrouted");
  b.dispatch();
  pipeline::WritebackWorker wb(*b.state, *b.source, 100);
  CHECK(wb.drain() == 5);
  auto st = b.statuses();
  CHECK(st[test_id(1)] == "forwarded");
  CHECK(st[test_id(2)] == "rejected");
  CHECK(st[test_id(3)] == "rejected");
  CHECK(st[test_id(4)] == "forwarded");
  CHECK(st[test_id(5)] == "received");
  // The app's rows are untouched.
  sqlite3* db = nullptr;
  sqlite3_open(b.store_path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT payload FROM submissions WHERE seq = 2", -1, &stmt, nullptr);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == R"({"id": "truncated)");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_CASE("every (id, version) is processed once even if the cursor is rewound") {
  Bridge b;
  for (int i = 1; i <= 5; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  insert_submission(b.store_path, 6, test_id(1), 2, valid_payload(test_id(1), 2));
  CHECK(b.ingest().queued == 6);
  // Simulate a source replaying everything (cursor lost).
  b.state->db().exec("UPDATE source_cursors SET high_water = 0");
  auto s = b.ingest();
  CHECK(s.read == 6);
  CHECK(s.already_seen == 6);
  CHECK(s.queued == 0);
  b.dispatch();
  auto rows = b.published();
  CHECK(rows.size() == 6);
  CHECK(rows[{test_id(1), "1"}] == 1);
  CHECK(rows[{test_id(1), "2"}] == 1);
}

TEST_CASE("a batch left open by a crash is delivered exactly once after restart") {
  Bridge b;
  for (int i = 1; i <= 10; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  b.ingest();
  SECTION("crash after claiming, before publishing") {
    auto batch = b.state->claim_batch("drop", 1000, store::now_ms());
    REQUIRE(batch);
    CHECK(b.published().empty());
  }
  SECTION("crash after publishing, before settling") {
    auto batch = b.state->claim_batch("drop", 1000, store::now_ms());
    REQUIRE(batch);
    b.sink->deliver(*batch);  // file published, outcome never recorded
    CHECK(b.published().size() == 10);
  }
  b.reopen();
  auto s = b.dispatch();
  CHECK(s.recovered_batches == 1);
  auto rows = b.published();
  REQUIRE(rows.size() == 10);
  for (const auto& [k, n] : rows) CHECK(n == 1);
  auto counts = b.state->target_counts();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].delivered == 10);
  CHECK(counts[0].in_flight == 0);
}

TEST_CASE("a sink that cannot write retries with backoff and nothing is lost") {
  Bridge b;
  for (int i = 1; i <= 3; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  b.ingest();
  write_file(b.dir / "out", "a file where the drop folder should be");
  auto s = b.dispatch();
  CHECK(s.retried == 3);
  auto counts = b.state->target_counts();
  CHECK(counts[0].pending == 3);
  fs::remove(b.dir / "out");
  // Due again: make the backoff elapse.
  b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
  s = b.dispatch();
  CHECK(s.delivered == 3);
  CHECK(b.published().size() == 3);
}

TEST_CASE("retries are capped: an item that keeps failing becomes a dead letter") {
  Bridge b;
  insert_submission(b.store_path, 1, test_id(1), 1, valid_payload(test_id(1)));
  b.ingest();
  write_file(b.dir / "out", "blocker");
  pipeline::Dispatcher d(*b.state);
  d.add_target(*b.sink, {3, std::chrono::milliseconds(1), std::chrono::milliseconds(1)}, {"x", false});
  for (int i = 0; i < 3; ++i) {
    b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
    d.dispatch(true);
  }
  auto counts = b.state->target_counts();
  CHECK(counts[0].dead == 1);
  CHECK(counts[0].pending == 0);
}

// docs/submission-schema.md: the bridge keeps no copy of a quarantined payload
// (personal data never delivered would need its own retention); the payload
// stays in the app's store, found by seq, and the ledger holds its SHA-256.
TEST_CASE("a quarantined payload stays in the app's store only: the ledger has its seq and SHA-256") {
  Bridge b;
  std::string bad = valid_payload(test_id(7));
  bad.replace(bad.find("\"concern\""), 9, "\"emergency\"");
  bad.replace(bad.find("Aisha Khan"), 10, "Zebedee Quuxworth");
  insert_submission(b.store_path, 7, test_id(7), 1, bad);
  CHECK(b.ingest().rejected == 1);
  auto q = b.state->quarantined(10);
  REQUIRE(q.size() == 1);
  CHECK(q[0].seq == 7);
  auto ledger = b.state->db().prepare("SELECT seq, content_sha256, outcome FROM ledger WHERE submission_id = ?1");
  ledger.bind(1, test_id(7));
  REQUIRE(ledger.step());
  CHECK(ledger.int64(0) == 7);
  CHECK(ledger.text(1) == reportbridge::core::sha256_hex(bad));
  CHECK(ledger.text(2) == "rejected");
  b.state.reset();  // close: checkpoint the WAL into the file
  for (const char* f : {"state.db", "state.db-wal"}) {
    if (!fs::exists(b.dir / f)) continue;
    CHECK(read_file(b.dir / f).find("Quuxworth") == std::string::npos);
  }
}

// Issue #15 item 8: a 50 MB address flowed into a 50 MB CSV cell (313 MiB RSS).
TEST_CASE("a 50 MB field is quarantined as invalid_payload, never mapped, and the rows behind flow") {
  Bridge b;
  boost::json::value big = boost::json::parse(valid_payload(test_id(1)));
  big.as_object()["location"].as_object()["address"] = std::string(50u << 20, 'x');
  insert_submission(b.store_path, 1, test_id(1), 1, boost::json::serialize(big));
  insert_submission(b.store_path, 2, test_id(2), 1, valid_payload(test_id(2)));
  auto s = b.ingest();
  CHECK(s.rejected == 1);
  CHECK(s.queued == 1);
  auto q = b.state->quarantined(10);
  REQUIRE(q.size() == 1);
  CHECK(q[0].reason_code == "invalid_payload");
  CHECK(q[0].detail.find("payload larger than 1048576 bytes (1 MiB)") != std::string::npos);
  b.dispatch();
  auto rows = b.published();
  CHECK(rows.count({test_id(1), "1"}) == 0);
  CHECK(rows.count({test_id(2), "1"}) == 1);
}
