// Circuit breaker and lifecycle events, on the same real components as
// pipeline_test: a real app store, state database, schema, mapping and CSV drop.
#include <catch2/catch.hpp>

#include "bridge/store/sqlite_state_store.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <set>

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"
#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/pipeline/ingest.hpp"
#include "bridge/pipeline/writeback.hpp"

#include <mutex>
#include <thread>
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


// Records every event it is given (a real listener, as audit and metrics are).
struct Recorder : core::EventListener {
  std::mutex m;
  std::vector<core::Event> events;
  int flushes = 0;
  void on_event(const core::Event& e) noexcept override {
    std::lock_guard<std::mutex> g(m);
    events.push_back(e);
  }
  void flush() noexcept override { ++flushes; }
  std::vector<std::string> kinds_for(const std::string& id) {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.submission_id == id) out.emplace_back(core::to_string(e.kind));
    return out;
  }
};

}  // namespace

TEST_CASE("a target that keeps failing opens its circuit, is probed after the cooldown, and closes") {
  Bridge b;
  for (int i = 1; i <= 3; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  b.ingest();
  write_file(b.dir / "out", "a file where the drop folder should be");
  pipeline::Dispatcher d(*b.state);
  d.add_target(*b.sink, {20, std::chrono::milliseconds(1), std::chrono::milliseconds(1)}, {"x", false},
               {2, std::chrono::milliseconds(150), std::chrono::milliseconds(1000)});
  auto s1 = d.dispatch(true);
  CHECK(s1.retried == 3);
  CHECK(d.health()[0].circuit == "closed");
  b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
  d.dispatch(true);
  CHECK(d.health()[0].circuit == "open");

  // Open: nothing is attempted, however due the items are.
  b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
  auto skipped = d.dispatch(true);
  CHECK(skipped.batches == 0);
  CHECK(skipped.skipped_open_circuits == 1);
  // Visible to `status`, another process: it is in the state database.
  store::SqliteStateStore other((b.dir / "state.db").string());
  auto saved = other.target_health();
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].circuit == "open");
  CHECK(saved[0].consecutive_failures == 2);
  CHECK(saved[0].last_error.find("io_error") != std::string::npos);

  // After the cooldown a failing probe (one item) re-opens it with a longer wait.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
  auto probe = d.dispatch(true);
  CHECK(probe.batches == 1);
  CHECK(probe.retried == 1);
  CHECK(d.health()[0].circuit == "open");
  CHECK(d.health()[0].retry_at_ms - store::now_ms() > 150);

  // The target recovers: the next probe closes the circuit and the rest flows at once.
  fs::remove(b.dir / "out");
  std::this_thread::sleep_for(std::chrono::milliseconds(320));
  b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
  auto healed = d.dispatch(true);
  CHECK(healed.delivered == 3);
  CHECK(d.health()[0].circuit == "closed");
  CHECK(other.target_health()[0].circuit == "closed");
  CHECK(b.published().size() == 3);
}

TEST_CASE("the pipeline publishes each submission's lifecycle after commit") {
  Bridge b;
  insert_submission(b.store_path, 1, test_id(1), 1, valid_payload(test_id(1)));
  insert_submission(b.store_path, 2, test_id(2), 1, R"({"id": "broken"})");
  auto rec = std::make_shared<Recorder>();
  {
    pipeline::Ingestor ing(*b.state, *b.source, *b.schema, *b.mappings, {100, std::chrono::minutes(10)});
    ing.set_events(rec.get());
    while (ing.run_batch().read > 0) {
    }
  }
  pipeline::Dispatcher d(*b.state, rec.get());
  d.add_target(*b.sink, {}, {"Passed on.", true});
  d.dispatch(true);
  pipeline::WritebackWorker w(*b.state, *b.source, 100, rec.get());
  w.drain();

  CHECK(rec->kinds_for(test_id(1)) ==
        std::vector<std::string>{"collected", "validated", "mapped", "delivered", "written_back"});
  CHECK(rec->kinds_for(test_id(2)) == std::vector<std::string>{"collected", "rejected", "written_back"});
  for (const auto& e : rec->events) {
    if (e.kind == core::EventKind::mapped || e.kind == core::EventKind::delivered) {
      CHECK(e.target == "drop");
      CHECK(e.mapping == "m");
    }
    if (e.kind == core::EventKind::rejected) CHECK(e.reason_code == "invalid_payload");
    if (e.kind == core::EventKind::delivered) CHECK(e.latency_ms >= 0);
    // Events never carry the resident's words.
    CHECK(e.detail.find("Summary") == std::string::npos);
  }
  CHECK(rec->flushes >= 3);
}

TEST_CASE("dead letters are announced as dead, not as retries") {
  Bridge b;
  insert_submission(b.store_path, 1, test_id(1), 1, valid_payload(test_id(1)));
  b.ingest();
  write_file(b.dir / "out", "blocker");
  Recorder rec;
  pipeline::Dispatcher d(*b.state, &rec);
  d.add_target(*b.sink, {2, std::chrono::milliseconds(1), std::chrono::milliseconds(1)}, {"x", false});
  d.dispatch(true);
  b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
  d.dispatch(true);
  CHECK(rec.kinds_for(test_id(1)) == std::vector<std::string>{"retry", "dead"});
  CHECK(b.state->target_counts()[0].dead == 1);
}

