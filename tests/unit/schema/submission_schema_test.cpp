#include <catch2/catch.hpp>

#include <cctype>
#include <chrono>
#include <functional>
#include <iostream>
#include <string>

#include <boost/json.hpp>

#include "bridge/schema/submission_schema.hpp"
#include "tests/support/temp_dir.hpp"

namespace json = boost::json;
using namespace reportbridge::schema;
using reportbridge::core::Diagnostics;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

const std::string kSchemaPath = std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json";
const std::string kId = "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01";
const std::string kSha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

const SubmissionSchema& schema() {
  static const SubmissionSchema s = [] {
    Diagnostics diags;
    auto loaded = SubmissionSchema::load(kSchemaPath, diags);
    if (!loaded) FAIL("schema did not load:\n" << diags.to_string());
    return *loaded;
  }();
  return s;
}

// The example document of app-store.md section 3, with full-length ids and hashes.
json::object valid_doc() {
  return json::parse(R"({
    "id": "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01",
    "version": 1,
    "submitted_at": "2026-11-27T18:42:10+00:00",
    "kind": "concern",
    "category": "anti_social_behaviour",
    "summary": "Group throwing stones at buses",
    "description": "Free text, up to 10,000 characters, any language and script. Dw i'n byw yma. Zażółć gęślą jaźń. 😀",
    "occurred": {"start": "2026-11-27T18:15:00+00:00", "end": null, "ongoing": true},
    "location": {"lat": 54.5742, "lon": -1.2350, "accuracy_m": 15,
                 "address": "Linthorpe Road, Middlesbrough", "postcode": "TS1 3QY"},
    "reporter": {"anonymous": false, "name": "Aisha Khan", "email": "a.khan@example.org",
                 "phone": "+447700900123", "contact_ok": true, "preferred_language": "en",
                 "age_band": "25-34", "ethnicity": "Asian or Asian British: Pakistani",
                 "gender": "female"},
    "attachments": [{"id": "b0c4d7a2-1f3e-4b5a-8c9d-0e1f2a3b4c5d", "filename": "IMG_0042.jpg",
                     "media_type": "image/jpeg", "size_bytes": 734211,
                     "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                     "path": "2026/11/27/b0c4.jpg"}],
    "device": {"platform": "ios", "app_version": "1.4.2"},
    "consent": {"share_with_partners": false}
  })").as_object();
}

PayloadCheck check(const json::value& doc, std::int64_t row_version = 1) {
  return check_payload(schema(), json::serialize(doc), kId, row_version);
}

PayloadCheck check_text(std::string_view text) { return check_payload(schema(), text, kId, 1); }

std::string describe(const std::vector<SchemaError>& errors) {
  std::string out;
  for (const auto& e : errors) out += to_string(e) + "\n";
  return out;
}

// Exactly one error, at `path` for `keyword`; returns it for further checks.
SchemaError only_error(const PayloadCheck& r, const std::string& path, const std::string& keyword) {
  INFO(describe(r.errors));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].path == path);
  CHECK(r.errors[0].keyword == keyword);
  CHECK_FALSE(r.ok());
  return r.errors[0];
}

std::string repeat(const std::string& unit, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += unit;
  return s;
}

std::optional<SubmissionSchema> parse_schema(const std::string& text, Diagnostics& diags) {
  return SubmissionSchema::parse(text, "test.schema.json", diags);
}

bool has_code(const Diagnostics& diags, const std::string& code) {
  for (const auto& d : diags.items()) {
    if (d.code == code) return true;
  }
  return false;
}

}  // namespace

// --- the schema file ------------------------------------------------------------

TEST_CASE("the schema in schemas/ loads without diagnostics") {
  Diagnostics diags;
  auto s = SubmissionSchema::load(kSchemaPath, diags);
  CHECK(s.has_value());
  INFO(diags.to_string());
  CHECK(diags.empty());
}

