// Deduplication in the pipeline, per target: a related report is linked
// (RelatedReference), held for review or sent plainly; the reporter's
// pseudonymous key reaches only the targets configured for it, never for an
// anonymous report; a double tap is not sent again. Real app store, state
// database, schema, mapping and CSV drops.
#include <catch2/catch.hpp>

#include "bridge/store/sqlite_state_store.hpp"

#include <sys/stat.h>

#include <boost/json.hpp>

#include <filesystem>
#include <map>
#include <sstream>

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"
#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/pipeline/ingest.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Row per Ref, column name -> value, over every CSV published for one target.
using Rows = std::map<std::string, std::map<std::string, std::string>>;

Rows published(const fs::path& folder) {
  Rows rows;
  if (!fs::exists(folder)) return rows;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.path().extension() != ".csv") continue;
    std::istringstream in(read_file(e.path()));
    std::string line;
    std::vector<std::string> header;
    auto split = [](std::string l) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      std::vector<std::string> out;
      std::size_t pos = 0;
      for (;;) {
        const auto comma = l.find(',', pos);
        out.push_back(l.substr(pos, comma - pos));
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      return out;
    };
    while (std::getline(in, line)) {
      auto cells = split(line);
      if (header.empty()) {
        header = cells;
        continue;
      }
      auto& row = rows[cells.at(0)];
      for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    }
  }
  return rows;
}

std::string payload(const std::string& id, const std::function<void(json::object&)>& change) {
  json::value v = json::parse(valid_payload(id));
  change(v.as_object());
  return json::serialize(v);
}

struct DedupBridge {
  TempDir dir{"dedup-pipeline"};
  std::string store_path = (dir / "store.db").string();
  std::unique_ptr<store::SqliteStateStore> state;
  std::unique_ptr<sqlite_store::SqliteStoreSource> source;
  std::optional<schema::SubmissionSchema> schema;
  std::optional<mapping::MappingSet> mappings;
  std::map<std::string, std::unique_ptr<csv_drop::CsvDropSink>> sinks;
  std::unique_ptr<dedup::Deduplicator> dedup;
  const std::vector<std::string> targets{"link_csv", "hold_csv", "plain_csv"};

  DedupBridge() {
    create_app_store(store_path);
    write_file(dir / "m.yaml", R"(mapping: m
targets: [link_csv, hold_csv, plain_csv]
when: {kind: [concern, information]}
fields:
  - {name: Ref, from: id, required: true}
  - {name: RelatedReference, default: ""}
  - {name: ReporterKey, default: ""}
  - {name: Summary, from: summary}
  - {name: LinkedAs, from: bridge.related_reference, transforms: [{regex_replace: {pattern: "^", with: "REL-"}}]}
)");
    core::Diagnostics d;
    schema = schema::SubmissionSchema::load(std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json", d);
    mappings = mapping::MappingSet::load({(dir / "m.yaml").string()}, {targets.begin(), targets.end()}, d);
    INFO(d.to_string());
    REQUIRE(schema);
    REQUIRE(mappings);
    state = std::make_unique<store::SqliteStateStore>((dir / "state.db").string());
    source = std::make_unique<sqlite_store::SqliteStoreSource>(
        sqlite_store::SqliteStoreConfig{"app", store_path, dir / "media"});
    for (const auto& t : targets) {
      csv_drop::CsvDropConfig c;
      c.name = t;
      c.directory = dir / t;
      c.max_rows = 1000;
      c.max_age = std::chrono::milliseconds(0);
      sinks[t] = std::make_unique<csv_drop::CsvDropSink>(c, mappings->columns_for(t),
                                                         [](const core::AttachmentRef&) -> fs::path {
                                                           throw std::runtime_error("no media in this test");
                                                         });
    }
    dedup::DedupSettings settings;
    const auto key = (dir / "dedup.key").string();
    write_file(key, "0123456789abcdef0123456789abcdef");
    ::chmod(key.c_str(), 0600);
    settings.reporter_key_file = key;
    dedup = std::make_unique<dedup::Deduplicator>(state->db(), settings);
  }

  void ingest() {
    pipeline::Ingestor ing(*state, *source, *schema, *mappings, {100, std::chrono::minutes(10)});
    ing.set_dedup(dedup.get(),
                  {{"link_csv", dedup::RelatedPolicy::link},
                   {"hold_csv", dedup::RelatedPolicy::hold},
                   {"plain_csv", dedup::RelatedPolicy::plain}},
                  {"link_csv"});
    while (ing.run_batch().read > 0) {
    }
  }

  void dispatch() {
    pipeline::Dispatcher d(*state);
    for (const auto& t : targets) d.add_target(*sinks[t], {}, {"Passed to the team.", true});
    d.dispatch(true);
  }

  void write_back() {
    pipeline::WritebackWorker wb(*state, *source, 100);
    wb.drain();
  }

  // What the app's submission_status holds for one submission.
  struct Status {
    std::string state, reference, message;
  };
  Status status(const std::string& id) const {
    store::Database db(store_path, store::Database::Mode::read_only);
    auto q = db.prepare("SELECT state, coalesce(reference, ''), coalesce(message, '') FROM submission_status"
                        " WHERE submission_id = ?1");
    q.bind(1, id);
    if (!q.step()) return {};
    return {q.text(0), q.text(1), q.text(2)};
  }

  // The reference the app was given for a delivered submission: every target's, joined.
  std::string written_reference(const std::string& id) const { return status(id).reference; }
};

}  // namespace

