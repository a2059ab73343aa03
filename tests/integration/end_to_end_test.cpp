// End to end: the real binary on a generated store, delivering with the shipped
// mappings to a CSV drop, an XML drop (schemas/psd_complaint.xsd) and the RMS
// SOAP service (tests/servers/rms_spyne_server.py, validating every Report
// against schemas/rms_community_report.xsd), then edits of delivered reports,
// signposting and a partner target that needs the resident's consent.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/rms_spyne.hpp"
#include "tests/servers/server_process.hpp"

using namespace reportbridge::testing;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string kSource = REPORTBRIDGE_SOURCE_DIR;
constexpr int kGenerated = 240;

// A partner target (the council) that may receive fly-tipping reports only
// with consent.share_with_partners; the shipped mappings declare none.
const char* kCouncilMapping = R"(mapping: council_fly_tipping
targets: [council_csv]
partner_targets: council_csv
when:
  category: fly_tipping
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Consent, from: consent.share_with_partners, default: "none"}
)";

std::string config_for(const std::string& rms_url) {
  const std::string m = kSource + "/mappings/";
  const std::string drop = "    max_age: 100ms\n    retry: {max_attempts: 5, base: 200ms, cap: 1s}\n";
  return "state:\n  path: state/state.db\n"
         "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n  poll_interval: 50ms\n"
         "  batch_size: 500\n"
         "schema: " + kSource + "/schemas/submission.schema.json\n"
         "mappings:\n"
         "  - " + m + "npt_community_report.yaml\n"
         "  - " + m + "psd_feedback.yaml\n"
         "  - " + m + "psd_complaint.yaml\n"
         "  - " + m + "rms_community_report.yaml\n"
         "  - " + m + "signposting.yaml\n"
         "  - mappings/council.yaml\n"
         "targets:\n"
         "  - name: npt_csv\n    type: csv_drop\n    directory: out/npt\n" + drop +
         "  - name: psd_csv\n    type: csv_drop\n    directory: out/psd\n" + drop +
         "  - name: council_csv\n    type: csv_drop\n    directory: out/council\n" + drop +
         "  - name: psd_xml\n    type: xml_drop\n    directory: out/psd_xml\n"
         "    xsd: " + kSource + "/schemas/psd_complaint.xsd\n    root: Complaint\n"
         "    attachments_path: Attachments/Attachment\n" + drop +
         // The RMS from its own contract, as config/demo.yaml has it.
         rms_soap_target(rms_url) +
         "    batch_size: 50\n    batch_wait: 100ms\n    connect_timeout: 2s\n    request_timeout: 10s\n"
         "    retry: {max_attempts: 5, base: 200ms, cap: 1s}\n"
         "    writeback: {message: \"Recorded by the RMS.\", reference: true}\n"
         "health: {enabled: false}\n"  // tests run side by side: no fixed port
         "logging:\n  level: info\n";
}

struct Row {
  std::int64_t seq = 0;
  std::string id;
  std::int64_t version = 0;
  std::string payload;
};

std::vector<Row> store_rows(const std::string& path) {
  std::vector<Row> rows;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT seq, id, version, payload FROM submissions ORDER BY seq", -1, &st,
                             nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW)
    rows.push_back({sqlite3_column_int64(st, 0), reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
                    sqlite3_column_int64(st, 2), reinterpret_cast<const char*>(sqlite3_column_text(st, 3))});
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

struct Status {
  std::string state, reference, message;
};