TEST_CASE("every property of the schema file has a description") {
  std::function<void(const json::value&, const std::string&)> walk =
      [&](const json::value& node, const std::string& at) {
        const auto& o = node.as_object();
        INFO(at);
        CHECK(o.contains("description"));
        if (auto p = o.if_contains("properties")) {
          for (const auto& m : p->as_object()) walk(m.value(), at + "/" + std::string(m.key()));
        }
        if (auto items = o.if_contains("items")) walk(*items, at + "/items");
      };
  walk(json::parse(reportbridge::testing::read_file(kSchemaPath)), "");
}

// --- documents that pass ----------------------------------------------------------

TEST_CASE("the contract's full example document passes") {
  auto r = check(valid_doc());
  INFO(describe(r.errors));
  CHECK(r.ok());
  REQUIRE(r.doc.has_value());
  CHECK(r.doc->at("kind") == "concern");
}

TEST_CASE("nulls pass where the contract allows them") {
  json::object doc = valid_doc();
  SECTION("nullable objects") {
    for (const char* k : {"summary", "occurred", "location", "reporter", "device", "consent"}) {
      doc[k] = nullptr;
    }
  }
  SECTION("nullable members") {
    doc["occurred"] = {{"start", nullptr}, {"end", nullptr}, {"ongoing", false}};
    doc["location"].as_object()["accuracy_m"] = nullptr;
    doc["location"].as_object()["address"] = nullptr;
    doc["location"].as_object()["postcode"] = nullptr;
    doc["reporter"] = {{"anonymous", true}, {"name", nullptr}, {"email", nullptr},
                       {"phone", nullptr}, {"contact_ok", false}, {"preferred_language", nullptr},
                       {"age_band", nullptr}, {"ethnicity", nullptr}, {"gender", nullptr}};
    doc["device"] = {{"platform", nullptr}, {"app_version", nullptr}};
  }
  SECTION("optional fields absent") {
    for (const char* k : {"category", "summary", "occurred", "location", "reporter",
                          "attachments", "device", "consent"}) {
      doc.erase(k);
    }
  }
  SECTION("empty attachments") { doc["attachments"] = json::array(); }
  auto r = check(doc);
  INFO(describe(r.errors));
  CHECK(r.ok());
}

TEST_CASE("an unknown category passes: the list is open") {
  json::object doc = valid_doc();
  auto category = GENERATE(as<std::string>{}, "graffiti", "Noise", "e_scooter");
  doc["category"] = category;
  CHECK(check(doc).ok());
}

TEST_CASE("extra properties pass: the app evolves") {
  json::object doc = valid_doc();
  doc["new_top_level_field"] = json::array{1, 2};
  doc["location"].as_object()["what3words"] = "filled.count.soap";
  auto r = check(doc);
  INFO(describe(r.errors));
  CHECK(r.ok());
}

TEST_CASE("a description of exactly 10,000 multi-byte characters passes") {
  json::object doc = valid_doc();
  doc["description"] = repeat("ł", 5000) + repeat("😀", 5000);  // 10,000 code points, 30,000 bytes
  auto r = check(doc);
  INFO(describe(r.errors));
  CHECK(r.ok());
}

TEST_CASE("a whole-number version written as 1.0 counts as an integer") {
  json::object doc = valid_doc();
  doc["version"] = 1.0;
  CHECK(check(doc).ok());
}

// --- payloads that are not JSON documents ------------------------------------------

TEST_CASE("invalid JSON is reported with the parser's message and byte offset") {
  std::string good = json::serialize(valid_doc());
  std::string bad = good;
  bad.replace(bad.find("\"kind\":\"concern\""), 16, "\"kind\":concern");
  auto r = check_text(bad);
  auto e = only_error(r, "", "json");
  CHECK_FALSE(r.doc.has_value());
  std::string offset = std::to_string(good.find("\"kind\":\"concern\"") + 7);
  CHECK(e.message == "invalid JSON at byte " + offset + ": syntax error");
}

