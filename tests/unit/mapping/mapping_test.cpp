#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "bridge/mapping/mapping.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

const char* kDoc = R"({
  "id": "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01", "version": 2, "kind": "concern",
  "category": "noise", "summary": "  Loud   music\n every night ",
  "description": "Zażółć gęślą jaźń 🙏 and more text",
  "location": {"lat": 54.5742, "lon": -1.235, "postcode": "ts1 3qy", "address": null},
  "attachments": [{"id": "a1", "sha256": "aa", "path": "x/a1.jpg", "media_type": "image/jpeg", "size_bytes": 10},
                  {"id": "a2", "sha256": "bb", "path": "x/a2.png", "media_type": "image/png", "size_bytes": 20}],
  "occurred": {"ongoing": true}
})";

struct Fixture {
  TempDir dir;
  std::string file;
  Fixture(const std::string& yaml, const std::string& lookup = "key,value\nnoise,ASB-NOISE\ndrugs,DRUGS\n") {
    write_file(dir / "lookups/cats.csv", lookup);
    file = (dir / "m.yaml").string();
    write_file(file, yaml);
  }
  std::optional<mapping::MappingSet> load(core::Diagnostics& d) const {
    return mapping::MappingSet::load({file}, {"npt_csv", "psd_csv"}, d);
  }
};

const mapping::Mapping& only(const std::optional<mapping::MappingSet>& set) {
  REQUIRE(set);
  REQUIRE(set->mappings().size() == 1);
  return set->mappings()[0];
}

std::string value(const mapping::MapResult& r, const std::string& field) {
  REQUIRE(r.record);
  auto* v = r.record->find(field);
  REQUIRE(v != nullptr);
  return v->value_or("<null>");
}

}  // namespace

TEST_CASE("paths, constants, defaults, transforms, lookups and [*] map a submission") {
  Fixture fx(R"(mapping: m1
targets: [npt_csv]
attachments: true
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Summary, from: summary, transforms: [trim, collapse_whitespace, uppercase]}
  - {name: Cat, from: category, lookup: {table: lookups/cats.csv}}
  - {name: Post, from: location.postcode, transforms: uppercase}
  - {name: Lat, from: location.lat}
  - {name: Lon, from: location.lon}
  - {name: Addr, from: location.address, default: "unknown"}
  - {name: Source, value: APP}
  - {name: Shas, from: "attachments[*].sha256"}
  - {name: First, from: "attachments[0].id"}
  - {name: Missing, from: "attachments[5].id"}
  - {name: Ongoing, from: occurred.ongoing}
  - {name: Desc, from: description, max_length: 8}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  const auto& m = only(set);
  auto doc = boost::json::parse(kDoc);
  auto r = mapping::apply(m, "npt_csv", doc, "6f1c", 2);
  REQUIRE_FALSE(r.error);
  CHECK(value(r, "Ref") == "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01");
  CHECK(value(r, "Version") == "2");
  CHECK(value(r, "Summary") == "LOUD MUSIC EVERY NIGHT");
  CHECK(value(r, "Cat") == "ASB-NOISE");
  CHECK(value(r, "Post") == "TS1 3QY");
  CHECK(value(r, "Lat") == "54.5742");
  CHECK(value(r, "Lon") == "-1.235");
  CHECK(value(r, "Addr") == "unknown");
  CHECK(value(r, "Source") == "APP");
  CHECK(value(r, "Shas") == "aa;bb");
  CHECK(value(r, "First") == "a1");
  CHECK(value(r, "Missing") == "<null>");
  CHECK(value(r, "Ongoing") == "true");
  CHECK(value(r, "Desc") == "Zażółć g");  // 8 code points, no split character
  REQUIRE(r.record->attachments.size() == 2);
  CHECK(r.record->attachments[1].path == "x/a2.png");
  CHECK(r.record->attachments[1].size_bytes == 20);
  CHECK(r.record->target == "npt_csv");
  CHECK(r.record->mapping == "m1");
}