TEST_CASE("related reports, reporter keys and double taps through the pipeline, per target") {
  DedupBridge b;
  const std::string first = test_id(1), related = test_id(2), later = test_id(3), tap = test_id(4);
  insert_submission(b.store_path, 1, first, 1, valid_payload(first));
  b.ingest();
  b.dispatch();  // the first report is delivered before the others arrive
  // Another resident, anonymous, reports the same incident in other words.
  insert_submission(b.store_path, 2, related, 1, payload(related, [](json::object& o) {
                      o["summary"] = "Lads on bikes throwing things at buses";
                      o["description"] = "Youths circling on bikes outside the shops, throwing stones at the buses.";
                      o["location"].as_object()["lat"] = 54.57445;
                      o["occurred"].as_object()["start"] = "2026-11-27T18:30:00+00:00";
                      o["reporter"] = json::parse(R"({"anonymous": true, "name": null, "email": null, "phone": null})");
                    }));
  // The first reporter again (same email, other case), about something else elsewhere.
  insert_submission(b.store_path, 3, later, 1, payload(later, [](json::object& o) {
                      o["category"] = "fly_tipping";
                      o["summary"] = "Mattresses dumped in the back lane";
                      o["description"] = "Three mattresses and a sofa dumped behind the houses.";
                      o["location"].as_object()["lat"] = 54.60;
                      o["reporter"].as_object()["email"] = "A.Khan@Example.org";
                      o["reporter"].as_object()["phone"] = nullptr;
                    }));
  // A double tap of the first.
  insert_submission(b.store_path, 4, tap, 1, valid_payload(tap));
  b.ingest();
  b.dispatch();

  const Rows link = published(b.dir / "link_csv"), hold = published(b.dir / "hold_csv"),
             plain = published(b.dir / "plain_csv");
  // Linked: the link target's own reference for the first report (its id when it issued none).
  const std::string first_ref = b.state->reference_for(first, "link_csv");
  REQUIRE(link.count(related) == 1);
  CHECK(link.at(related).at("RelatedReference") == (first_ref.empty() ? first : first_ref));
  CHECK(link.at(first).at("RelatedReference").empty());
  // The same value as a mapping source, through the field's own transform.
  CHECK(link.at(related).at("LinkedAs") == "REL-" + (first_ref.empty() ? first : first_ref));
  CHECK(link.at(first).at("LinkedAs").empty());
  // Sent plainly.
  REQUIRE(plain.count(related) == 1);
  CHECK(plain.at(related).at("RelatedReference").empty());
  CHECK(plain.at(related).at("LinkedAs").empty());
  // Held for review: not sent, a dead letter that names the first report.
  CHECK(hold.count(related) == 0);
  CHECK(hold.count(first) == 1);
  CHECK(hold.count(later) == 1);
  auto held = b.state->dead_letters({"hold_csv", related, 0}, 10);
  REQUIRE(held.size() == 1);
  CHECK(held[0].last_error.find("held_for_review: related to " + first) != std::string::npos);

  // Reporter keys: one person, one key, on the configured target only; none for the anonymous one.
  const std::string key = link.at(first).at("ReporterKey");
  CHECK(key.rfind("rk-", 0) == 0);
  CHECK(link.at(later).at("ReporterKey") == key);
  CHECK(link.at(related).at("ReporterKey").empty());
  for (const auto& [id, row] : plain) CHECK(row.at("ReporterKey").empty());
  for (const auto& [id, row] : hold) CHECK(row.at("ReporterKey").empty());

  // The double tap went nowhere; nothing is left queued.
  CHECK(link.count(tap) == 0);
  CHECK(plain.count(tap) == 0);
  CHECK(hold.count(tap) == 0);
  auto statuses_pending = b.state->backlog({"link_csv", "hold_csv", "plain_csv"});
  for (const auto& bl : statuses_pending) CHECK(bl.pending == 0);
}

// --- first received wins, whatever the ingest order (issue #15 item 1) --------------

namespace {

std::string edited(const std::string& id) {
  return valid_payload(id, 2, "concern", "Group throwing stones at buses (edited: now at the shelter)");
}

}  // namespace