TEST_CASE("other invalid JSON variants are reported as json errors") {
  std::string good = json::serialize(valid_doc());
  auto text = GENERATE_COPY(good.substr(0, good.size() - 1) + ",}",
                            "{id:" + good.substr(std::string("{\"id\":").size()),
                            std::string("{'id':'x'}"),
                            good + " trailing");
  auto r = check_text(text);
  auto e = only_error(r, "", "json");
  CHECK(e.message.rfind("invalid JSON at byte ", 0) == 0);
}

TEST_CASE("truncated JSON is reported as incomplete") {
  std::string good = json::serialize(valid_doc());
  std::string cut = good.substr(0, good.size() / 2);
  auto e = only_error(check_text(cut), "", "json");
  CHECK(e.message == "invalid JSON at byte " + std::to_string(cut.size()) + ": incomplete JSON");
}

TEST_CASE("an empty payload is invalid JSON at byte 0") {
  auto e = only_error(check_text(""), "", "json");
  CHECK(e.message == "invalid JSON at byte 0: incomplete JSON");
}

TEST_CASE("an HTML error page is invalid JSON") {
  auto e = only_error(check_text("<html><body>502 Bad Gateway</body></html>"), "", "json");
  CHECK(e.message == "invalid JSON at byte 0: syntax error");
}

TEST_CASE("a top-level array is the wrong type") {
  json::array wrapped{valid_doc()};
  auto r = check(wrapped);
  auto e = only_error(r, "", "type");
  CHECK(e.message == "expected object, got array");
  CHECK(r.doc.has_value());  // it parsed; it is just not a submission
}

// --- fields ------------------------------------------------------------------------

TEST_CASE("each required field missing fails at the document") {
  auto field = GENERATE(as<std::string>{}, "id", "version", "submitted_at", "kind", "description");
  json::object doc = valid_doc();
  doc.erase(field);
  auto e = only_error(check(doc), "", "required");
  CHECK(e.message == "missing required property '" + field + "'");
  CHECK(to_string(e) == "/: missing required property '" + field + "' [required]");
}

TEST_CASE("kind of the wrong type fails with the type keyword") {
  json::object doc = valid_doc();
  json::value kind;
  std::string got;
  SECTION("number") { kind = 3; got = "number"; }
  SECTION("array") { kind = json::array{"concern"}; got = "array"; }
  SECTION("boolean") { kind = true; got = "boolean"; }
  doc["kind"] = kind;
  auto e = only_error(check(doc), "/kind", "type");
  CHECK(e.message == "expected string, got " + got);
}

TEST_CASE("an unknown kind fails with the enum keyword") {
  auto kind = GENERATE(as<std::string>{}, "emergency", "Concern ", "", "crime_report");
  json::object doc = valid_doc();
  doc["kind"] = kind;
  auto e = only_error(check(doc), "/kind", "enum");
  CHECK(e.message == "not one of concern, complaint, information, feedback, compliment");
}

TEST_CASE("containers of the wrong type fail at their own path") {
  json::object doc = valid_doc();
  std::string path, message;
  SECTION("description as array") {
    doc["description"] = json::array{"text"};
    path = "/description";
    message = "expected string, got array";
  }
  SECTION("attachments as object") {
    doc["attachments"] = json::parse(R"({"0": {"filename": "IMG_0001.jpg"}})");
    path = "/attachments";
    message = "expected array, got object";
  }
  SECTION("reporter as string") {
    doc["reporter"] = "Anonymous caller";
    path = "/reporter";
    message = "expected object or null, got string";
  }
  SECTION("location as string") {
    doc["location"] = "Linthorpe Road, Middlesbrough";
    path = "/location";
    message = "expected object or null, got string";
  }
  SECTION("submitted_at as integer") {
    doc["submitted_at"] = 1795804930;
    path = "/submitted_at";
    message = "expected string, got number";
  }
  auto e = only_error(check(doc), path, "type");
  CHECK(e.message == message);
}