TEST_CASE("required, lookup rejection and overflow rejection name the mapping and field") {
  Fixture fx(R"(mapping: strict
targets: npt_csv
fields:
  - {name: Cat, from: category, lookup: {table: lookups/cats.csv, unknown: reject}}
  - {name: Who, from: reporter.preferred_language, required: true}
  - {name: Short, from: summary, max_length: 3, overflow: reject}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  const auto& m = only(set);
  auto doc = boost::json::parse(kDoc);
  auto r = mapping::apply(m, "npt_csv", doc, "id", 1);
  REQUIRE(r.error);
  CHECK(r.error->mapping == "strict");
  CHECK(r.error->field == "Who");
  CHECK(r.error->code == "required_missing");

  doc.as_object()["category"] = "graffiti";
  r = mapping::apply(m, "npt_csv", doc, "id", 1);
  REQUIRE(r.error);
  CHECK(r.error->field == "Cat");
  CHECK(r.error->code == "lookup_unknown");

  doc.as_object()["category"] = "noise";
  doc.as_object()["reporter"] = boost::json::object{{"preferred_language", "cy"}};
  r = mapping::apply(m, "npt_csv", doc, "id", 1);
  REQUIRE(r.error);
  CHECK(r.error->field == "Short");
  CHECK(r.error->code == "too_long");
  CHECK(r.error->detail.find("Loud") == std::string::npos);  // never echoes the value
}

TEST_CASE("lookup default covers unknown keys (open category list)") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
fields:
  - {name: Cat, from: category, lookup: {table: lookups/cats.csv, unknown: default, default: OTHER}}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  auto doc = boost::json::parse(kDoc);
  doc.as_object()["category"] = "e_scooter";
  auto r = mapping::apply(only(set), "npt_csv", doc, "id", 1);
  CHECK(value(r, "Cat") == "OTHER");
}

TEST_CASE("routing by kind and category, unmatched submissions route nowhere") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
when: {kind: [concern], category: [noise, drugs]}
fields:
  - {name: Ref, from: id}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  REQUIRE(set);
  auto doc = boost::json::parse(kDoc);
  CHECK(set->route(doc).size() == 1);
  doc.as_object()["kind"] = "complaint";
  CHECK(set->route(doc).empty());
  doc.as_object()["kind"] = "concern";
  doc.as_object()["category"] = "speeding";
  CHECK(set->route(doc).empty());
  CHECK(set->columns_for("npt_csv") == std::vector<std::string>{"Ref"});
}

TEST_CASE("check reports every problem with file:line:col and suggestions") {
  Fixture fx(R"(mapping: broken
targets: [npt_cvs]
feilds: []
fields:
  - name: A
    from: "location..lat"
  - name: B
    from: summary
    transforms: [uppercse]
  - name: C
    from: category
    lookup: {table: lookups/nope.csv}
  - name: D
    value: x
    from: id
  - name: E
)", "key,value\nnoise,A\nnoise,B\n");
  core::Diagnostics d;
  auto set = fx.load(d);
  CHECK_FALSE(set);
  const std::string out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":2:11: error: unknown target 'npt_cvs', did you mean 'npt_csv'?") != std::string::npos);
  CHECK(out.find(fx.file + ":3:1: error: unknown key 'feilds' in mapping, did you mean 'fields'?") != std::string::npos);
  CHECK(out.find(fx.file + ":6:11: error: malformed path 'location..lat'") != std::string::npos);
  CHECK(out.find(fx.file + ":9:18: error: unknown transform 'uppercse', did you mean 'uppercase'?") != std::string::npos);
  CHECK(out.find("lookup table '") != std::string::npos);
  CHECK(out.find("nope.csv' not found") != std::string::npos);
  CHECK(out.find("has both 'from' and 'value'") != std::string::npos);
  CHECK(out.find("field 'E' needs 'from', 'value', 'template', 'bng', 'sequence' or 'default'") != std::string::npos);
}

