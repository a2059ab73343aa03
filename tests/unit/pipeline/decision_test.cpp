// One decision for ingest and preview (pipeline/decision.hpp). `preview`
// decides with rules.trace (each field's lineage, through
// mapping::apply_traced); ingest without. Over the project's realistic
// generated data (malformed rows, edits, double taps, signposting, several
// languages) and the shipped mappings, both must decide the same: the same
// outcome, quarantine, status and, byte for byte, the same records.
#include <catch2/catch.hpp>

#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"
#include "bridge/pipeline/decision.hpp"
#include <boost/json.hpp>

#include "tests/support/app_store.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::run_process;
using reportbridge::testing::TempDir;

TEST_CASE("preview's traced decision equals ingest's for every generated row") {
  TempDir dir{"decision"};
  const std::string store = (dir / "store.db").string();
  auto gen = run_process({REPORTBRIDGE_GEN_STORE, "--db", store, "--count", "600", "--seed", "7",
                          "--malformed-rate", "0.05"});
  INFO(gen.err);
  REQUIRE(gen.exit_code == 0);

  const std::string src = REPORTBRIDGE_SOURCE_DIR;
  core::Diagnostics d;
  auto schema = schema::SubmissionSchema::load(src + "/schemas/submission.schema.json", d);
  std::vector<std::string> files;
  for (const char* m : {"npt_community_report", "psd_feedback", "psd_complaint", "rms_community_report",
                        "rms_review", "signposting"})
    files.push_back(src + "/mappings/" + m + ".yaml");
  auto mappings = mapping::MappingSet::load(files, {"npt_csv", "psd_csv", "psd_xml", "rms_soap"}, d);
  INFO(d.to_string());
  REQUIRE(schema);
  REQUIRE(mappings);

  sqlite_store::SqliteStoreSource source({"app", store, dir / "media"});
  const auto rows = source.poll({}, 10'000);
  REQUIRE(rows.size() == 600);

  pipeline::DecisionRules ingest_rules;
  ingest_rules.schema = &*schema;
  ingest_rules.mappings = &*mappings;
  pipeline::DecisionRules preview_rules = ingest_rules;
  preview_rules.trace = true;
  const std::int64_t now = 1'790'000'000'000;
  std::map<std::string, int> outcomes;
  for (const auto& row : rows) {
    auto a = pipeline::decide(ingest_rules, row, now);
    auto b = pipeline::decide(preview_rules, row, now);
    pipeline::judge(ingest_rules, a, std::nullopt, nullptr, row, now);
    pipeline::judge(preview_rules, b, std::nullopt, nullptr, row, now);
    INFO("seq " << row.seq);
    ++outcomes[a.outcome];
    CHECK(a.outcome == b.outcome);
    CHECK(a.hash == b.hash);
    CHECK(a.quarantine.has_value() == b.quarantine.has_value());
    if (a.quarantine && b.quarantine) {
      CHECK(a.quarantine->reason_code == b.quarantine->reason_code);
      CHECK(a.quarantine->field == b.quarantine->field);
      CHECK(a.quarantine->detail == b.quarantine->detail);
    }
    CHECK(a.writeback.has_value() == b.writeback.has_value());
    if (a.writeback && b.writeback) {
      CHECK(a.writeback->state == b.writeback->state);
      CHECK(a.writeback->message == b.writeback->message);
    }
    REQUIRE(a.routes.size() == b.routes.size());
    for (std::size_t i = 0; i < a.routes.size(); ++i) {
      CHECK(a.routes[i].target == b.routes[i].target);
      CHECK(a.routes[i].mapping == b.routes[i].mapping);
      CHECK(a.routes[i].values == b.routes[i].values);
    }
    CHECK(a.traces.empty());
    CHECK(b.traces.size() == (b.outcome == "rejected" || b.outcome == "unrouted" ? 0 : b.plan.routes.size()));
  }
  for (const auto& [o, n] : outcomes) std::printf("decision_test: %s %d\n", o.c_str(), n);
  CHECK(outcomes["queued"] > 400);  // the data exercised every path that matters
  CHECK(outcomes["rejected"] > 10);
}

TEST_CASE("a mapping failure for one target quarantines the whole version, traced or not, preview still shows every route") {
  TempDir dir{"decision"};
  reportbridge::testing::write_file(dir / "a.yaml", "mapping: a\ntargets: [a]\nwhen: {kind: [concern]}\n"
                                                    "fields:\n  - {name: Ref, from: id, required: true}\n");
  reportbridge::testing::write_file(dir / "b.yaml", "mapping: b\ntargets: [b]\nwhen: {kind: [concern]}\n"
                                                    "fields:\n  - {name: Postcode, from: location.postcode, required: true}\n");
  core::Diagnostics d;
  auto schema = schema::SubmissionSchema::load(std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json", d);
  auto mappings = mapping::MappingSet::load({(dir / "a.yaml").string(), (dir / "b.yaml").string()}, {"a", "b"}, d);
  INFO(d.to_string());
  REQUIRE(schema);
  REQUIRE(mappings);
  pipeline::DecisionRules rules;
  rules.schema = &*schema;
  rules.mappings = &*mappings;
  auto traced = rules;
  traced.trace = true;
  const auto payload = [](const std::string& kind, bool postcode) {
    auto doc = boost::json::parse(reportbridge::testing::valid_payload(reportbridge::testing::test_id(1), 1, kind));
    if (!postcode) doc.at("location").as_object().erase("postcode");
    return boost::json::serialize(doc);
  };
  for (const auto& [kind, postcode, want] : std::vector<std::tuple<std::string, bool, std::string>>{
           {"concern", true, "queued"}, {"concern", false, "mapping_failed"}, {"information", true, "unrouted"}}) {
    core::SourceRow row{1, reportbridge::testing::test_id(1), 1, "2026-11-27T18:42:11Z", payload(kind, postcode)};
    auto a = pipeline::decide(rules, row, 0);
    auto b = pipeline::decide(traced, row, 0);
    INFO(kind << " postcode " << postcode);
    CHECK(a.outcome == want);
    CHECK(b.outcome == want);
    CHECK(a.routes.size() == b.routes.size());
    if (want == "mapping_failed") {
      CHECK(a.routes.empty());  // all or none
      CHECK(a.quarantine->field == b.quarantine->field);
      REQUIRE(b.traces.size() == 2);  // preview shows both: a mapped, b failed
      CHECK_FALSE(b.traces[0].result.error);
      CHECK(b.traces[1].result.error);
    }
  }
}