TEST_CASE("submitted_at must be a real RFC 3339 date-time with an offset") {
  json::object doc = valid_doc();
  std::string message;
  SECTION("impossible calendar values") {
    doc["submitted_at"] = "2026-13-40T25:00:00Z";
    message = "date-time is not a real date or time (a field is out of range)";
  }
  SECTION("no offset") {
    doc["submitted_at"] = "2026-11-27T18:42:10";
    message = "date-time has no time zone offset (Z or ±HH:MM)";
  }
  SECTION("not a date-time at all") {
    doc["submitted_at"] = "27/11/2026 18:42";
    message = "not an RFC 3339 date-time (expected YYYY-MM-DDTHH:MM:SS with Z or ±HH:MM)";
  }
  auto e = only_error(check(doc), "/submitted_at", "format");
  CHECK(e.message == message);
}

TEST_CASE("nested date-times are checked too") {
  json::object doc = valid_doc();
  doc["occurred"].as_object()["end"] = "2026-11-27";
  only_error(check(doc), "/occurred/end", "format");
}

TEST_CASE("coordinates out of range fail without echoing the value") {
  json::object doc = valid_doc();
  SECTION("lat above 90") {
    doc["location"].as_object()["lat"] = 154.57;
    auto e = only_error(check(doc), "/location/lat", "maximum");
    CHECK(e.message == "value above maximum 90");
    CHECK(to_string(e) == "/location/lat: value above maximum 90 [maximum]");
  }
  SECTION("lat below -90") {
    doc["location"].as_object()["lat"] = -91.0;
    CHECK(only_error(check(doc), "/location/lat", "minimum").message == "value below minimum -90");
  }
  SECTION("lon below -180") {
    doc["location"].as_object()["lon"] = -181.2;
    auto e = only_error(check(doc), "/location/lon", "minimum");
    CHECK(e.message == "value below minimum -180");
  }
  SECTION("lon as a string") {
    doc["location"].as_object()["lon"] = "-1.2350";
    CHECK(only_error(check(doc), "/location/lon", "type").message == "expected number, got string");
  }
  SECTION("a number too large for a double") {
    doc["location"].as_object()["lat"] = 424242;  // a marker replaced in the text
    std::string text = json::serialize(doc);
    text.replace(text.find("424242"), 6, "1e400");
    auto e = only_error(check_text(text), "/location/lat", "type");
    CHECK(e.message == "number too large to represent");
  }
}

TEST_CASE("a location object needs lat and lon") {
  json::object doc = valid_doc();
  doc["location"].as_object().erase("lat");
  auto e = only_error(check(doc), "/location", "required");
  CHECK(e.message == "missing required property 'lat'");
}

TEST_CASE("negative accuracy and size fail their minimum") {
  json::object doc = valid_doc();
  SECTION("accuracy") {
    doc["location"].as_object()["accuracy_m"] = -1;
    only_error(check(doc), "/location/accuracy_m", "minimum");
  }
  SECTION("size") {
    doc["attachments"].as_array()[0].as_object()["size_bytes"] = -5;
    only_error(check(doc), "/attachments/0/size_bytes", "minimum");
  }
}

TEST_CASE("version must be a whole number of at least 1") {
  json::object doc = valid_doc();
  SECTION("zero") {
    doc["version"] = 0;
    CHECK(only_error(check(doc, 0), "/version", "minimum").message == "value below minimum 1");
  }
  SECTION("fraction") {
    doc["version"] = 1.5;
    CHECK(only_error(check(doc), "/version", "type").message == "expected integer, got number");
  }
  SECTION("string") {
    doc["version"] = "1";
    only_error(check(doc), "/version", "type");
  }
}

TEST_CASE("an id that is not a UUID fails its pattern, either case of hex passes") {
  json::object doc = valid_doc();
  SECTION("not a UUID") {
    doc["id"] = "report-42";
    auto r = check_payload(schema(), json::serialize(doc), "report-42", 1);
    only_error(r, "/id", "pattern");
  }
  SECTION("upper case") {
    std::string upper = "6F1C2B7E-3C1A-4D7E-9A77-1D2F0B6C9E01";
    doc["id"] = upper;
    CHECK(check_payload(schema(), json::serialize(doc), upper, 1).ok());
  }
}