namespace {
// A target whose every answer is "the attachment could not be fetched from the
// source": the state the sinks report when the app's store answers 503 for a
// photo (the sinks' own tests cover producing it from a real server).
struct SourceAttachmentDown : core::Sink {
  std::string name_ = "drop";
  int calls = 0;
  const std::string& name() const override { return name_; }
  core::BatchPolicy batch_policy() const override { return {}; }
  std::string encode_preview(const core::TargetRecord&) const override { return {}; }
  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch) override {
    ++calls;
    return std::vector<core::DeliveryOutcome>(
        batch.items.size(), core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "attachment_unavailable",
                                                        "attachment 1 of 1 is unavailable now"));
  }
};
}  // namespace

TEST_CASE("attachments the source cannot supply are retried without opening the target's circuit") {
  Bridge b;
  for (int i = 1; i <= 3; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  b.ingest();
  SourceAttachmentDown sink;
  pipeline::Dispatcher d(*b.state);
  d.add_target(sink, {20, std::chrono::milliseconds(1), std::chrono::milliseconds(1)}, {"x", false},
               {2, std::chrono::milliseconds(150), std::chrono::milliseconds(1000)});
  for (int round = 0; round < 4; ++round) {
    b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
    auto s = d.dispatch(true);
    CHECK(s.retried == 3);
    CHECK(s.skipped_open_circuits == 0);
  }
  CHECK(d.health()[0].circuit == "closed");
  CHECK(d.health()[0].consecutive_failures == 0);
  CHECK(sink.calls == 4);
  CHECK(b.state->backlog({"drop"}).at(0).pending == 3);  // nothing lost
}

namespace {
// Answers every item with one fixed outcome (the SOAP sinks' own tests produce
// these from real servers: wsse:FailedAuthentication, an in-doubt item settling).
struct FixedOutcome : core::Sink {
  std::string name_ = "drop";
  core::DeliveryOutcome outcome;
  int calls = 0;
  std::size_t items = 0;
  explicit FixedOutcome(core::DeliveryOutcome o) : outcome(std::move(o)) {}
  const std::string& name() const override { return name_; }
  core::BatchPolicy batch_policy() const override { return {}; }
  std::string encode_preview(const core::TargetRecord&) const override { return {}; }
  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch) override {
    ++calls;
    items += batch.items.size();
    return std::vector<core::DeliveryOutcome>(batch.items.size(), outcome);
  }
};
}  // namespace

TEST_CASE("#17.2: refused credentials open the circuit at once: no more batches until the probe") {
  Bridge b;
  for (int i = 1; i <= 3; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  b.ingest();
  FixedOutcome sink(core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "auth_failed", "SOAP fault FailedAuthentication"));
  pipeline::Dispatcher d(*b.state);
  d.add_target(sink, {20, std::chrono::milliseconds(1), std::chrono::milliseconds(1)}, {"x", false},
               {5, std::chrono::milliseconds(60000), std::chrono::milliseconds(60000)});
  d.dispatch(true);
  CHECK(d.health()[0].circuit == "open");  // after one batch, not five
  CHECK(d.health()[0].last_error.find("auth_failed") != std::string::npos);
  store::SqliteStateStore other((b.dir / "state.db").string());
  CHECK(other.target_health()[0].circuit == "open");  // what `status` and /readyz read
}

TEST_CASE("a deferred retry (in-doubt item settling) costs no attempt and never dead-letters the item") {
  Bridge b;
  insert_submission(b.store_path, 1, test_id(1), 1, valid_payload(test_id(1)));
  b.ingest();
  auto settling = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "in_doubt_settling", "wait");
  settling.deferred = true;
  settling.in_doubt = true;
  settling.retry_after = std::chrono::seconds(2);
  FixedOutcome sink(settling);
  pipeline::Dispatcher d(*b.state);
  d.add_target(sink, {3, std::chrono::milliseconds(1), std::chrono::milliseconds(1)}, {"x", false},
               {2, std::chrono::milliseconds(60000), std::chrono::milliseconds(60000)});
  for (int round = 0; round < 6; ++round) {  // twice max_attempts
    b.state->db().exec("UPDATE outbox_items SET next_attempt_ms = 0");
    d.dispatch(true);
  }
  CHECK(sink.calls == 6);
  CHECK(b.state->target_counts()[0].dead == 0);
  CHECK(b.state->backlog({"drop"}).at(0).pending == 1);
  CHECK(d.health()[0].circuit == "closed");
  auto q = b.state->db().prepare("SELECT attempts, in_doubt, next_attempt_ms FROM outbox_items");
  REQUIRE(q.step());
  CHECK(q.int64(0) == 0);
  CHECK(q.int64(1) == 1);
  CHECK(q.int64(2) - store::now_ms() > 1000);  // offered again after retry_after, not a 1 ms backoff
}
