// apply()'s fast paths give the records the general paths give: values read
// in place versus copied (apply versus apply_traced), grid references from
// JSON numbers versus the same numbers as text, and remembered parent
// objects versus fresh lookups.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "bridge/core/record.hpp"
#include "bridge/mapping/mapping.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/gen_store/generator.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

// Every kind of step the RMS mapping uses, plus paths that share parents,
// miss, or cross a scalar.
const char* kMapping = R"(mapping: fast
targets: [rms_soap]
fields:
  - name: Id
    from: id
  - name: Summary
    from: summary
    transforms: [trim, collapse_whitespace]
    default: "[none]"
    max_length: 20
  - name: Narrative
    from: description
    transforms: [trim, normalise_nfc]
    max_length: 4000
  - name: ReportedAt
    from: submitted_at
    transforms:
      - datetime: {format: "%Y-%m-%dT%H:%M:%S"}
  - name: OccurredFrom
    from: occurred.start
    transforms:
      - datetime: {format: "%d/%m/%Y %H:%M %Z"}
    on_error: empty
  - name: OccurredTo
    from: occurred.end
    transforms:
      - datetime: {format: "%F %T"}
    on_error: empty
  - name: Ongoing
    from: occurred.ongoing
    transforms: [uppercase]
  - name: Easting
    bng: easting
    on_error: empty
  - name: Northing
    bng: {part: northing, lat: location.lat, lon: location.lon}
    on_error: empty
  - name: Address
    from: location.address
    transforms: [trim, collapse_whitespace]
  - name: Language
    from: reporter.preferred_language
    transforms: [uppercase]
  - name: Postcode
    from: location.postcode
    transforms: postcode
    on_error: empty
  - name: Platform
    from: device.platform
    transforms: [titlecase]
  - name: Accuracy
    from: location.accuracy_m
    transforms: [trim]
  - name: FirstAttachment
    from: attachments[0].filename
    transforms: [trim]
  - name: Hashes
    from: attachments[*].sha256
    transforms: [uppercase]
)";

std::optional<mapping::MappingSet> load(const TempDir& dir, const std::string& yaml) {
  const auto file = (dir / "m.yaml").string();
  write_file(file, yaml);
  core::Diagnostics d;
  mapping::LoadOptions o;
  o.known_targets = {"rms_soap"};
  auto set = mapping::MappingSet::load({file}, o, d);
  INFO(d.to_string());
  REQUIRE(set);
  return set;
}

std::string outcome(const mapping::MapResult& r) {
  if (r.error) return "error: " + mapping::to_string(*r.error);
  return core::to_json(*r.record);
}

std::string shortest(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

}  // namespace

TEST_CASE("values read in place give the records copied values give, over generated submissions") {
  TempDir dir;
  auto set = load(dir, kMapping);
  const auto& m = set->mappings().front();
  std::size_t with_grid = 0;
  for (std::int64_t i = 0; i < 3000; ++i) {
    auto doc = boost::json::parse(gen::make_payload(7, i));
    // apply_traced records lineage, which reads every value by copy.
    const auto fast = mapping::apply(m, "rms_soap", doc, "id", 1);
    const auto traced = mapping::apply_traced(m, "rms_soap", doc, "id", 1);
    INFO(boost::json::serialize(doc));
    REQUIRE(outcome(fast) == outcome(traced.result));
    if (fast.record && fast.record->find("Easting") && **fast.record->find("Easting") != "") ++with_grid;
  }
  CHECK(with_grid > 2500);
}

TEST_CASE("grid references from JSON numbers equal those from the same numbers as text") {
  TempDir dir;
  auto set = load(dir, R"(mapping: grid
targets: [rms_soap]
fields:
  - name: Easting
    bng: easting
  - name: Northing
    bng: northing
)");
  const auto& m = set->mappings().front();
  auto doc_for = [](const boost::json::value& lat, const boost::json::value& lon) {
    boost::json::object loc;
    loc["lat"] = lat;
    loc["lon"] = lon;
    boost::json::object doc;
    doc["location"] = std::move(loc);
    return boost::json::value(std::move(doc));
  };
  auto compare = [&](double lat, double lon) {
    // Numbers take the direct route; strings holding the text the bridge
    // renders numbers as take the text route.
    const auto as_numbers = mapping::apply(m, "rms_soap", doc_for(lat, lon), "id", 1);
    const auto as_text =
        mapping::apply(m, "rms_soap", doc_for(boost::json::string(shortest(lat)), boost::json::string(shortest(lon))),
                       "id", 1);
    INFO(shortest(lat) << ", " << shortest(lon));
    CHECK(outcome(as_numbers) == outcome(as_text));
    return as_numbers;
  };
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> lat_d(49.8, 60.9), lon_d(-8.8, 1.9);
  for (int i = 0; i < 5000; ++i) compare(lat_d(rng), lon_d(rng));
  // Near the prime meridian std::to_chars writes "1e-05", which the text
  // route refuses: the number route must refuse it too.
  const auto meridian = compare(54.5, 0.00001);
  REQUIRE(meridian.error);
  CHECK(meridian.error->detail == "bng: bng.invalid");
  for (double lon : {0.0, -0.0, 0.001, -0.001, 0.0001, 0.00012, -0.000999, 1e-300}) compare(54.5, lon);
  // Out of range, huge, and on the edges of the Helmert's area.
  for (double lat : {49.79, 60.94, 48.0, 62.0, 100000.0, 9999.5, 1e22}) compare(lat, -1.5);
  for (double lon : {-8.82, 1.92, -9.01, 2.01, -9.02, 2.02}) compare(54.0, lon);
  // Whole numbers in JSON are integers, not doubles: the text route.
  const auto whole = mapping::apply(m, "rms_soap", doc_for(54, -1), "id", 1);
  const auto whole_text = mapping::apply(m, "rms_soap", doc_for("54", "-1"), "id", 1);
  CHECK(outcome(whole) == outcome(whole_text));
  CHECK_FALSE(whole.error);
}

