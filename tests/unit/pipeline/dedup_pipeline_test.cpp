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
  // Sent plainly.
  REQUIRE(plain.count(related) == 1);
  CHECK(plain.at(related).at("RelatedReference").empty());
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