TEST_CASE("duplicate lookup keys are reported at their line") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
fields:
  - {name: Cat, from: category, lookup: {table: lookups/cats.csv}}
)", "key,value\nnoise,A\ndrugs,B\nnoise,C\n");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  CHECK(d.to_string().find("cats.csv:4:1: error: duplicate key 'noise' (first on line 2)") != std::string::npos);
}

TEST_CASE("YAML syntax errors carry their position") {
  Fixture fx("mapping: m\ntargets: [npt_csv\nfields: []\n");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  REQUIRE(d.items().size() == 1);
  CHECK(d.items()[0].code == "yaml.syntax");
  CHECK(d.items()[0].line >= 2);
}

TEST_CASE("UTF-8 truncation never splits a character") {
  CHECK(mapping::truncate_utf8("abc", 5) == "abc");
  CHECK(mapping::truncate_utf8("é🙏x", 2) == "é🙏");
  CHECK(mapping::truncate_utf8("é🙏x", 1) == "é");
  CHECK(mapping::utf8_length("é🙏x") == 3);
}

TEST_CASE("path parsing accepts the documented forms only") {
  CHECK(mapping::parse_path("a.b[0].c"));
  CHECK(mapping::parse_path("attachments[*].sha256")->each);
  CHECK_FALSE(mapping::parse_path(""));
  CHECK_FALSE(mapping::parse_path("a..b"));
  CHECK_FALSE(mapping::parse_path("a[x]"));
  CHECK_FALSE(mapping::parse_path("a.b."));
  CHECK_FALSE(mapping::parse_path("a b"));
}

TEST_CASE("value transforms: postcode, phone, date/time in Europe/London, regex, number, truncate") {
  Fixture fx(R"Y(mapping: m
targets: [npt_csv]
fields:
  - {name: Post, from: location.postcode, transforms: [postcode]}
  - {name: Phone, from: reporter.phone, transforms: [phone_national]}
  - {name: E164, from: reporter.phone, transforms: [phone_e164]}
  - {name: Local, from: submitted_at, transforms: [{datetime: {format: "%d/%m/%Y %H:%M"}}]}
  - {name: Digits, from: summary, transforms: [{regex_extract: {pattern: "([0-9]+)", group: 1}}]}
  - {name: Dashed, from: summary, transforms: [{regex_replace: {pattern: "\\s+", with: "-"}}]}
  - {name: Lat, from: location.lat, transforms: [{number: {decimals: 2}}]}
  - {name: Short, from: description, transforms: [{truncate: 6}]}
  - {name: Title, from: category, transforms: [titlecase]}
)Y");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  const auto& m = only(set);
  auto doc = boost::json::parse(R"({"id": "x", "version": 1, "kind": "concern", "category": "noise",
    "summary": "Bus 64 late", "description": "Zażółć gęślą", "submitted_at": "2026-10-25T00:30:00+00:00",
    "location": {"lat": 54.57425, "lon": -1.235, "postcode": "ts13qy"},
    "reporter": {"anonymous": false, "contact_ok": true, "phone": "+44 7700 900123"}})");
  auto r = mapping::apply(m, "npt_csv", doc, "x", 1);
  REQUIRE_FALSE(r.error);
  CHECK(value(r, "Post") == "TS1 3QY");
  CHECK(value(r, "Phone") == "07700 900123");
  CHECK(value(r, "E164") == "+447700900123");
  CHECK(value(r, "Local") == "25/10/2026 01:30");  // still BST: 00:30 UTC is 01:30 local
  CHECK(value(r, "Digits") == "64");
  CHECK(value(r, "Dashed") == "Bus-64-late");
  CHECK(value(r, "Lat") == "54.57");
  CHECK(value(r, "Short") == "Zażółć");
  CHECK(value(r, "Title") == "Noise");
  doc.as_object()["submitted_at"] = "2026-10-25T01:30:00+00:00";  // after the clocks went back
  CHECK(value(mapping::apply(m, "npt_csv", doc, "x", 1), "Local") == "25/10/2026 01:30");
  doc.as_object()["submitted_at"] = "2026-03-29T01:30:00Z";  // BST has begun
  CHECK(value(mapping::apply(m, "npt_csv", doc, "x", 1), "Local") == "29/03/2026 02:30");
}