// Repro from the issue: the double tap is ingested (and delivered) before its
// original, whose row was committed late. The original must not be sent as a
// second record, nor told "we kept the first one", and its edit must go as an
// update of the record the targets hold.
TEST_CASE("an original ingested after its already-delivered double tap is linked to it, not sent again") {
  DedupBridge b;
  const std::string orig = test_id(11), tap = test_id(12);
  insert_submission_at(b.store_path, 2, tap, 1, valid_payload(tap), "2026-11-27T18:42:15Z");
  b.ingest();
  b.dispatch();
  b.write_back();
  insert_submission_at(b.store_path, 1, orig, 1, valid_payload(orig), "2026-11-27T18:42:11Z");
  b.ingest();
  b.dispatch();
  b.write_back();

  for (const auto& t : b.targets) {
    const Rows rows = published(b.dir / t);
    CHECK(rows.count(tap) == 1);
    CHECK(rows.count(orig) == 0);
  }
  auto v = b.dedup->recorded_verdict(orig, 1);
  REQUIRE(v);
  CHECK(v->kind == dedup::Verdict::Kind::duplicate);
  CHECK(v->of_id == tap);
  CHECK(v->rule == "duplicate.fingerprint_sent_first");
  CHECK_THAT(v->explanation, Catch::Contains("received 4 s before it") && Catch::Contains("already on its way"));
  const auto st = b.status(orig);
  CHECK(st.state == "duplicate");
  CHECK_FALSE(st.reference.empty());
  CHECK(st.reference == b.written_reference(tap));
  CHECK(st.message.find("first one") == std::string::npos);

  // An edit of the original: an update of the record the targets hold (the tap's).
  insert_submission_at(b.store_path, 3, orig, 2, edited(orig), "2026-11-27T18:50:00Z");
  b.ingest();
  for (const auto& t : b.targets) {
    auto batch = b.state->claim_batch(t, 10, store::now_ms());
    REQUIRE(batch);
    REQUIRE(batch->items.size() == 1);
    CHECK(batch->items[0].record.submission_id == orig);
    CHECK(batch->items[0].record.version == 2);
    CHECK_FALSE(batch->items[0].prior_reference.empty());
    CHECK(batch->items[0].prior_reference == b.state->reference_for(tap, t));
  }
}

TEST_CASE("an original ingested after its double tap, before the tap left, is sent, the tap becomes the duplicate") {
  DedupBridge b;
  const std::string orig = test_id(21), tap = test_id(22);
  insert_submission_at(b.store_path, 2, tap, 1, valid_payload(tap), "2026-11-27T18:42:15Z");
  b.ingest();  // queued, not delivered yet
  insert_submission_at(b.store_path, 1, orig, 1, valid_payload(orig), "2026-11-27T18:42:11Z");
  b.ingest();
  b.dispatch();
  b.write_back();

  for (const auto& t : b.targets) {
    const Rows rows = published(b.dir / t);
    CHECK(rows.count(orig) == 1);
    CHECK(rows.count(tap) == 0);
  }
  auto vo = b.dedup->recorded_verdict(orig, 1);
  auto vt = b.dedup->recorded_verdict(tap, 1);
  REQUIRE(vo);
  REQUIRE(vt);
  CHECK(vo->kind == dedup::Verdict::Kind::original);
  CHECK(vt->kind == dedup::Verdict::Kind::duplicate);
  CHECK(vt->of_id == orig);
  CHECK(vt->rule == "duplicate.fingerprint");
  CHECK(b.status(orig).state == "forwarded");
  const auto st = b.status(tap);
  CHECK(st.state == "duplicate");
  CHECK_FALSE(st.reference.empty());
  CHECK(st.reference == b.written_reference(orig));
  for (const auto& bl : b.state->backlog(b.targets)) CHECK(bl.pending == 0);

  // The tap's edit is an update of the original's record.
  insert_submission_at(b.store_path, 3, tap, 2, edited(tap), "2026-11-27T18:50:00Z");
  b.ingest();
  for (const auto& t : b.targets) {
    auto batch = b.state->claim_batch(t, 10, store::now_ms());
    REQUIRE(batch);
    REQUIRE(batch->items.size() == 1);
    CHECK(batch->items[0].prior_reference == b.state->reference_for(orig, t));
    CHECK_FALSE(batch->items[0].prior_reference.empty());
  }
}

// Issue #17 item 4: a duplicate's status was written at ingest, before the first
// report had a reference, and never again.
TEST_CASE("a duplicate's status gets the first report's reference once it has one") {
  DedupBridge b;
  const std::string first = test_id(31), tap = test_id(32);
  insert_submission_at(b.store_path, 1, first, 1, valid_payload(first), "2026-11-27T18:42:11Z");
  insert_submission_at(b.store_path, 2, tap, 1, valid_payload(tap), "2026-11-27T18:42:14Z");
  b.ingest();
  b.write_back();  // the duplicate status goes out at once, with no reference yet
  CHECK(b.status(tap).state == "duplicate");
  CHECK(b.status(tap).reference.empty());
  b.dispatch();
  b.write_back();
  CHECK(b.status(first).state == "forwarded");
  CHECK_FALSE(b.written_reference(first).empty());
  const auto st = b.status(tap);
  CHECK(st.state == "duplicate");
  CHECK(st.reference == b.written_reference(first));
  // Nothing is left to fill in: another pass writes nothing more.
  b.dispatch();
  CHECK(b.state->pending_writeback_count() == 0);
}