TEST_CASE("sha256 must be 64 lowercase hex digits") {
  json::object doc = valid_doc();
  auto& att = doc["attachments"].as_array()[0].as_object();
  SECTION("upper case") {
    std::string upper = kSha;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    att["sha256"] = upper;
  }
  SECTION("short") { att["sha256"] = "9f86d0"; }
  SECTION("too long") { att["sha256"] = kSha + "00"; }
  auto e = only_error(check(doc), "/attachments/0/sha256", "pattern");
  CHECK(e.message == "does not match pattern ^[0-9a-f]{64}$");
}

TEST_CASE("an attachment missing a required member fails at the attachment") {
  json::object doc = valid_doc();
  auto second = doc["attachments"].as_array()[0];
  second.as_object().erase("path");
  doc["attachments"].as_array().push_back(second);
  auto e = only_error(check(doc), "/attachments/1", "required");
  CHECK(e.message == "missing required property 'path'");
}

TEST_CASE("description over 10,000 code points fails maxLength") {
  json::object doc = valid_doc();
  doc["description"] = repeat("ł", 5000) + repeat("😀", 5001);
  auto e = only_error(check(doc), "/description", "maxLength");
  CHECK(e.message == "longer than the maximum of 10000 characters");
}

TEST_CASE("category must be 1 to 64 characters, summary at most 200") {
  json::object doc = valid_doc();
  SECTION("empty category") {
    doc["category"] = "";
    CHECK(only_error(check(doc), "/category", "minLength").message ==
          "shorter than the minimum of 1 character");
  }
  SECTION("long category") {
    doc["category"] = repeat("x", 65);
    only_error(check(doc), "/category", "maxLength");
  }
  SECTION("64 multi-byte characters pass") {
    doc["category"] = repeat("ż", 64);
    CHECK(check(doc).ok());
  }
  SECTION("category null") {
    doc["category"] = nullptr;
    only_error(check(doc), "/category", "type");
  }
  SECTION("long summary") {
    doc["summary"] = repeat("a", 201);
    only_error(check(doc), "/summary", "maxLength");
  }
}

TEST_CASE("payload id and version must equal the store row's") {
  json::object doc = valid_doc();
  SECTION("id") {
    auto r = check_payload(schema(), json::serialize(doc), "00000000-0000-4000-8000-000000000000", 1);
    auto e = only_error(r, "/id", "row_mismatch");
    CHECK(e.message == "does not match the store row's id");
  }
  SECTION("version") {
    auto e = only_error(check(doc, 2), "/version", "row_mismatch");
    CHECK(e.message == "does not match the store row's version");
  }
  SECTION("not checked again when the field is already wrong") {
    doc["version"] = "2";
    only_error(check(doc, 2), "/version", "type");
  }
}

TEST_CASE("all errors are reported, in schema order") {
  json::object doc = valid_doc();
  doc.erase("description");
  doc["location"].as_object()["lat"] = 540.0;
  doc["kind"] = "emergency";
  doc["submitted_at"] = 5;
  doc["attachments"].as_array()[0].as_object()["sha256"] = "ABC";
  auto r = check(doc);
  INFO(describe(r.errors));
  REQUIRE(r.errors.size() == 5);
  CHECK(r.errors[0] == SchemaError{"", "required", "missing required property 'description'"});
  CHECK(r.errors[1].path == "/submitted_at");
  CHECK(r.errors[2].path == "/kind");
  CHECK(r.errors[3].path == "/location/lat");
  CHECK(r.errors[4].path == "/attachments/0/sha256");
  CHECK(schema().validate(*r.doc) == r.errors);  // same order every time
}

// --- keywords the submission schema does not use, on small schemas ----------------

