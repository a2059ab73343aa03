// `from: bridge.NAME`: the bridge's own values as ordinary mapping sources,
// through the field's transforms (mappings/README.md, "Bridge values").
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "bridge/mapping/mapping.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

const char* kDoc = R"({"id": "6f1c", "version": 3, "kind": "concern", "category": "noise", "summary": "s",
  "attachments": [{"id": "a1", "sha256": "aa", "path": "x/a1.jpg", "media_type": "image/jpeg", "size_bytes": 10},
                  {"id": "a2", "sha256": "bb", "path": "x/a2.png", "media_type": "image/png", "size_bytes": 20}]})";

struct Fixture {
  TempDir dir;
  std::string file;
  explicit Fixture(const std::string& yaml) {
    file = (dir / "m.yaml").string();
    write_file(file, yaml);
  }
  std::optional<mapping::MappingSet> load(core::Diagnostics& d, std::set<std::string> reference_targets = {"rms"}) const {
    mapping::LoadOptions o;
    o.known_targets = {"rms", "npt_csv"};
    o.reference_targets = std::move(reference_targets);
    return mapping::MappingSet::load({file}, o, d);
  }
};

// A fixture whose file must load: its one mapping and the sample document.
struct Loaded : Fixture {
  std::optional<mapping::MappingSet> set;
  boost::json::value doc = boost::json::parse(kDoc);
  explicit Loaded(const std::string& yaml) : Fixture(yaml) {
    core::Diagnostics d;
    set = load(d);
    INFO(d.to_string());
    REQUIRE(set);
  }
  const mapping::Mapping& m() const { return set->mappings().at(0); }
};

std::optional<std::string> field(const mapping::MapResult& r, const std::string& name) {
  REQUIRE(r.record);
  auto* v = r.record->find(name);
  REQUIRE(v != nullptr);
  return *v;
}

}  // namespace

TEST_CASE("bridge values known when mapping: external reference, id, version, attachments, with transforms") {
  Loaded fx(R"(mapping: m
targets: [rms]
attachments: true
fields:
  - {name: Ext, from: bridge.external_reference}
  - {name: ExtPrefixed, from: bridge.external_reference, transforms: [{regex_replace: {pattern: "^", with: "APP-"}}, uppercase]}
  - {name: Id, from: bridge.submission_id}
  - {name: Ver, from: bridge.version}
  - {name: Count, from: bridge.attachment_count}
  - {name: Short, from: bridge.external_reference, transforms: [{short_id: 8}]}
)");
  const auto& m = fx.m();
  const auto& doc = fx.doc;
  auto r = mapping::apply(m, "rms", doc, "6f1c", 3);
  REQUIRE_FALSE(r.error);
  CHECK(field(r, "Ext") == "6f1c:3");
  CHECK(field(r, "ExtPrefixed") == "APP-6F1C:3");
  CHECK(field(r, "Id") == "6f1c");
  CHECK(field(r, "Ver") == "3");
  CHECK(field(r, "Count") == "2");
  // short_id of the external reference: the same as of the text itself, stable per version
  auto other = mapping::apply(m, "rms", doc, "6f1c", 4);
  REQUIRE(other.record);
  CHECK(field(r, "Short")->size() == 8);
  CHECK(field(other, "Short") != field(r, "Short"));
  CHECK(field(mapping::apply(m, "rms", doc, "6f1c", 3), "Short") == field(r, "Short"));

  // preview's lineage names the bridge value and each step
  auto traced = mapping::apply_traced(m, "rms", doc, "6f1c", 3);
  const auto text = mapping::format_lineage(traced);
  INFO(text);
  CHECK(text.find("from bridge.external_reference") != std::string::npos);
  CHECK(text.find("APP-6F1C:3") != std::string::npos);
}

TEST_CASE("bridge.legacy_reference is left for the update and resolved through the field's rules") {
  Loaded fx(R"(mapping: m
targets: [rms]
fields:
  - {name: Summary, from: summary}
  - {name: Prev, from: bridge.legacy_reference, transforms: [{regex_replace: {pattern: "^RMS/", with: ""}}], max_length: 6}
  - {name: Strict, from: bridge.legacy_reference, required: true, transforms: [{regex_extract: {pattern: "^RMS/[0-9]+$"}}]}
)");
  const auto& m = fx.m();
  const auto& doc = fx.doc;
  const auto& set = fx.set;
  // at ingest: no value yet, and `required` is not judged (there is none to judge)
  auto r = mapping::apply(m, "rms", doc, "6f1c", 3);
  REQUIRE_FALSE(r.error);
  CHECK_FALSE(field(r, "Prev").has_value());
  CHECK(field(r, "Summary") == "s");
  auto traced = mapping::apply_traced(m, "rms", doc, "6f1c", 3);
  CHECK(mapping::format_lineage(traced).find("given when an update is sent") != std::string::npos);

  // the sink's resolvers
  auto deferred = set->deferred_for("rms");
  REQUIRE(deferred.count("m") == 1);
  REQUIRE(deferred["m"].size() == 2);
  CHECK(deferred["m"][0].field == "Prev");
  const auto& rec = *r.record;
  auto v = deferred["m"][0].resolve(rec, "RMS/12345678");
  CHECK(v.error.empty());
  CHECK(v.value == "123456");  // transformed, then max_length 6
  auto strict = deferred["m"][1].resolve(rec, "RMS/42");
  CHECK(strict.error.empty());
  CHECK(strict.value == "RMS/42");
  // the field's own rules refuse what does not fit: the update is rejected, not sent
  auto bad = deferred["m"][1].resolve(rec, "X-42");
  CHECK_FALSE(bad.error.empty());
  CHECK(bad.error.find("Strict") != std::string::npos);
  auto none = deferred["m"][1].resolve(rec, "");
  CHECK(none.error.find("required") != std::string::npos);
  CHECK(set->deferred_for("npt_csv").empty());
}

TEST_CASE("bridge values are checked where they are written") {
  Fixture fx(R"(mapping: m
targets: [rms, npt_csv]
fields:
  - {name: A, from: bridge.external_refrence}
  - {name: B, from: bridge.legacy_reference}
  - {name: C, from: [summary, bridge.version]}
)");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":4:21: error: unknown bridge value 'external_refrence'") != std::string::npos);
  CHECK(out.find("did you mean 'external_reference'") != std::string::npos);
  CHECK(out.find(fx.file + ":5:21: error: bridge.legacy_reference") != std::string::npos);
  CHECK(out.find("target 'npt_csv' sends no updates by reference") != std::string::npos);
  CHECK(out.find("target 'rms' sends no updates") == std::string::npos);
  CHECK(out.find(fx.file + ":6:31: error: a 'from' list holds submission paths") != std::string::npos);
}