TEST_CASE("paths that share a parent, miss it, or cross a scalar read the right values") {
  TempDir dir;
  auto set = load(dir, R"(mapping: paths
targets: [rms_soap]
fields:
  - name: A
    from: reporter.name
  - name: B
    from: location.postcode
  - name: C
    from: reporter.email
  - name: D
    from: reporter.missing
    default: none
  - name: E
    from: nothing.at_all
    default: none
  - name: F
    from: kind.sub
    default: none
  - name: G
    from: occurred.start
  - name: H
    from: reporter.name
  - name: I
    from: attachments[1].filename
  - name: J
    from: attachments[5].filename
    default: none
  - name: K
    from: location.lat
  - name: L
    from: attachments[*].sha256
)");
  const auto& m = set->mappings().front();
  auto doc = boost::json::parse(R"({
    "kind": "concern", "occurred": {"start": "2026-01-01T00:00:00Z"},
    "location": {"postcode": "TS1 3QY", "lat": 54.5},
    "reporter": {"anonymous": false, "contact_ok": true, "name": "Aisha", "email": "a@example.org"},
    "attachments": [{"filename": "one.jpg", "sha256": "aa"}, {"filename": "two.jpg", "sha256": "bb"}]
  })");
  auto r = mapping::apply(m, "rms_soap", doc, "id", 1);
  REQUIRE_FALSE(r.error);
  auto v = [&](const char* f) { return r.record->find(f) ? r.record->find(f)->value_or("<null>") : "<absent>"; };
  CHECK(v("A") == "Aisha");
  CHECK(v("B") == "TS1 3QY");
  CHECK(v("C") == "a@example.org");
  CHECK(v("D") == "none");
  CHECK(v("E") == "none");
  CHECK(v("F") == "none");
  CHECK(v("G") == "2026-01-01T00:00:00Z");
  CHECK(v("H") == "Aisha");
  CHECK(v("I") == "two.jpg");
  CHECK(v("J") == "none");
  CHECK(v("K") == "54.5");
  CHECK(v("L") == "aa;bb");

  // A parent that is not an object, and a value that is an object.
  doc.as_object()["reporter"] = "anonymous";
  r = mapping::apply(m, "rms_soap", doc, "id", 1);
  REQUIRE_FALSE(r.error);
  CHECK_FALSE(*r.record->find("A"));
  CHECK(v("D") == "none");
  doc.as_object()["location"].as_object()["postcode"] = boost::json::object{{"x", 1}};
  r = mapping::apply(m, "rms_soap", doc, "id", 1);
  REQUIRE(r.error);
  CHECK(r.error->code == "not_scalar");
  CHECK(r.error->field == "B");
}

// apply_into reuses one record from submission to submission (ingest keeps one
// per thread): whatever it held before (a longer record of another mapping,
// attachments, a record left half-made by a failure), what it holds after is
// exactly what apply gives.
TEST_CASE("a record reused by apply_into holds what apply gives whatever it held before") {
  TempDir dir;
  auto big = load(dir, kMapping);
  const auto& m = big->mappings().front();
  TempDir dir2;
  auto small = load(dir2, R"(mapping: small
targets: [rms_soap]
attachments: true
fields:
  - name: Kind
    from: kind
  - name: Count
    from: bridge.attachment_count
)");
  const auto& s = small->mappings().front();
  TempDir dir3;
  auto strict = load(dir3, R"(mapping: strict
targets: [rms_soap]
fields:
  - name: Id
    from: id
  - name: Missing
    from: no_such_field
    required: true
)");
  const auto& f = strict->mappings().front();
  core::TargetRecord reused;
  std::size_t with_attachments = 0, failed = 0;
  for (std::int64_t i = 0; i < 600; ++i) {
    auto doc = boost::json::parse(gen::make_payload(11, i));
    if (i % 2 == 0)
      doc.as_object()["attachments"] = boost::json::array{
          {{"id", "a" + std::to_string(i)}, {"filename", "p.jpg"}, {"media_type", "image/jpeg"},
           {"size_bytes", 10 + i}, {"sha256", std::string(64, 'a')}, {"path", "x/p.jpg"}}};
    INFO(boost::json::serialize(doc));
    const auto& which = i % 3 == 0 ? m : i % 3 == 1 ? s : f;
    const auto expected = mapping::apply(which, "rms_soap", doc, "id-" + std::to_string(i), i + 1);
    const auto error = mapping::apply_into(which, "rms_soap", doc, "id-" + std::to_string(i), i + 1, 0, reused);
    REQUIRE(error.has_value() == expected.error.has_value());
    if (error) {
      CHECK(mapping::to_string(*error) == mapping::to_string(*expected.error));
      ++failed;
      continue;
    }
    REQUIRE(core::to_json(reused) == core::to_json(*expected.record));
    REQUIRE(reused.fields.size() == which.fields.size());
    if (!reused.attachments.empty()) ++with_attachments;
  }
  CHECK(failed == 200);
  CHECK(with_attachments > 20);  // attachments were there to be left behind
}