TEST_CASE("additionalProperties false, const, items and enum of numbers") {
  Diagnostics diags;
  auto s = parse_schema(R"({
    "type": "object", "additionalProperties": false,
    "properties": {
      "schema": {"const": "v2"},
      "scores": {"type": "array", "items": {"enum": [1, 2.5, "x"]}},
      "a/b~c": {"type": "boolean"}
    }})", diags);
  REQUIRE(s);
  CHECK(diags.empty());
  CHECK(s->validate(json::parse(R"({"schema": "v2", "scores": [1.0, 2.5, "x"], "a/b~c": true})")).empty());
  auto errors = s->validate(json::parse(R"({"schema": "v1", "scores": [3], "a/b~c": 1, "Aisha": 1})"));
  INFO(describe(errors));
  REQUIRE(errors.size() == 4);
  CHECK(errors[0] == SchemaError{"/schema", "const", "not the required value \"v2\""});
  CHECK(errors[1] == SchemaError{"/scores/0", "enum", "not one of 1, 2.5, x"});
  CHECK(errors[2] == SchemaError{"/a~1b~0c", "type", "expected boolean, got number"});
  CHECK(errors[3] == SchemaError{"/Aisha", "additionalProperties", "property not allowed"});
}

TEST_CASE("a schema with an unsupported keyword gives a diagnostic") {
  Diagnostics diags;
  auto s = parse_schema(R"({"type": "object", "properties": {
      "lat": {"type": "number", "exclusiveMaximum": 90},
      "name": {"type": "string", "maxLenght": 3}}})", diags);
  CHECK_FALSE(s.has_value());
  REQUIRE(diags.size() == 2);
  CHECK(diags.items()[0].code == "schema.unsupported_keyword");
  CHECK(diags.items()[0].to_string() ==
        "test.schema.json: error: /properties/lat/exclusiveMaximum: unsupported keyword "
        "'exclusiveMaximum' [schema.unsupported_keyword]");
  CHECK(diags.items()[1].message ==
        "/properties/name/maxLenght: unsupported keyword 'maxLenght' (did you mean 'maxLength'?)");
}

