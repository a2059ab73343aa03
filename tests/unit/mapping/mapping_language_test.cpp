// Templates, grid references, pseudonymisation, routing predicates, privacy,
// signposting, load-time checks against the schema and targets, lineage, and
// the shipped example mappings.
#include <catch2/catch.hpp>

#include <algorithm>

#include <boost/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "bridge/mapping/mapping.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::read_file;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;
namespace fs = std::filesystem;

namespace {

const fs::path kSourceDir = REPORTBRIDGE_SOURCE_DIR;
const std::vector<std::string> kTargets{"npt_csv", "psd_csv", "rms_soap", "psd_xml", "council_csv", "review_csv"};

// An identified resident who agreed to be contacted and to partner sharing.
const char* kDoc = R"({
  "id": "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01", "version": 2, "kind": "concern",
  "submitted_at": "2026-07-01T17:05:00+00:00",
  "category": "noise", "summary": "Loud music", "description": "Music from the flat above until 3am.",
  "occurred": {"start": "2026-06-30T23:00:00Z", "end": null, "ongoing": true},
  "location": {"lat": 54.5742, "lon": -1.235, "postcode": "ts1 3qy", "address": "Linthorpe Road"},
  "reporter": {"anonymous": false, "name": "Aisha Khan", "email": "A.Khan@Example.org",
               "phone": "+447700900123", "contact_ok": true, "preferred_language": "en"},
  "attachments": [{"id": "a1", "sha256": "aa", "path": "x/a1.jpg", "media_type": "image/jpeg", "size_bytes": 10}],
  "consent": {"share_with_partners": true}
})";

std::vector<std::string> submission_paths() {
  return mapping::schema_paths(boost::json::parse(read_file(kSourceDir / "schemas/submission.schema.json")));
}

struct Fixture {
  TempDir dir;
  std::string file;
  explicit Fixture(const std::string& yaml) {
    write_file(dir / "lookups/cats.csv", "key,value\nnoise,ASB-NOISE\n");
    file = (dir / "m.yaml").string();
    write_file(file, yaml);
  }
  std::optional<mapping::MappingSet> load(core::Diagnostics& d, mapping::LoadOptions o = {}) const {
    if (o.known_targets.empty()) o.known_targets = kTargets;
    if (o.known_paths.empty()) o.known_paths = submission_paths();
    return mapping::MappingSet::load({file}, o, d);
  }
};

const mapping::Mapping& first(const std::optional<mapping::MappingSet>& set) {
  REQUIRE(set);
  REQUIRE_FALSE(set->mappings().empty());
  return set->mappings()[0];
}

std::optional<std::string> value(const mapping::MapResult& r, const std::string& field) {
  INFO(field);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.record);
  auto* v = r.record->find(field);
  REQUIRE(v != nullptr);
  return *v;
}

std::vector<std::string> names(const std::vector<const mapping::Mapping*>& ms) {
  std::vector<std::string> out;
  for (const auto* m : ms) out.push_back(m->name);
  return out;
}

}  // namespace

TEST_CASE("schema_paths lists every property path, with [*] for list items") {
  auto paths = submission_paths();
  auto has = [&](const std::string& p) { return std::find(paths.begin(), paths.end(), p) != paths.end(); };
  CHECK(has("id"));
  CHECK(has("location"));
  CHECK(has("location.lat"));
  CHECK(has("reporter.email"));
  CHECK(has("attachments"));
  CHECK(has("attachments[*].sha256"));
  CHECK(has("consent.share_with_partners"));
  CHECK_FALSE(has("attachments.sha256"));
  CHECK(std::is_sorted(paths.begin(), paths.end()));
  CHECK(mapping::generic_path(*mapping::parse_path("attachments[3].id")) == "attachments[*].id");
}