std::map<std::string, Status> full_statuses(const std::string& path) {
  std::map<std::string, Status> out;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT submission_id, state, coalesce(reference, ''), coalesce(message, '')"
                             " FROM submission_status", -1, &st, nullptr) == SQLITE_OK);
  auto text = [&](int i) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i))); };
  while (sqlite3_step(st) == SQLITE_ROW) out[text(0)] = {text(1), text(2), text(3)};
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// "id:version" -> times seen, over every published CSV in `dir` (RFC 4180,
// comma, CRLF, header skipped; the first two columns are id and version).
std::map<std::string, int> csv_rows(const fs::path& dir) {
  std::map<std::string, int> seen;
  if (!fs::exists(dir)) return seen;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".csv" || e.path().filename().string().front() == '.') continue;
    const std::string text = read_file(e.path());
    std::vector<std::string> record;
    std::string cell;
    bool quoted = false, header = true;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (quoted) {
        if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
          cell += '"';
          ++i;
        } else if (c == '"') {
          quoted = false;
        } else {
          cell += c;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        record.push_back(std::move(cell));
        cell.clear();
      } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
        record.push_back(std::move(cell));
        cell.clear();
        if (!header && record.size() >= 2) seen[record[0] + ":" + record[1]]++;
        header = false;
        record.clear();
        ++i;
      } else {
        cell += c;
      }
    }
  }
  return seen;
}

std::string element(const std::string& doc, const std::string& name) {
  const std::string open = "<" + name + ">";
  const auto at = doc.find(open);
  if (at == std::string::npos) return "";
  const auto from = at + open.size();
  return doc.substr(from, doc.find('<', from) - from);
}

// "id:version" -> the names of the XML drop documents holding it.
std::map<std::string, std::vector<std::string>> xml_docs(const fs::path& dir) {
  std::map<std::string, std::vector<std::string>> seen;
  if (!fs::exists(dir)) return seen;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".xml" || name.front() == '.') continue;
    const std::string doc = read_file(e.path());
    seen[element(doc, "AppReference") + ":" + element(doc, "Version")].push_back(name);
  }
  return seen;
}

json::object rms_dump(const ServerProcess& rms) {
  auto r = run_process({python(), "-c",
                        "import sys, urllib.request\n"
                        "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())",
                        rms.url("/dump")});
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

std::string str(const json::value& v) { return std::string(v.as_string()); }

// What the shipped mappings (plus the council mapping) route a valid payload to.
std::set<std::string> expected_targets(const json::object& doc) {
  const std::string kind = str(doc.at("kind"));
  std::set<std::string> t;
  if (kind == "concern" || kind == "information") t = {"npt_csv", "rms_soap"};
  if (kind == "complaint") t = {"psd_csv", "psd_xml"};
  if (kind == "feedback" || kind == "compliment") t = {"psd_csv"};
  const auto* cat = doc.if_contains("category");
  const auto* consent = doc.if_contains("consent");
  const bool shares = consent && consent->is_object() && consent->as_object().if_contains("share_with_partners") &&
                      consent->as_object().at("share_with_partners") == true;
  if (cat && cat->is_string() && cat->as_string() == "fly_tipping" && shares) t.insert("council_csv");
  return t;
}

std::string payload_with(const std::string& id, std::int64_t version, const std::string& kind,
                         const std::string& category, const std::string& description, bool share) {
  json::object o = json::parse(valid_payload(id, version, kind)).as_object();
  o["category"] = category;
  o["description"] = description;
  o["consent"] = json::object{{"share_with_partners", share}};
  return json::serialize(o);
}

ServerProcess start_rms() { return start_rms_spyne(); }

void configure(Installation& inst, const ServerProcess& rms) {
  write_file(inst.dir / "mappings/council.yaml", kCouncilMapping);
  write_file(inst.config, config_for(rms.url("/rms")));
  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
}

}  // namespace