TEST_CASE("schema load failures are diagnosed") {
  Diagnostics diags;
  std::string code;
  SECTION("missing file") {
    CHECK_FALSE(SubmissionSchema::load("/nonexistent/submission.schema.json", diags));
    code = "schema.io_error";
  }
  SECTION("invalid JSON, with line and column") {
    CHECK_FALSE(parse_schema("{\n  \"type\": \"object\",\n  oops\n}", diags));
    code = "schema.invalid_json";
    REQUIRE(diags.size() == 1);
    CHECK(diags.items()[0].line == 3);
    CHECK(diags.items()[0].column == 3);
  }
  SECTION("pattern RE2 cannot compile") {
    CHECK_FALSE(parse_schema(R"({"pattern": "(unclosed"})", diags));
    code = "schema.bad_pattern";
  }
  SECTION("unsupported format") {
    CHECK_FALSE(parse_schema(R"({"format": "email"})", diags));
    code = "schema.unsupported_format";
  }
  SECTION("additionalProperties as a schema") {
    CHECK_FALSE(parse_schema(R"({"additionalProperties": {"type": "string"}})", diags));
    code = "schema.unsupported_keyword";
  }
  SECTION("unknown type name") {
    CHECK_FALSE(parse_schema(R"({"type": ["string", "text"]})", diags));
    code = "schema.bad_value";
  }
  SECTION("bad keyword values") {
    auto text = GENERATE(as<std::string>{}, R"({"maxLength": -1})", R"({"minimum": "0"})",
                         R"({"required": "id"})", R"({"enum": []})", R"({"properties": []})",
                         R"({"items": true})", R"({"description": 5})", R"({"type": []})",
                         R"({"required": ["id", "id"]})", R"({"minimum": 5, "maximum": 1})",
                         R"({"minLength": 5, "maxLength": 1})", R"({"type": ["null", "null"]})");
    INFO(text);
    CHECK_FALSE(parse_schema(text, diags));
    code = "schema.bad_value";
  }
  INFO(diags.to_string());
  CHECK(has_code(diags, code));
}

TEST_CASE("a schema file written to disk loads like parsed text") {
  TempDir dir;
  write_file(dir / "s.json", R"({"type": "object", "required": ["id"]})");
  Diagnostics diags;
  auto s = SubmissionSchema::load((dir / "s.json").string(), diags);
  REQUIRE(s);
  CHECK(s->validate(json::parse("{}")).size() == 1);
  CHECK(s->validate(json::parse(R"({"id": 1})")).empty());
}

// --- the resident's message ------------------------------------------------------

TEST_CASE("resident messages name the problem in plain words") {
  json::object doc = valid_doc();
  std::string expected;
  SECTION("location") {
    doc["location"].as_object()["lat"] = 154.57;
    expected = "We could not read your report because the location was not valid. "
               "Please try sending it again from the latest version of the app.";
  }
  SECTION("missing description") {
    doc.erase("description");
    expected = "We could not read your report because the description was missing. "
               "Please try sending it again from the latest version of the app.";
  }
  SECTION("too long") {
    doc["description"] = repeat("a", 10001);
    expected = "We could not accept your report because the description was too long. "
               "Please shorten it and send the report again.";
  }
  SECTION("two fields") {
    doc["kind"] = "emergency";
    doc["reporter"] = "Anonymous caller";
    expected = "We could not read your report because the type of report and your details "
               "were not valid. Please try sending it again from the latest version of the app.";
  }
  SECTION("several fields") {
    doc["kind"] = 3;
    doc.erase("id");
    doc["consent"] = "yes";
    expected = "We could not read your report because several details were missing or not "
               "valid. Please try sending it again from the latest version of the app.";
  }
  SECTION("row mismatch") {
    auto r = check_payload(schema(), json::serialize(doc), kId, 7);
    CHECK(resident_message(r.errors) ==
          "We could not read your report because it arrived incomplete or damaged. "
          "Please try sending it again from the latest version of the app.");
    return;
  }
  CHECK(resident_message(check(doc).errors) == expected);
}

TEST_CASE("resident messages never contain the submitted values") {
  std::string good = json::serialize(valid_doc());
  auto doc = valid_doc();
  doc["location"].as_object()["lat"] = 154.57;
  doc["kind"] = "Aisha Khan emergency";
  doc["description"] = json::array{"Linthorpe Road secret"};
  doc["reporter"] = "a.khan@example.org";
  std::vector<std::vector<SchemaError>> cases = {
      check(doc).errors,
      check_text(good.substr(0, 300)).errors,
      check_text("<html><body>Aisha Khan</body></html>").errors,
      check(json::array{valid_doc()}).errors,
  };
  // Keys are not resident data, but an unexpected key still must not be echoed.
  Diagnostics diags;
  auto closed = parse_schema(R"({"type": "object", "additionalProperties": false})", diags);
  REQUIRE(closed);
  cases.push_back(closed->validate(json::parse(R"({"Aisha Khan": 1})")));
  for (const auto& errors : cases) {
    REQUIRE_FALSE(errors.empty());
    std::string m = resident_message(errors);
    INFO(m);
    CHECK_FALSE(m.empty());
    for (const char* secret : {"154", "Aisha", "Khan", "Linthorpe", "a.khan", "emergency",
                               "html", "byte", "JSON", "/", "[", "_"}) {
      CHECK(m.find(secret) == std::string::npos);
    }
  }
  CHECK(resident_message({}).empty());
}

// --- micro-benchmark (hidden: run with `submission_schema_test [.bench]`) -----------

TEST_CASE("validation cost per payload", "[.bench]") {
  std::string text = json::serialize(valid_doc());
  json::value doc = json::parse(text);
  const int n = 200000;
  std::size_t errors = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) errors += schema().validate(doc).size();
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) errors += check_payload(schema(), text, kId, 1).errors.size();
  auto t2 = std::chrono::steady_clock::now();
  auto us = [&](auto a, auto b) {
    return std::chrono::duration<double, std::micro>(b - a).count() / n;
  };
  std::cout << "payload " << text.size() << " bytes: validate " << us(t0, t1)
            << " us, parse+validate " << us(t1, t2) << " us per payload\n";
  CHECK(errors == 0);
}

// --- size caps (issue #15 item 8) ---------------------------------------------------