TEST_CASE("a failing transform quarantines, or empties the field with on_error: empty") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
fields:
  - {name: Post, from: location.postcode, transforms: [postcode]}
  - {name: Phone, from: reporter.phone, transforms: [phone_e164], on_error: empty}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  const auto& m = only(set);
  auto doc = boost::json::parse(R"({"location": {"postcode": "TS1 3QY"}, "reporter": {"contact_ok": true, "phone": "+33 1 23 45 67 89"}})");
  auto r = mapping::apply(m, "npt_csv", doc, "x", 1);
  REQUIRE_FALSE(r.error);
  CHECK(value(r, "Phone") == "<null>");  // no value: an empty CSV cell, no XML element
  doc.as_object()["location"].as_object()["postcode"] = "NOT A POSTCODE";
  r = mapping::apply(m, "npt_csv", doc, "x", 1);
  REQUIRE(r.error);
  CHECK(r.error->field == "Post");
  CHECK(r.error->code == "transform_failed");
  CHECK(r.error->detail == "postcode: postcode.invalid");
}

TEST_CASE("transform options are checked at load with their position") {
  Fixture fx(R"Y(mapping: m
targets: [npt_csv]
fields:
  - name: A
    from: summary
    transforms:
      - {regex_replace: {pattern: "(unclosed", with: x}}
      - {truncate: 0}
      - {trim: yes}
      - datetime
      - {datetime: {format: "%d", zone: Mars/Olympus}}
      - [nested]
)Y");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":7:9: error: transform 'regex_replace'") != std::string::npos);
  CHECK(out.find(fx.file + ":8:9: error: transform 'truncate'") != std::string::npos);
  CHECK(out.find(fx.file + ":9:9: error: transform 'trim' takes no options") != std::string::npos);
  CHECK(out.find(fx.file + ":10:9: error: transform 'datetime' needs options") != std::string::npos);
  CHECK(out.find(fx.file + ":11:9: error: transform 'datetime'") != std::string::npos);
  CHECK(out.find(fx.file + ":12:9: error: 'transforms' must list values or maps, not a nested list") != std::string::npos);
}

TEST_CASE("a lookup table over 16 MiB is refused at its reference, not read whole") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
fields:
  - {name: Cat, from: category, lookup: {table: lookups/cats.csv}}
)",
             "key,value\n" + std::string(17u << 20, 'k') + ",v\n");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  CHECK_THAT(d.to_string(), Catch::Contains(":4:") && Catch::Contains("is larger than 16 MiB") &&
                                Catch::Contains("[mapping.lookup_too_large]"));
}

TEST_CASE("from: a list takes the first non-empty source, with lineage") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
fields:
  - {name: When, from: [occurred.start, occurred.ongoing]}
  - {name: Where, from: [location.address, location.postcode], transforms: uppercase}
  - {name: Summ, from: [description, summary]}
  - {name: None, from: [location.address, occurred.start], default: "n/a"}
  - {name: Empty, from: [location.address, reporter.nothing]}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  const auto& m = only(set);
  auto doc = boost::json::parse(kDoc);
  auto r = mapping::apply(m, "npt_csv", doc, "6f1c", 2);
  REQUIRE_FALSE(r.error);
  CHECK(value(r, "When") == "true");          // occurred.start missing: the next one
  CHECK(value(r, "Where") == "TS1 3QY");      // address null: the postcode, then transforms
  CHECK(value(r, "Summ").starts_with("Zaż"));  // the first is used when it has a value
  CHECK(value(r, "None") == "n/a");           // none has a value: the default
  CHECK(value(r, "Empty") == "<null>");
  // An empty string counts as empty.
  auto doc2 = boost::json::parse(R"({"id": "x", "description": "", "summary": "S", "location": {}})");
  auto r2 = mapping::apply(m, "npt_csv", doc2, "x", 1);
  REQUIRE_FALSE(r2.error);
  CHECK(value(r2, "Summ") == "S");
  auto t = mapping::apply_traced(m, "npt_csv", doc, "6f1c", 2);
  const auto text = mapping::format_lineage(t);
  INFO(text);
  CHECK(text.find("from location.postcode (first non-empty of location.address, location.postcode)") !=
        std::string::npos);
}