TEST_CASE("end to end: CSV drop, XML drop and SOAP RMS with edits, signposting and partner consent") {
  Installation inst;
  auto gen = inst.generate(kGenerated, 23);
  INFO(gen.out << gen.err);
  REQUIRE(gen.exit_code == 0);

  // Hand-made rows after the generated ones: a signposted concern, and
  // fly-tipping with and without consent to share with the council.
  const std::string signposted = test_id(9001), tip_no = test_id(9002), tip_yes = test_id(9003);
  insert_submission(inst.store, kGenerated + 1, signposted, 1,
                    payload_with(signposted, 1, "concern", "anti_social_behaviour",
                                 "A man outside the shop is waving a knife at people.", false));
  insert_submission(inst.store, kGenerated + 2, tip_no, 1,
                    payload_with(tip_no, 1, "concern", "fly_tipping", "Mattresses dumped in the alley.", false));
  insert_submission(inst.store, kGenerated + 3, tip_yes, 1,
                    payload_with(tip_yes, 1, "concern", "fly_tipping", "Fridge dumped by the garages.", true));

  ServerProcess rms = start_rms();
  configure(inst, rms);

  auto first = inst.bridge({"once"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);

  // Second pass: version 2 of some delivered concerns (RMS) and complaints
  // (XML drop), written after the first pass settled.
  std::vector<std::string> edited_rms, edited_psd;
  std::set<std::string> has_v2;
  for (const auto& r : store_rows(inst.store))
    if (r.version > 1) has_v2.insert(r.id);
  const auto statuses_1 = full_statuses(inst.store);  // after the first pass
  std::int64_t seq = kGenerated + 10;
  for (const auto& r : store_rows(inst.store)) {
    if (r.version != 1 || has_v2.count(r.id) || r.seq > kGenerated) continue;
    auto it = statuses_1.find(r.id);
    if (it == statuses_1.end() || it->second.state != "forwarded") continue;
    json::object doc = json::parse(r.payload).as_object();
    const std::string kind = str(doc.at("kind"));
    std::vector<std::string>* list = kind == "concern" ? &edited_rms : kind == "complaint" ? &edited_psd : nullptr;
    if (!list || list->size() >= 3) continue;
    doc["version"] = 2;
    doc["description"] = str(doc.at("description")) + "\n\nUpdate: it happened again tonight.";
    insert_submission(inst.store, ++seq, r.id, 2, json::serialize(doc));
    list->push_back(r.id);
  }
  REQUIRE(edited_rms.size() == 3);
  REQUIRE(edited_psd.size() >= 1);
  const auto xml_before = xml_docs(inst.dir / "out/psd_xml");

  auto second = inst.bridge({"once"});
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  // A third pass with nothing new delivers nothing again.
  auto third = inst.bridge({"once"});
  INFO(third.err);
  REQUIRE(third.exit_code == 0);

  // --- what every target received --------------------------------------------------
  const auto statuses = full_statuses(inst.store);
  std::map<std::string, int> truth_valid;  // "id:version" -> 1 valid, 0 malformed
  std::map<std::string, std::string> label;  // id -> the generator's label of its first row
  {
    std::ifstream in(inst.dir / "truth.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      auto o = json::parse(line).as_object();
      truth_valid[str(o.at("id")) + ":" + std::to_string(o.at("version").as_int64())] = o.at("valid").as_bool();
      label.emplace(str(o.at("id")), str(o.at("label")));
    }
  }
  std::map<std::string, std::map<std::string, int>> expected;  // target -> "id:version" -> 1
  std::set<std::string> duplicates;
  for (const auto& r : store_rows(inst.store)) {
    const std::string key = r.id + ":" + std::to_string(r.version);
    auto t = truth_valid.find(key);
    if (t != truth_valid.end() && !t->second) continue;  // malformed: rejected, never delivered
    // Exact double taps may be held back by duplicate detection; never delivered then.
    if (statuses.count(r.id) && statuses.at(r.id).state == "duplicate") {
      duplicates.insert(r.id);
      continue;
    }
    for (const auto& target : expected_targets(json::parse(r.payload).as_object())) expected[target][key] = 1;
  }
  REQUIRE(expected["npt_csv"].size() > 50);
  REQUIRE(expected["psd_xml"].size() > 5);

  CHECK(csv_rows(inst.dir / "out/npt") == expected["npt_csv"]);
  CHECK(csv_rows(inst.dir / "out/psd") == expected["psd_csv"]);
  CHECK(csv_rows(inst.dir / "out/council") == expected["council_csv"]);
  const auto xml = xml_docs(inst.dir / "out/psd_xml");
  std::map<std::string, int> xml_counts;
  for (const auto& [key, files] : xml) xml_counts[key] = static_cast<int>(files.size());
  CHECK(xml_counts == expected["psd_xml"]);

  // RMS: one record per submission; its first version created it, later ones
  // updated it (never a second create), each version exactly once.
  const json::object dump = rms_dump(rms);
  std::map<std::string, int> rms_versions;
  std::map<std::string, std::string> legacy_ref;  // submission id -> RMS reference
  for (const auto& rec_v : dump.at("records").as_array()) {
    const auto& rec = rec_v.as_object();
    const auto& versions = rec.at("versions").as_array();
    REQUIRE(!versions.empty());
    const std::string ext = str(versions[0].as_object().at("external_reference"));
    const std::string id = ext.substr(0, ext.find(':'));
    INFO(id);
    CHECK(legacy_ref.count(id) == 0);
    legacy_ref[id] = str(rec.at("legacy_reference"));
    for (std::size_t i = 0; i < versions.size(); ++i) {
      const auto& v = versions[i].as_object();
      const std::string e = str(v.at("external_reference"));
      CHECK(e.substr(0, e.find(':')) == id);
      CHECK(str(v.at("operation")) == (i == 0 ? "create" : "update"));
      rms_versions[e]++;
    }
  }
  CHECK(rms_versions == expected["rms_soap"]);
  CHECK(dump.at("calls").as_object().at("update").as_int64() >= 3);

  // preview of an edited report: the update carries the RMS reference the state
  // database holds for it (or the one given with --reference), and validates.
  {
    const std::string id = edited_rms.front();
    REQUIRE(legacy_ref.count(id));
    auto pv = inst.bridge({"preview", "--submission", id});
    INFO(pv.out << pv.err);
    CHECK(pv.out.find("== update: UpdateCommunityReport") != std::string::npos);
    CHECK(pv.out.find("<svc:LegacyReference>" + legacy_ref[id] + "</svc:LegacyReference>") != std::string::npos);
    CHECK(pv.out.find("REJECTED") == std::string::npos);
    auto given = inst.bridge({"preview", "--submission", id, "--reference", "RMS-26-999999"});
    CHECK(given.out.find("<svc:LegacyReference>RMS-26-999999</svc:LegacyReference>") != std::string::npos);
  }

  // Attachments: each one sent inline (base64 Content) to the RMS, and copied
  // beside the XML documents under the name the document gives.
  auto occurrences = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  std::size_t sent = 0;
  for (const auto& rec : dump.at("records").as_array())
    for (const auto& v : rec.as_object().at("versions").as_array()) {
      const std::string doc = str(v.as_object().at("xml"));
      sent += occurrences(doc, ":Attachment ");
      CHECK(occurrences(doc, ":Content>") == 2 * occurrences(doc, ":Attachment "));  // open and close
    }
  CHECK(sent > 0);
  std::set<std::string> copied;
  for (const auto& e : fs::recursive_directory_iterator(inst.dir / "out/psd_xml"))
    if (e.path().parent_path().extension() == ".attachments") copied.insert(e.path().filename().string());
  std::size_t listed = 0;
  for (const auto& [key, files] : xml)
    for (const auto& f : files) {
      const std::string doc = read_file(inst.dir / "out/psd_xml" / f);
      for (auto at = doc.find("<StoredFile>"); at != std::string::npos; at = doc.find("<StoredFile>", at + 1)) {
        ++listed;
        const std::string name = element(doc.substr(at), "StoredFile");
        INFO(f << " lists " << name);
        CHECK(copied.count(name) == 1);
      }
    }
  CHECK(listed > 0);

  // Edits: UpdateCommunityReport against the first reference (the loop above
  // checked it is the same record), state forwarded. The reference written
  // back is checked in the next test case.
  for (const auto& id : edited_rms) {
    INFO(id);
    REQUIRE(legacy_ref.count(id));
    CHECK(rms_versions[id + ":1"] == 1);
    CHECK(rms_versions[id + ":2"] == 1);
    CHECK(statuses.at(id).state == "forwarded");
  }
  // Complaint edits: a new document naming the first one in RelatedReference.
  for (const auto& id : edited_psd) {
    INFO(id);
    REQUIRE(xml_before.count(id + ":1"));
    REQUIRE(xml.count(id + ":2"));
    const std::string v2 = read_file(inst.dir / "out/psd_xml" / xml.at(id + ":2").front());
    CHECK(element(v2, "RelatedReference") == xml_before.at(id + ":1").front());
    CHECK(statuses.at(id).state == "forwarded");
  }

  // Every routed valid submission was forwarded (signposted ones: next test case).
  for (const auto& [target, keys] : expected)
    for (const auto& [key, n] : keys) {
      const std::string id = key.substr(0, key.find(':'));
      if (id == signposted) continue;
      INFO(key);
      REQUIRE(statuses.count(id) == 1);
      CHECK(statuses.at(id).state == "forwarded");
    }

  // Signposting: delivered to its targets, RMS (the review target) included.
  // The status it ends with is checked in the next test case.
  CHECK(rms_versions[signposted + ":1"] == 1);
  CHECK(csv_rows(inst.dir / "out/npt")[signposted + ":1"] == 1);
  REQUIRE(statuses.count(signposted));

  // Partner consent: the council gets only what residents agreed to share.
  const auto council = csv_rows(inst.dir / "out/council");
  CHECK(council.count(tip_yes + ":1") == 1);
  CHECK(council.count(tip_no + ":1") == 0);
  CHECK(rms_versions[tip_no + ":1"] == 1);  // the force's own targets are not affected
  CHECK(statuses.at(tip_no).state == "forwarded");
  for (const auto& [key, n] : council) {
    INFO(key);
    CHECK(expected["council_csv"].count(key) == 1);
  }
  for (const auto& id : duplicates) {
    INFO(id);
    CHECK(label[id] == "exact_dup");
  }
}

// Regression checks for three bugs this file found: a signposted version keeps
// needs_review after delivery; only targets with `reference: true` have their
// reference written back, whatever the order they settle in; `on_error: empty`
// gives no value (no element in XML), not an empty one.
TEST_CASE("a signposted submission keeps needs_review after delivery, only the RMS reference is written back") {
  Installation inst;
  const std::string signposted = test_id(1), plain = test_id(2), typo = test_id(3);
  create_app_store(inst.store);
  insert_submission(inst.store, 1, signposted, 1,
                    payload_with(signposted, 1, "concern", "anti_social_behaviour",
                                 "Someone is being attacked outside the chip shop.", false));
  insert_submission(inst.store, 2, plain, 1,
                    payload_with(plain, 1, "concern", "noise", "Loud music every night.", false));
  json::object bad = json::parse(payload_with(typo, 1, "concern", "noise", "Loud music again.", false)).as_object();
  bad["location"].as_object()["postcode"] = "TS1 3Q";
  bad["reporter"].as_object()["phone"] = "12";
  insert_submission(inst.store, 3, typo, 1, json::serialize(bad));
  ServerProcess rms = start_rms();
  configure(inst, rms);
  auto run = inst.bridge({"once"});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);

  std::map<std::string, std::string> legacy_ref;
  const json::object dump = rms_dump(rms);
  for (const auto& rec : dump.at("records").as_array()) {
    const auto& r = rec.as_object();
    const std::string ext = str(r.at("versions").as_array()[0].as_object().at("external_reference"));
    legacy_ref[ext.substr(0, ext.find(':'))] = str(r.at("legacy_reference"));
  }
  // Delivered, the signposted one to its review target too.
  REQUIRE(legacy_ref.count(signposted) == 1);
  REQUIRE(legacy_ref.count(plain) == 1);
  const auto statuses = full_statuses(inst.store);
  CHECK(statuses.at(signposted).state == "needs_review");
  CHECK(statuses.at(signposted).message.find("999") != std::string::npos);
  CHECK(statuses.at(signposted).message.find("101") != std::string::npos);
  CHECK(statuses.at(plain).state == "forwarded");
  CHECK(statuses.at(plain).reference == legacy_ref[plain]);
  CHECK(legacy_ref.count(typo) == 1);
  CHECK(statuses.at(typo).state == "forwarded");
}