TEST_CASE("templates join several paths, missing values render empty") {
  Fixture fx(R"(mapping: m
targets: npt_csv
fields:
  - name: Title
    template: "{summary} ({category}) at {location.postcode}"
    transforms: uppercase
  - name: Braces
    template: "{{literal}} {kind}"
  - name: Missing
    template: "[{location.address}]"
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  auto doc = boost::json::parse(kDoc);
  auto r = mapping::apply(first(set), "npt_csv", doc, "x", 1);
  CHECK(value(r, "Title") == "LOUD MUSIC (NOISE) AT TS1 3QY");
  CHECK(value(r, "Braces") == "{literal} concern");
  CHECK(value(r, "Missing") == "[Linthorpe Road]");
  doc.as_object()["location"].as_object()["address"] = nullptr;
  CHECK(value(mapping::apply(first(set), "npt_csv", doc, "x", 1), "Missing") == "[]");
}

TEST_CASE("template errors and unknown paths are reported at load with positions") {
  Fixture fx(R"(mapping: m
targets: npt_csv
fields:
  - name: A
    template: "{summary"
  - name: B
    template: "{sumary} and {kind}"
  - name: C
    from: location.postcod
  - name: D
    from: attachments[0].sha265
  - name: E
    value: x
    template: "{kind}"
)");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":5:16: error: template: column 1: '{' is never closed") != std::string::npos);
  CHECK(out.find(fx.file + ":7:15: error: unknown path 'sumary': the submission schema has no such field, did you mean 'summary'?") != std::string::npos);
  CHECK(out.find(fx.file + ":9:11: error: unknown path 'location.postcod'") != std::string::npos);
  CHECK(out.find("did you mean 'location.postcode'?") != std::string::npos);
  CHECK(out.find(fx.file + ":11:11: error: unknown path 'attachments[0].sha265'") != std::string::npos);
  CHECK(out.find("did you mean 'attachments[*].sha256'?") != std::string::npos);
  CHECK(out.find(fx.file + ":12:5: error: field 'E' has more than one of") != std::string::npos);
}

TEST_CASE("without known paths, paths are not checked against a schema") {
  Fixture fx("mapping: m\ntargets: npt_csv\nfields:\n  - {name: A, from: not.in.schema}\n");
  core::Diagnostics d;
  CHECK(mapping::MappingSet::load({fx.file}, kTargets, d));
  CHECK(d.empty());
}

TEST_CASE("bng gives British National Grid easting and northing from lat/lon") {
  Fixture fx(R"(mapping: m
targets: npt_csv
fields:
  - {name: E, bng: easting}
  - {name: N, bng: northing}
  - {name: E2, bng: {part: easting, lat: location.lat, lon: location.lon}}
  - {name: Strict, bng: northing}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  const auto& m = first(set);
  // Ordnance Survey trig point test: Caister Water Tower region is far; use a
  // known point: 54.5742 N, 1.235 W is in Middlesbrough (NZ 49x 20x).
  auto doc = boost::json::parse(kDoc);
  auto r = mapping::apply(m, "npt_csv", doc, "x", 1);
  const auto e = std::stol(*value(r, "E"));
  const auto n = std::stol(*value(r, "N"));
  CHECK(e > 449000);
  CHECK(e < 451000);
  CHECK(n > 519000);
  CHECK(n < 521000);
  CHECK(value(r, "E2") == value(r, "E"));

  doc.as_object()["location"] = nullptr;  // no location: no grid reference
  r = mapping::apply(m, "npt_csv", doc, "x", 1);
  CHECK_FALSE(value(r, "E"));

  doc.as_object()["location"] = boost::json::object{{"lat", 40.0}, {"lon", -1.0}};  // Spain
  r = mapping::apply(m, "npt_csv", doc, "x", 1);
  REQUIRE(r.error);
  CHECK(r.error->field == "E");
  CHECK(r.error->rule == "bng");
  CHECK(r.error->detail == "bng: bng.out_of_range");
}

TEST_CASE("bng matches Ordnance Survey's published test points within a few metres") {
  Fixture fx("mapping: m\ntargets: npt_csv\nfields:\n  - {name: E, bng: easting}\n  - {name: N, bng: northing}\n");
  core::Diagnostics d;
  auto set = fx.load(d);
  const auto& m = first(set);
  // Ordnance Survey's OSTN15 test points TP04, TP09, TP13 (ETRS89 ~ WGS84).
  struct P { double lat, lon; long e, n; };
  for (const P& p : {P{50.57563665000, -1.29782277240, 449816, 75336}, P{51.48936564950, -0.11992557180, 530625, 178388},
                     P{52.25160951230, -0.91248956970, 474336, 262048}}) {
    auto doc = boost::json::parse(kDoc);
    doc.as_object()["location"] = boost::json::object{{"lat", p.lat}, {"lon", p.lon}};
    auto r = mapping::apply(m, "npt_csv", doc, "x", 1);
    CHECK(std::abs(std::stol(*value(r, "E")) - p.e) <= 5);
    CHECK(std::abs(std::stol(*value(r, "N")) - p.n) <= 5);
  }
}

TEST_CASE("pseudonymise: keyed HMAC tokens, key file relative to the mapping") {
  Fixture fx(R"(mapping: m
targets: npt_csv
partner_targets: []
fields:
  - name: Token
    from: reporter.email
    transforms:
      - pseudonymise: {key_file: keys/resident.key, purpose: resident-email, kind: email}
)");
  write_file(fx.dir / "keys/resident.key", "0123456789abcdef0123456789abcdef");
  fs::permissions(fx.dir / "keys/resident.key", fs::perms::owner_read | fs::perms::owner_write);
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  auto doc = boost::json::parse(kDoc);
  const auto token = value(mapping::apply(first(set), "npt_csv", doc, "x", 1), "Token");
  REQUIRE(token);
  CHECK(token->size() == 32);
  CHECK(token->find("khan") == std::string::npos);
  doc.as_object()["reporter"].as_object()["email"] = " a.khan@example.org ";  // same person
  CHECK(value(mapping::apply(first(set), "npt_csv", doc, "x", 1), "Token") == token);
  doc.as_object()["reporter"].as_object()["email"] = "b.other@example.org";
  CHECK(value(mapping::apply(first(set), "npt_csv", doc, "x", 1), "Token") != token);
}

TEST_CASE("pseudonymise: a missing or readable-by-others key file is an error at load") {
  Fixture fx(R"(mapping: m
targets: npt_csv
fields:
  - name: Token
    from: reporter.phone
    transforms:
      - pseudonymise: {key_file: keys/none.key, purpose: p}
  - name: Token2
    from: reporter.phone
    transforms:
      - pseudonymise: {key_file: keys/open.key, purpose: p, kind: phone}
  - name: Token3
    from: reporter.phone
    transforms:
      - pseudonymise: {key_file: keys/open.key, purpose: p, kind: colour}
)");
  write_file(fx.dir / "keys/open.key", "0123456789abcdef0123456789abcdef");
  fs::permissions(fx.dir / "keys/open.key", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":7:9: error: transform 'pseudonymise'") != std::string::npos);
  CHECK(out.find(fx.file + ":11:9: error: transform 'pseudonymise'") != std::string::npos);
  CHECK(out.find(fx.file + ":15:9: error: transform 'pseudonymise' kind must be text, email, phone or raw") != std::string::npos);
}

TEST_CASE("where predicates: equals, in, regex, exists, not") {
  Fixture fx(R"(mapping: teesside
targets: npt_csv
when:
  kind: concern
  where:
    - {path: location.postcode, regex: "(?i)^ts"}
    - {path: category, in: [noise, drugs]}
    - {path: reporter.anonymous, equals: "false"}
    - {path: location.address, exists: true}
    - {path: summary, regex: "(?i)test", not: true}
fields:
  - {name: Ref, from: id}
---
)");
  write_file(fx.file, read_file(fx.file).substr(0, read_file(fx.file).find("---")));
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  REQUIRE(set);
  auto doc = boost::json::parse(kDoc);
  CHECK(names(set->route(doc)) == std::vector<std::string>{"teesside"});
  auto variant = [&](const char* obj, const char* key, boost::json::value v) {
    auto x = doc;
    if (*obj) x.as_object()[obj].as_object()[key] = v; else x.as_object()[key] = v;
    return set->route(x).size();
  };
  CHECK(variant("location", "postcode", "DL1 1AA") == 0);
  CHECK(variant("", "category", "speeding") == 0);
  CHECK(variant("reporter", "anonymous", true) == 0);
  CHECK(variant("location", "address", nullptr) == 0);
  CHECK(variant("", "summary", "just a TEST") == 0);
  CHECK(variant("", "summary", nullptr) == 1);  // not regex: nothing to match, so it holds
}

TEST_CASE("where predicates are checked at load") {
  Fixture fx(R"(mapping: m
targets: npt_csv
when:
  where:
    - {path: category, equals: a, in: [b]}
    - {path: category, regex: "(open"}
    - {path: categroy, exists: true}
    - {path: category, matches: x}
fields:
  - {name: Ref, from: id}
)");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":5:7: error: a where test needs exactly one of equals, in, regex, exists") != std::string::npos);
  CHECK(out.find(fx.file + ":6:31: error: bad regex: ") != std::string::npos);
  CHECK(out.find(fx.file + ":7:14: error: unknown path 'categroy'") != std::string::npos);
  CHECK(out.find(fx.file + ":8:24: error: unknown key 'matches' in where test") != std::string::npos);
}

TEST_CASE("privacy: contact fields never leak for anonymous or no-contact reporters") {
  Fixture fx(R"(mapping: m
targets: npt_csv
fields:
  - {name: Name, from: reporter.name}
  - {name: Email, from: reporter.email, transforms: [trim, lowercase]}
  - {name: Phone, from: reporter.phone, default: "WITHHELD"}
  - {name: Greeting, template: "Dear {reporter.name}"}
  - {name: Extra, from: device.platform, contact: true}
  - {name: Language, from: reporter.preferred_language}
  - {name: Summary, from: summary}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  INFO(d.to_string());
  const auto& m = first(set);
  for (const auto& f : m.fields)
    CHECK(f.contact == (f.name != "Language" && f.name != "Summary"));

  auto allowed = boost::json::parse(kDoc);
  allowed.as_object()["device"] = boost::json::object{{"platform", "ios"}};
  auto r = mapping::apply(m, "npt_csv", allowed, "x", 1);
  CHECK(value(r, "Name") == "Aisha Khan");
  CHECK(value(r, "Email") == "a.khan@example.org");
  CHECK(value(r, "Greeting") == "Dear Aisha Khan");
  CHECK(value(r, "Extra") == "ios");

  // Every way of withholding: anonymous (even with details present), no
  // contact_ok, contact_ok false, reporter null, reporter missing.
  std::vector<boost::json::value> docs;
  for (int i = 0; i < 5; ++i) docs.push_back(allowed);
  docs[0].as_object()["reporter"].as_object()["anonymous"] = true;
  docs[1].as_object()["reporter"].as_object().erase("contact_ok");
  docs[2].as_object()["reporter"].as_object()["contact_ok"] = false;
  docs[3].as_object()["reporter"] = nullptr;
  docs[4].as_object().erase("reporter");
  for (std::size_t i = 0; i < docs.size(); ++i) {
    INFO("case " << i);
    auto w = mapping::apply(m, "npt_csv", docs[i], "x", 1);
    REQUIRE(w.record);
    CHECK_FALSE(value(w, "Name"));
    CHECK_FALSE(value(w, "Email"));
    CHECK(value(w, "Phone") == "WITHHELD");
    CHECK_FALSE(value(w, "Greeting"));
    CHECK_FALSE(value(w, "Extra"));
    CHECK(value(w, "Summary") == "Loud music");
    const auto json = core::to_json(*w.record);
    for (const char* secret : {"Aisha", "Khan", "khan@", "7700900123", "ios"}) CHECK(json.find(secret) == std::string::npos);
    // The lineage says why, and shows nothing of the withheld values.
    auto traced = mapping::apply_traced(m, "npt_csv", docs[i], "x", 1);
    const auto text = mapping::format_lineage(traced);
    CHECK(text.find("withheld: contact details") != std::string::npos);
    for (const char* secret : {"Aisha", "khan@", "7700900123"}) CHECK(text.find(secret) == std::string::npos);
  }
}

TEST_CASE("privacy: contact fields cannot be required or declared non-contact") {
  Fixture fx(R"(mapping: m
targets: npt_csv
fields:
  - name: Email
    from: reporter.email
    required: true
  - name: Phone
    from: reporter.phone
    contact: false
)");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":6:15: error: contact field 'Email' cannot be required") != std::string::npos);
  CHECK(out.find(fx.file + ":9:14: error: field 'Phone' reads the reporter's contact details; it cannot be 'contact: false'") != std::string::npos);
}

TEST_CASE("privacy: partner targets receive a submission only with consent") {
  TempDir dir;
  write_file(dir / "a.yaml", R"(mapping: shared
targets: [npt_csv, council_csv]
partner_targets: council_csv
fields:
  - {name: Ref, from: id}
)");
  write_file(dir / "b.yaml", R"(mapping: council_only
targets: council_csv
fields:
  - {name: Ref, from: id}
)");
  core::Diagnostics d;
  auto set = mapping::MappingSet::load({(dir / "a.yaml").string(), (dir / "b.yaml").string()}, kTargets, d);
  INFO(d.to_string());
  REQUIRE(set);
  CHECK(set->is_partner("council_csv"));
  CHECK_FALSE(set->is_partner("npt_csv"));
  // Declared once, it holds for every mapping feeding the target.
  CHECK(set->mappings()[1].partner_targets == std::vector<std::string>{"council_csv"});

  auto doc = boost::json::parse(kDoc);
  auto plan = set->plan(doc);
  CHECK(plan.routes.size() == 3);
  CHECK(plan.withheld.empty());

  for (auto consent : {boost::json::value(false), boost::json::value(nullptr)}) {
    doc.as_object()["consent"] = boost::json::object{{"share_with_partners", consent}};
    plan = set->plan(doc);
    REQUIRE(plan.routes.size() == 1);
    CHECK(plan.routes[0].target == "npt_csv");
    CHECK(plan.withheld.size() == 2);
    CHECK(mapping::format_plan(plan).find("WITHHELD: mapping shared -> partner target council_csv") != std::string::npos);
    // apply refuses too, so a caller that ignores plan() cannot leak.
    auto r = mapping::apply(set->mappings()[1], "council_csv", doc, "x", 1);
    REQUIRE(r.error);
    CHECK(r.error->code == "partner_consent");
    CHECK(r.error->rule == "partner_targets");
  }
  doc.as_object().erase("consent");
  CHECK(set->plan(doc).routes.size() == 1);
}

TEST_CASE("a partner target must be one of the mapping's targets") {
  Fixture fx("mapping: m\ntargets: npt_csv\npartner_targets: [npt_cvs]\nfields:\n  - {name: Ref, from: id}\n");
  core::Diagnostics d;
  CHECK_FALSE(fx.load(d));
  CHECK(d.to_string().find(fx.file + ":3:19: error: partner target 'npt_cvs' is not one of this mapping's targets, did you mean 'npt_csv'?") != std::string::npos);
}

TEST_CASE("signposting marks needs_review with the rule, review target and message") {
  TempDir dir;
  write_file(dir / "signposts.yaml", R"(signposts:
  - rule: risk_to_life
    patterns: ['(?i)\bknife\b', '(?i)\bbleeding\b']
    review_target: review_csv
    message: "Not for emergencies: call 999 now if anyone is in danger, or 101."
  - rule: in_progress
    fields: summary
    patterns: '(?i)happening now'
    review_target: review_csv
)");
  write_file(dir / "review.yaml", R"(mapping: review
targets: review_csv
when: {needs_review: true}
fields:
  - {name: Ref, from: id}
)");
  write_file(dir / "normal.yaml", R"(mapping: normal
targets: npt_csv
when: {needs_review: false}
fields:
  - {name: Ref, from: id}
)");
  write_file(dir / "always.yaml", R"(mapping: always
targets: psd_csv
fields:
  - {name: Ref, from: id}
)");
  core::Diagnostics d;
  std::vector<std::string> files;
  for (const char* f : {"signposts.yaml", "review.yaml", "normal.yaml", "always.yaml"}) files.push_back((dir / f).string());
  auto set = mapping::MappingSet::load(files, kTargets, d);
  INFO(d.to_string());
  REQUIRE(set);
  REQUIRE(set->signpost_rules().size() == 2);

  auto doc = boost::json::parse(kDoc);
  CHECK_FALSE(set->signpost(doc));
  CHECK(names(set->route(doc)) == std::vector<std::string>{"normal", "always"});

  doc.as_object()["description"] = "He has a KNIFE and is shouting";
  auto s = set->signpost(doc);
  REQUIRE(s);
  CHECK(s->rule == "risk_to_life");
  CHECK(s->review_target == "review_csv");
  CHECK(s->message.find("999") != std::string::npos);
  CHECK(names(set->route(doc)) == std::vector<std::string>{"review", "always"});
  auto plan = set->plan(doc);
  REQUIRE(plan.signpost);
  CHECK(plan.routes.size() == 2);
  CHECK(plan.routes[0].target == "review_csv");
  CHECK(mapping::format_plan(plan).find("NEEDS REVIEW: signpost rule 'risk_to_life' -> review target review_csv") != std::string::npos);

  doc.as_object()["description"] = "It is happening now";  // only summary is searched by in_progress
  CHECK_FALSE(set->signpost(doc));
  doc.as_object()["summary"] = "Fight happening now";
  s = set->signpost(doc);
  REQUIRE(s);
  CHECK(s->rule == "in_progress");
  CHECK(s->message == mapping::kDefaultSignpostMessage);
}

TEST_CASE("signposting rules are checked at load") {
  TempDir dir;
  write_file(dir / "s.yaml", R"(signposts:
  - rule: a
    patterns: ['(unclosed']
    review_target: review_cvs
  - rule: b
    patterns: x
    review_target: npt_csv
    message: "Please call us."
  - rule: b
    patterns: y
    fields: [descripton]
    review_target: psd_csv
)");
  write_file(dir / "m.yaml", "mapping: m\ntargets: npt_csv\nwhen: {needs_review: false}\nfields:\n  - {name: Ref, from: id}\n");
  core::Diagnostics d;
  mapping::LoadOptions o;
  o.known_targets = kTargets;
  o.known_paths = submission_paths();
  CHECK_FALSE(mapping::MappingSet::load({(dir / "s.yaml").string(), (dir / "m.yaml").string()}, o, d));
  const auto out = d.to_string();
  const auto f = (dir / "s.yaml").string();
  INFO(out);
  CHECK(out.find(f + ":3:16: error: bad regex: ") != std::string::npos);
  CHECK(out.find(f + ":4:20: error: unknown target 'review_cvs', did you mean 'review_csv'?") != std::string::npos);
  CHECK(out.find(f + ":8:14: error: a signpost message must tell the resident to call 999") != std::string::npos);
  CHECK(out.find(f + ":5:5: error: review target 'npt_csv' of rule 'b' is fed by no mapping that takes signposted submissions") != std::string::npos);
  CHECK(out.find(f + ":9:5: error: signpost rule 'b' is declared twice") != std::string::npos);
  CHECK(out.find(f + ":11:14: error: unknown path 'descripton'") != std::string::npos);
  CHECK(out.find(f + ":9:5: error: review target 'psd_csv' of rule 'b' is fed by no mapping") != std::string::npos);
}

TEST_CASE("target fields are checked against the target's field list") {
  Fixture fx(R"(mapping: m
targets: [psd_xml, npt_csv]
fields:
  - {name: AppReference, from: id}
  - {name: Summry, from: summary}
)");
  core::Diagnostics d;
  mapping::LoadOptions o;
  o.target_fields["psd_xml"] = {"AppReference", "Summary"};
  CHECK_FALSE(fx.load(d, o));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find(fx.file + ":5:12: error: target 'psd_xml' has no field 'Summry', did you mean 'Summary'? [mapping.unknown_target_field]") != std::string::npos);
  CHECK(d.items().size() == 1);  // npt_csv has no list: not checked
}

TEST_CASE("runtime failures name the mapping, the rule and the field") {
  Fixture fx(R"(mapping: strict
targets: npt_csv
fields:
  - {name: Ref, from: id, required: true}
  - {name: Post, from: location.postcode, transforms: [trim, postcode]}
  - {name: Cat, from: category, lookup: {table: lookups/cats.csv}}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  const auto& m = first(set);
  auto doc = boost::json::parse(kDoc);
  doc.as_object()["location"].as_object()["postcode"] = "nowhere";
  auto r = mapping::apply(m, "npt_csv", doc, "x", 1);
  REQUIRE(r.error);
  CHECK(r.error->rule == "transforms[2] postcode");
  CHECK(mapping::to_string(*r.error) ==
        "mapping 'strict' field 'Post' rule 'transforms[2] postcode': transform_failed: postcode: postcode.invalid");
  doc.as_object()["location"].as_object()["postcode"] = "TS1 3QY";
  doc.as_object()["category"] = "parking";
  r = mapping::apply(m, "npt_csv", doc, "x", 1);
  REQUIRE(r.error);
  CHECK(r.error->rule == "lookup");
  doc.as_object().erase("id");
  r = mapping::apply(m, "npt_csv", doc, "x", 1);
  REQUIRE(r.error);
  CHECK(r.error->rule == "required");
  auto traced = mapping::apply_traced(m, "npt_csv", doc, "x", 1);
  CHECK(mapping::format_lineage(traced).find("QUARANTINED: mapping 'strict' field 'Ref' rule 'required'") != std::string::npos);
}

TEST_CASE("lineage shows each step with its intermediate value") {
  Fixture fx(R"(mapping: m
targets: npt_csv
fields:
  - {name: Ref, from: id}
  - {name: Summary, from: summary, transforms: [uppercase, {truncate: 4}]}
  - {name: Cat, from: category, lookup: {table: lookups/cats.csv}}
  - {name: Addr, from: location.address, transforms: [trim], default: none}
  - {name: Src, value: APP}
  - {name: Post, from: location.postcode, transforms: [phone_e164], on_error: empty}
)");
  core::Diagnostics d;
  auto set = fx.load(d);
  const auto& m = first(set);
  auto doc = boost::json::parse(kDoc);
  doc.as_object()["location"].as_object()["address"] = nullptr;
  auto traced = mapping::apply_traced(m, "npt_csv", doc, "x", 1);
  REQUIRE(traced.result.record);
  REQUIRE(traced.lineage.size() == 6);
  const auto& s = traced.lineage[1];
  REQUIRE(s.steps.size() == 3);
  CHECK(s.steps[0].what == "from summary");
  CHECK(s.steps[0].value == "Loud music");
  CHECK(s.steps[1].what == "| uppercase");
  CHECK(s.steps[1].value == "LOUD MUSIC");
  CHECK(s.steps[2].what == "| truncate(4)");
  CHECK(s.value == "LOUD");
  const auto text = mapping::format_lineage(traced);
  INFO(text);
  CHECK(text.find("  Ref     = \"6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01\"   <- from id\n") != std::string::npos);
  CHECK(text.find("  Summary = \"LOUD\"\n"
                  "            <- from summary: \"Loud music\"\n"
                  "               | uppercase: \"LOUD MUSIC\"\n"
                  "               | truncate(4)\n") != std::string::npos);
  CHECK(text.find("| lookup cats.csv") != std::string::npos);
  CHECK(text.find("  Addr    = \"none\"\n            <- from location.address: null\n               default\n") != std::string::npos);
  CHECK(text.find("  Src     = \"APP\"   <- constant\n") != std::string::npos);
  CHECK(text.find("phone_e164 failed (phone.invalid): emptied by on_error") != std::string::npos);
  CHECK(text.find("  attachment image/jpeg 10 bytes sha256 aa\n") == std::string::npos);  // no attachments: true
  // The record from apply_traced is the record from apply.
  CHECK(core::to_json(*traced.result.record) == core::to_json(*mapping::apply(m, "npt_csv", doc, "x", 1).record));
}

TEST_CASE("the shipped mappings load against the schema and map the contract's sample") {
  mapping::LoadOptions o;
  o.known_targets = {"npt_csv", "psd_csv", "rms_soap", "psd_xml"};
  o.known_paths = submission_paths();
  std::vector<std::string> files;
  for (const char* f : {"npt_community_report.yaml", "psd_feedback.yaml", "rms_community_report.yaml",
                        "psd_complaint.yaml", "signposting.yaml"})
    files.push_back((kSourceDir / "mappings" / f).string());
  core::Diagnostics d;
  auto set = mapping::MappingSet::load(files, o, d);
  INFO(d.to_string());
  REQUIRE(set);
  CHECK(d.empty());

  auto doc = boost::json::parse(kDoc);
  auto plan = set->plan(doc);
  std::vector<std::string> targets;
  for (const auto& r : plan.routes) targets.push_back(r.target);
  CHECK(targets == std::vector<std::string>{"npt_csv", "rms_soap"});
  const mapping::Mapping* rms = plan.routes[1].mapping;
  auto r = mapping::apply(*rms, "rms_soap", doc, "x", 2);
  CHECK(value(r, "CategoryCode") == "ASB04");
  CHECK(value(r, "ReportedAt") == "2026-07-01T18:05:00");      // BST
  CHECK(value(r, "OccurredFrom") == "2026-07-01T00:00:00");
  CHECK_FALSE(value(r, "OccurredTo"));
  CHECK(value(r, "Postcode") == "TS1 3QY");
  INFO(*value(r, "Easting"));
  CHECK(value(r, "Easting")->size() == 6);
  CHECK(value(r, "ReporterEmail") == "a.khan@example.org");
  CHECK(r.record->attachments.size() == 1);

  doc.as_object()["kind"] = "complaint";
  doc.as_object()["reporter"].as_object()["anonymous"] = true;
  doc.as_object()["description"] = "An officer pulled a knife";
  plan = set->plan(doc);
  REQUIRE(plan.signpost);
  CHECK(plan.signpost->rule == "risk_to_life");
  targets.clear();
  for (const auto& p : plan.routes) targets.push_back(p.target);
  CHECK(targets == std::vector<std::string>{"psd_csv", "psd_xml"});
  const mapping::Mapping* psd = plan.routes[1].mapping;
  auto c = mapping::apply(*psd, "psd_xml", doc, "x", 2);
  CHECK(value(c, "Title") == "Complaint: Loud music");
  CHECK(value(c, "IncidentPlace") == "Linthorpe Road ts1 3qy");
  CHECK_FALSE(value(c, "ComplainantName"));
  CHECK_FALSE(value(c, "ComplainantEmail"));
  CHECK(value(c, "Anonymous") == "true");
  CHECK(core::to_json(*c.record).find("Khan") == std::string::npos);
}

TEST_CASE("a signposted complaint also goes to the review target through the review mapping") {
  mapping::LoadOptions o;
  o.known_targets = {"npt_csv", "psd_csv", "rms_soap", "psd_xml"};
  o.known_paths = submission_paths();
  std::vector<std::string> files;
  for (const char* f : {"npt_community_report.yaml", "psd_feedback.yaml", "rms_community_report.yaml",
                        "rms_review.yaml", "psd_complaint.yaml", "signposting.yaml"})
    files.push_back((kSourceDir / "mappings" / f).string());
  core::Diagnostics d;
  auto set = mapping::MappingSet::load(files, o, d);
  INFO(d.to_string());
  REQUIRE(set);
  auto doc = boost::json::parse(kDoc);
  doc.as_object()["kind"] = "complaint";
  doc.as_object()["category"] = "officer_conduct";
  auto targets_of = [&](const boost::json::value& v) {
    std::vector<std::string> t;
    for (const auto& r : set->plan(v).routes) t.push_back(r.target);
    return t;
  };
  auto plain = targets_of(doc);
  CHECK(std::find(plain.begin(), plain.end(), "rms_soap") == plain.end());  // a complaint is not an RMS report
  doc.as_object()["description"] = "He is being attacked outside the shop right now";
  auto plan = set->plan(doc);
  REQUIRE(plan.signpost);
  CHECK(plan.signpost->review_target == "rms_soap");
  auto marked = targets_of(doc);
  CHECK(std::find(marked.begin(), marked.end(), "rms_soap") != marked.end());
  CHECK(std::find(marked.begin(), marked.end(), "psd_xml") != marked.end());  // and its usual target
  for (const auto& r : plan.routes)
    if (r.target == "rms_soap") {
      CHECK(r.mapping->name == "rms_signposted_review");
      auto rec = mapping::apply(*r.mapping, "rms_soap", doc, "x", 1);
      REQUIRE_FALSE(rec.error);
      CHECK(value(rec, "CategoryCode") == "GEN99");  // unknown category: the lookup's default
    }
}

// A nested list once passed check and switched the consent gate off: the
// partner target was then fed as an ordinary one. Both examples from issue #15.
TEST_CASE("privacy: a nested list in partner_targets or when is refused at its position") {
  Fixture partner(R"(mapping: shared
targets: [npt_csv, council_csv]
partner_targets: [[council_csv]]
fields:
  - {name: Ref, from: id}
)");
  core::Diagnostics d;
  CHECK_FALSE(partner.load(d));
  CHECK_THAT(d.to_string(), Catch::Contains(partner.file + ":3:19: error: 'partner_targets' must list single values: found a nested list"));

  Fixture when(R"(mapping: info
targets: [council_csv]
when: {kind: [[information]]}
fields:
  - {name: Ref, from: id}
)");
  core::Diagnostics d2;
  CHECK_FALSE(when.load(d2));
  CHECK_THAT(d2.to_string(), Catch::Contains(when.file + ":3:15: error: 'kind' must list single values: found a nested list"));

  // The same for every other list of values a mapping holds.
  Fixture others(R"(mapping: others
targets: [npt_csv, [psd_csv]]
when:
  category: [{noise: x}]
fields:
  - {name: Ref, from: id, transforms: [[trim]]}
)");
  core::Diagnostics d3;
  CHECK_FALSE(others.load(d3));
  const std::string out = d3.to_string();
  INFO(out);
  CHECK_THAT(out, Catch::Contains(others.file + ":2:20: error: 'targets' must list single values"));
  CHECK_THAT(out, Catch::Contains(others.file + ":4:14: error: 'category' must list single values: found a map"));
  CHECK_THAT(out, Catch::Contains(others.file + ":6:40: error: 'transforms' must list values or maps, not a nested list"));
  CHECK(out.find("bad_transform") == std::string::npos);  // reported once

  Fixture in(R"(mapping: in
targets: [npt_csv]
when:
  where:
    - {path: kind, in: [concern, [information]]}
fields:
  - {name: Ref, from: id}
)");
  core::Diagnostics d4;
  CHECK_FALSE(in.load(d4));
  CHECK_THAT(d4.to_string(), Catch::Contains(in.file + ":5:34: error: 'in' must list single values: found a nested list"));
}

// A file listed as a mapping that is not one (a password file) is reported
// once, without its lines; an unknown key that is not name-like is masked.
TEST_CASE("a file that is not a mapping is named, never quoted") {
  Fixture shadow("root:$6$saltsalt$Hh2Fq7oVbnxsecret1:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n");
  core::Diagnostics d;
  CHECK_FALSE(shadow.load(d));
  std::string out = d.to_string();
  CHECK_THAT(out, Catch::Contains(shadow.file + ":1:1: error: this is not a mapping file"));
  CHECK(out.find("secret1") == std::string::npos);
  CHECK(out.find("daemon") == std::string::npos);
  CHECK(d.size() == 1);

  Fixture htpasswd("admin: $2y$10$abcdefghijklmnopqrstuvsecrethash\n");
  core::Diagnostics d2;
  CHECK_FALSE(htpasswd.load(d2));
  CHECK(d2.to_string().find("secrethash") == std::string::npos);

  Fixture mixed("mapping: m\ntargets: [npt_csv]\nfields: [{name: A, from: id}]\n"
                "root:$6$saltsalt$Hh2Fq7oVbnxsecret1:19000:0:99999:7:::\n");
  core::Diagnostics d3;
  CHECK_FALSE(mixed.load(d3));
  out = d3.to_string();
  CHECK_THAT(out, Catch::Contains(mixed.file + ":4:1: error: unknown key 'roo... (53 bytes)' in mapping"));
  CHECK(out.find("secret1") == std::string::npos);
}

// Found by fuzz_yaml (tests/fuzz/corpus/fuzz_yaml/crash_signposts_map.yaml): a
// signposting file whose `signposts` is a map, not a list, made the loader
// walk the map's entries as rules; yaml-cpp threw InvalidNode from Mark() and
// `check` (and the daemon's start or reload) ended in std::terminate.
TEST_CASE("a signposting file whose signposts is a map is an error at its position and not a crash") {
  Fixture f("signposts:\n  rule: risk_to_life\n  patterns: ['(?i)\\bin progress\\b']\n");
  core::Diagnostics d;
  CHECK_FALSE(f.load(d));
  CHECK_THAT(d.to_string(), Catch::Contains(f.file + ":2:3: error:"));
}