TEST_CASE("every string in the schema file has a maxLength") {
  std::function<void(const json::value&, const std::string&)> walk =
      [&](const json::value& node, const std::string& at) {
        const auto& o = node.as_object();
        bool is_string = false;
        if (auto t = o.if_contains("type")) {
          if (t->is_string()) is_string = t->as_string() == "string";
          else
            for (const auto& x : t->as_array()) is_string = is_string || x.as_string() == "string";
        }
        INFO(at);
        // An enum, or a pattern anchored at both ends without * or +, bounds the length already.
        bool bounded = o.contains("maxLength") || o.contains("enum");
        if (auto pat = o.if_contains("pattern")) {
          const std::string re(pat->as_string());
          bounded = bounded || (re.front() == '^' && re.back() == '$' && re.find_first_of("*+") == std::string::npos);
        }
        if (is_string) CHECK(bounded);
        if (auto p = o.if_contains("properties"))
          for (const auto& m : p->as_object()) walk(m.value(), at + "/" + std::string(m.key()));
        if (auto items = o.if_contains("items")) walk(*items, at + "/items");
      };
  walk(json::parse(reportbridge::testing::read_file(kSchemaPath)), "");
}

TEST_CASE("an overlong address, name or attachment path is invalid, without echoing it") {
  auto doc = valid_doc();
  doc["location"].as_object()["address"] = repeat("a", 501);
  doc["reporter"].as_object()["name"] = repeat("N", 201);
  auto r = check(doc);
  CHECK_FALSE(r.ok());
  INFO(describe(r.errors));
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].path == "/location/address");
  CHECK(r.errors[0].keyword == "maxLength");
  CHECK(r.errors[0].message.find("aaa") == std::string::npos);
  CHECK(r.errors[1].path == "/reporter/name");
  CHECK(r.errors[1].keyword == "maxLength");
  doc = valid_doc();
  doc["location"].as_object()["address"] = repeat("é", 500);  // characters, not bytes
  CHECK(check(doc).ok());
}

TEST_CASE("a payload over 1 MiB is refused before it is parsed, with a clear message") {
  auto doc = valid_doc();
  // A 50 MB address once flowed into a 50 MB CSV cell.
  doc["location"].as_object()["address"] = std::string(50u << 20, 'x');
  const std::string text = json::serialize(doc);
  auto r = check_text(text);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.doc);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].keyword == "size");
  CHECK(r.errors[0].message == "payload larger than 1048576 bytes (1 MiB), the limit for one submission");
  CHECK(resident_message(r.errors) ==
        "We could not accept your report because it was too large. Please shorten it and send it again.");
  // Just under the cap, an unknown extra property passes (the app evolves).
  doc = valid_doc();
  doc["future_field"] = std::string(kMaxPayloadBytes - 4096, 'f');
  CHECK(check(doc).ok());
}

// check_payload reuses one parser per thread and gives each tree an arena of
// its own: a tree must stay whole while later payloads (valid, invalid,
// larger) are parsed on the same thread, and a value assigned out of it (a
// deep copy into the target's storage) must outlive the check it came from.
TEST_CASE("a parsed payload stays intact while later payloads are parsed on the same thread") {
  const std::string first = json::serialize(valid_doc());
  auto kept = check_text(first);
  REQUIRE(kept.ok());
  json::value copied_out;
  {
    auto other = valid_doc();
    other["description"] = std::string(9000, 'x');
    auto big = check(other);
    REQUIRE(big.ok());
    copied_out = big.doc->as_object().at("description");  // copied into copied_out's storage
    CHECK(check_text("{\"id\": ").errors.front().keyword == "json");
    CHECK(check_text("[1, 2, 3]").doc.has_value());
    for (int i = 0; i < 50; ++i) CHECK(check(valid_doc()).ok());
  }  // `big`, its tree and its arena are gone
  CHECK(json::serialize(*kept.doc) == first);
  CHECK(json::value_to<std::string>(kept.doc->as_object().at("description")) ==
        json::value_to<std::string>(valid_doc().at("description")));
  REQUIRE(copied_out.is_string());
  CHECK(copied_out.as_string() == std::string(9000, 'x'));
}