TEST_CASE("sequence: store gives the store's sequence number") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
fields:
  - {name: Seq, sequence: store, required: true}
  - {name: SeqRef, sequence: store, transforms: [{regex_replace: {pattern: "^", with: "CLE-"}}]}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  const auto& m = only(set);
  auto doc = boost::json::parse(kDoc);
  auto r = mapping::apply(m, "npt_csv", doc, "6f1c", 2, 48213);
  REQUIRE_FALSE(r.error);
  CHECK(value(r, "Seq") == "48213");
  CHECK(value(r, "SeqRef") == "CLE-48213");
  CHECK(value(mapping::apply(m, "npt_csv", doc, "6f1c", 2, 7), "Seq") == "7");
}

TEST_CASE("short_id: a stable base32 SHA-256 id of a fixed length") {
  Fixture fx(R"(mapping: m
targets: [npt_csv]
fields:
  - {name: Ref10, from: id, transforms: [{short_id: 10}]}
  - {name: Ref52, from: id, transforms: [{short_id: 52}]}
  - {name: Ref3, template: "{id}/{version}", transforms: [{short_id: 3}]}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  const auto& m = only(set);
  auto doc = boost::json::parse(kDoc);
  auto r = mapping::apply(m, "npt_csv", doc, "6f1c", 2);
  REQUIRE_FALSE(r.error);
  // base32(SHA-256("6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01")), as Python's base64.b32encode gives it.
  CHECK(value(r, "Ref10") == "WIA4RIZCHB");
  CHECK(value(r, "Ref52").starts_with("WIA4RIZCHB"));
  CHECK(value(r, "Ref52").size() == 52);
  CHECK(value(r, "Ref3").size() == 3);
  // The same input gives the same id again (deterministic).
  CHECK(value(mapping::apply(m, "npt_csv", doc, "6f1c", 2), "Ref10") == "WIA4RIZCHB");
}

TEST_CASE("from lists, sequence and short_id options are checked at load with their position") {
  Fixture fx(R"Y(mapping: m
targets: [npt_csv]
fields:
  - {name: A, from: [summary, "attachments[*].id"]}
  - {name: B, from: []}
  - {name: C, from: [summary, {x: 1}]}
  - {name: D, sequence: store, from: summary}
  - {name: E, sequence: row}
  - {name: F, from: summary, transforms: [{short_id: 0}]}
  - {name: G, from: summary, transforms: [{short_id: 53}]}
  - {name: H, from: summary, transforms: [{short_id: ten}]}
  - {name: I, from: [summary, location..lat]}
)Y");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":4:31: error: a 'from' list takes single values, not [*] paths") != std::string::npos);
  CHECK(out.find(fx.file + ":5:21: error: field 'B': 'from' lists no path") != std::string::npos);
  CHECK(out.find(fx.file + ":6:31: error: a 'from' list holds paths") != std::string::npos);
  CHECK(out.find(fx.file + ":7:5: error: field 'D' has more than one of") != std::string::npos);
  CHECK(out.find(fx.file + ":8:25: error: 'sequence' must be one of store") != std::string::npos);
  CHECK(out.find(fx.file + ":9:43: error: transform 'short_id' length must be 1..52") != std::string::npos);
  CHECK(out.find(fx.file + ":10:43: error: transform 'short_id' length must be 1..52") != std::string::npos);
  CHECK(out.find(fx.file + ":11:43: error: transform 'short_id' expects a length") != std::string::npos);
  CHECK(out.find(fx.file + ":12:31: error: malformed path 'location..lat'") != std::string::npos);
}
