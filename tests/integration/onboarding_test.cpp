// Onboarding a legacy system from its contract on the real binary: `scaffold`
// (files, errors, operations), then the round trip scaffold -> fill the
// FILL_IN placeholders -> check -> once -> a document libxml2 validates
// against the public multi-file schema set.
#include <catch2/catch.hpp>

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <cstdarg>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace reportbridge::testing;

namespace {

const std::string kSrc = REPORTBRIDGE_SOURCE_DIR;
const std::string kNibrs = kSrc + "/tests/fixtures/schemas/nibrs_4_0/xsd/nibrs/4.0/nibrs.xsd";
const std::string kSubmissionSchema = kSrc + "/schemas/submission.schema.json";

ProcessResult rb(std::vector<std::string> args) {
  args.insert(args.begin(), REPORTBRIDGE_BINARY);
  return run_process(args);
}

void collect(void* ctx, const char* msg, ...) {
  va_list ap;
  va_start(ap, msg);
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, msg, ap);
  va_end(ap);
  *static_cast<std::string*>(ctx) += buf;
}

// libxml2 on its own (not the bridge's validator): "" when `doc` is valid
// against the schema set whose main file is `xsd`, else the errors.
std::string libxml2_errors(const std::string& xsd, const std::string& doc) {
  std::string errors;
  xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(xsd.c_str());
  xmlSchemaSetParserErrors(pctx, collect, collect, &errors);
  xmlSchemaPtr schema = xmlSchemaParse(pctx);
  xmlSchemaFreeParserCtxt(pctx);
  if (!schema) return "schema does not compile: " + errors;
  xmlDocPtr d = xmlReadMemory(doc.data(), static_cast<int>(doc.size()), "doc.xml", nullptr, XML_PARSE_NONET);
  if (!d) {
    xmlSchemaFree(schema);
    return "not well-formed";
  }
  xmlSchemaValidCtxtPtr vctx = xmlSchemaNewValidCtxt(schema);
  xmlSchemaSetValidErrors(vctx, collect, collect, &errors);
  const int rc = xmlSchemaValidateDoc(vctx, d);
  xmlSchemaFreeValidCtxt(vctx);
  xmlFreeDoc(d);
  xmlSchemaFree(schema);
  return rc == 0 ? "" : (errors.empty() ? "invalid" : errors);
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("scaffold --xsd --out writes the starter mapping and target, never over an edited file") {
  TempDir dir("rbscaf");
  auto r = rb({"scaffold", "--xsd", kNibrs, "--root", "nibrs:Submission", "--schema", kSubmissionSchema,
               "--name", "nibrs", "--out", (dir / "m").string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("2 required") != std::string::npos);
  const std::string mapping = read_file(dir / "m/nibrs.yaml");
  const std::string target = read_file(dir / "m/nibrs.target.yaml");
  // Required paths active and marked, with their facets as comments; optional ones commented out.
  CHECK(mapping.find("\nmapping: nibrs\n") != std::string::npos);
  CHECK(mapping.find("  - name: \"nibrs:Report[1]/nibrs:ReportHeader/nibrs:NIBRSReportCategoryCode\"\n"
                     "    from: FILL_IN\n    required: true\n") != std::string::npos);
  CHECK(mapping.find("enumeration: GROUP A INCIDENT REPORT|") != std::string::npos);
  CHECK(mapping.find("occurs 0..unbounded") != std::string::npos);
  CHECK(mapping.find("  # - name: \"nibrs:Report[1]/nibrs:ReportHeader/nibrs:ReportDate/nc:DateTime[1]\"") !=
        std::string::npos);
  CHECK(target.find("    type: xml_drop\n") != std::string::npos);
  CHECK(target.find("    root: \"nibrs:Submission\"\n") != std::string::npos);
  CHECK(target.find("      nc: \"http://release.niem.gov/niem/niem-core/3.0/\"\n") != std::string::npos);

  // An analyst's edits are never overwritten.
  write_file(dir / "m/nibrs.yaml", "edited");
  auto again = rb({"scaffold", "--xsd", kNibrs, "--root", "nibrs:Submission", "--name", "nibrs", "--out",
                   (dir / "m").string()});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("exists; not overwritten") != std::string::npos);
  CHECK(read_file(dir / "m/nibrs.yaml") == "edited");
}

TEST_CASE("scaffold errors: bad schemas at file:line, unknown roots and operations list what exists") {
  TempDir dir("rbscaf");
  write_file(dir / "bad.xsd",
             "<?xml version=\"1.0\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n"
             "  <xs:element name=\"A\" type=\"Nope\"/>\n</xs:schema>\n");
  auto bad = rb({"scaffold", "--xsd", (dir / "bad.xsd").string(), "--root", "A"});
  CHECK(bad.exit_code == 3);
  CHECK(bad.err.find("bad.xsd:3: type 'Nope' is not declared") != std::string::npos);

  write_file(dir / "broken.xsd", "<?xml version=\"1.0\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n"
                                 "  <xs:element name=\"A\">\n</xs:schema>\n");
  auto broken = rb({"scaffold", "--xsd", (dir / "broken.xsd").string(), "--root", "A"});
  CHECK(broken.exit_code == 3);
  CHECK(broken.err.find("broken.xsd:4:13: not well-formed XML") != std::string::npos);

  auto root = rb({"scaffold", "--xsd", kSrc + "/tests/fixtures/schemas/cjse_caseinfo/CaseInfo.xsd", "--root", "Case"});
  CHECK(root.exit_code == 3);
  CHECK(root.err.find("NewCaseMessage, UpdatedCaseMessage, DiscontinuedCaseMessage") != std::string::npos);

  // A WSDL with several operations and no --operation: the operations, sorted.
  auto ops = rb({"scaffold", "--wsdl", kSrc + "/tests/fixtures/wsdl/bare/OccurrenceHub.wsdl"});
  CHECK(ops.exit_code == 3);
  CHECK(ops.err.find("3 operations; choose one with --operation (AmendIncident, LodgeIncident, QueryIncident)") !=
        std::string::npos);
  auto op = rb({"scaffold", "--wsdl", kSrc + "/tests/fixtures/wsdl/bare/OccurrenceHub.wsdl", "--operation", "Lodge"});
  CHECK(op.exit_code == 3);
  CHECK(op.err.find("LodgeIncident") != std::string::npos);
  // A WSDL importing a network location is refused at its line.
  auto net = rb({"scaffold", "--wsdl", kSrc + "/tests/fixtures/wsdl/public/e-codex-backend/BackendService-1_1.wsdl"});
  CHECK(net.exit_code == 3);
  CHECK(net.err.find("BackendService-1_1.wsdl:16: wsdl:import location") != std::string::npos);

  // A WSDL with one operation needs no --operation (the FBI NGI native EBTS service).
  auto one = rb({"scaffold", "--wsdl",
                 kSrc + "/tests/fixtures/wsdl/public/fbi-ngi/wsdl/ngi/native-ebts-service/NativeEBTSService.wsdl"});
  INFO(one.err);
  CHECK(one.exit_code == 0);
  CHECK(one.out.find("    type: soap\n") != std::string::npos);

  // Usage errors: XSD options with WSDL ones, a bad --name.
  CHECK(rb({"scaffold", "--xsd", kNibrs, "--root", "A", "--operation", "X"}).exit_code == 2);
  CHECK(rb({"scaffold", "--xsd", kNibrs}).exit_code == 2);
  CHECK(rb({"scaffold", "--xsd", kNibrs, "--root", "nibrs:Submission", "--name", "../x"}).exit_code == 2);
}

TEST_CASE("scaffold round trip on the multi-file NIBRS schema: fill, check, once, a valid non-empty document") {
  Installation inst;
  const auto& dir = inst.dir;
  auto s = rb({"scaffold", "--xsd", kNibrs, "--root", "nibrs:Submission", "--schema", kSubmissionSchema, "--name",
               "nibrs", "--out", (dir / "mappings").string()});
  INFO(s.out << s.err);
  REQUIRE(s.exit_code == 0);

  // As the analyst would: fill every FILL_IN of the active lines, uncomment one optional path.
  std::string mapping = read_file(dir / "mappings/nibrs.yaml");
  mapping = std::regex_replace(mapping, std::regex("description: \"FILL_IN[^\"]*\""), "description: \"NIBRS\"");
  mapping = replace_once(mapping,
                         "nibrs:NIBRSReportCategoryCode\"\n    from: FILL_IN",
                         "nibrs:NIBRSReportCategoryCode\"\n    value: \"GROUP A INCIDENT REPORT\"");
  mapping = replace_once(mapping, "nibrs:ReportActionCategoryCode\"\n    from: FILL_IN",
                         "nibrs:ReportActionCategoryCode\"\n    value: \"I\"");
  // The schema requires ReportDate with one of its (optional) children.
  mapping = replace_once(mapping,
                         "  # - name: \"nibrs:Report[1]/nibrs:ReportHeader/nibrs:ReportDate/nc:DateTime[1]\"\n"
                         "  #   from: FILL_IN",
                         "  - name: \"nibrs:Report[1]/nibrs:ReportHeader/nibrs:ReportDate/nc:DateTime[1]\"\n"
                         "    from: submitted_at");
  write_file(dir / "mappings/nibrs.yaml", mapping);
  for (std::size_t at = 0; (at = mapping.find("FILL_IN", at)) != std::string::npos; ++at) {
    const auto line_start = mapping.rfind('\n', at) + 1;
    INFO(mapping.substr(line_start, mapping.find('\n', at) - line_start));
    CHECK(mapping.substr(line_start, at - line_start).find('#') != std::string::npos);  // only in comments
  }
  std::string target = read_file(dir / "mappings/nibrs.target.yaml");
  target = std::regex_replace(target, std::regex("directory: \"FILL_IN[^\"]*\""), "directory: nibrs-out");
  target += "    max_age: 100ms\n";
  write_file(inst.config, "state:\n  path: state/state.db\n"
                          "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n  poll_interval: 50ms\n"
                          "schema: " + kSubmissionSchema + "\nmappings: [mappings/nibrs.yaml]\n" + target +
                          "logging:\n  level: info\n" + Installation::kNoHealth);

  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
  REQUIRE(inst.generate(4, 12).exit_code == 0);
  auto once = inst.bridge({"once"});
  INFO(once.err);
  REQUIRE(once.exit_code == 0);

  std::vector<std::filesystem::path> docs;
  for (const auto& e : std::filesystem::directory_iterator(dir / "nibrs-out"))
    if (e.path().extension() == ".xml") docs.push_back(e.path());
  REQUIRE(docs.size() == 4);
  for (const auto& p : docs) {
    const std::string doc = read_file(p);
    INFO(p.string() << "\n" << doc);
    CHECK(libxml2_errors(kNibrs, doc).empty());
    // Non-empty: the mapped values are there, in their namespaces.
    CHECK(doc.find("<nibrs:NIBRSReportCategoryCode>GROUP A INCIDENT REPORT</nibrs:NIBRSReportCategoryCode>") !=
          std::string::npos);
    CHECK(doc.find("<nibrs:ReportActionCategoryCode>I</nibrs:ReportActionCategoryCode>") != std::string::npos);
    CHECK(std::regex_search(doc, std::regex("<nc:DateTime>20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T")));
  }
  const auto statuses = inst.statuses();
  CHECK(statuses.size() == 4);
  for (const auto& [id, state] : statuses) CHECK(state == "forwarded");
}

namespace {

// A small contract with one facet of each kind.
const char* kFacetsXsd = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="urn:t" targetNamespace="urn:t" elementFormDefault="qualified">
  <xs:element name="Report">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Ref" type="xs:string"/>
        <xs:element name="Seq" type="xs:positiveInteger" minOccurs="0"/>
        <xs:element name="When" type="xs:string" minOccurs="0"/>
        <xs:element name="Priority">
          <xs:simpleType><xs:restriction base="xs:string"><xs:enumeration value="HIGH"/><xs:enumeration value="LOW"/></xs:restriction></xs:simpleType>
        </xs:element>
        <xs:element name="Code" minOccurs="0">
          <xs:simpleType><xs:restriction base="xs:string"><xs:maxLength value="4"/></xs:restriction></xs:simpleType>
        </xs:element>
        <xs:element name="Force" minOccurs="0">
          <xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{2}[0-9]{2}"/></xs:restriction></xs:simpleType>
        </xs:element>
        <xs:element name="Grade" minOccurs="0">
          <xs:simpleType><xs:restriction base="xs:integer"><xs:minInclusive value="1"/><xs:maxInclusive value="5"/></xs:restriction></xs:simpleType>
        </xs:element>
      </xs:sequence>
      <xs:attribute name="system" use="required">
        <xs:simpleType><xs:restriction base="xs:string"><xs:enumeration value="CLE"/></xs:restriction></xs:simpleType>
      </xs:attribute>
    </xs:complexType>
  </xs:element>
</xs:schema>
)";

void write_facets_install(const Installation& inst, const std::string& mapping, const std::string& lookup) {
  write_file(inst.dir / "facets.xsd", kFacetsXsd);
  write_file(inst.dir / "mappings/all.yaml", mapping);
  write_file(inst.dir / "lookups/prio.csv", lookup);
  write_file(inst.config, "state:\n  path: state/state.db\n"
                          "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n  poll_interval: 50ms\n"
                          "schema: " + kSubmissionSchema + "\nmappings: [mappings/all.yaml]\n"
                          "targets:\n  - name: x\n    type: xml_drop\n    directory: out\n    xsd: facets.xsd\n"
                          "    root: Report\n    max_age: 100ms\n"
                          "logging:\n  level: info\n" + Installation::kNoHealth);
}

}  // namespace

TEST_CASE("check: constants, defaults and lookup values against the target field's facets, at file:line:col") {
  Installation inst;
  write_facets_install(inst, R"(mapping: all
targets: [x]
fields:
  - {name: Ref, from: id}
  - {name: Priority, from: category, lookup: {table: ../lookups/prio.csv, unknown: default, default: MEDIUM}}
  - {name: Code, value: "TOOLONG"}
  - {name: Force, from: summary, default: "cleveland"}
  - {name: Grade, value: "9"}
  - {name: "@system", value: "XYZ"}
  - {name: When, value: "anything"}
)", "key,value\nnoise,LOW\ndrugs,URGENT\nasb,HIGH\n");
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  const std::string m = (inst.dir / "mappings/all.yaml").string();
  const std::string csv = (inst.dir / "mappings/../lookups/prio.csv").string();
  // enumeration (a lookup value, at its CSV row; the lookup's default at its key)
  CHECK(r.out.find(csv + ":3:1: error: lookup value 'URGENT' (key 'drugs') for field 'Priority' of mapping 'all' "
                         "is not valid for target 'x': is not one of the enumerated values (HIGH|LOW) "
                         "[mapping.value_conflicts_schema]") != std::string::npos);
  CHECK(r.out.find(m + ":5:102: error: lookup default 'MEDIUM' of field 'Priority'") != std::string::npos);
  // length, pattern, range, an attribute's enumeration
  CHECK(r.out.find(m + ":6:25: error: value 'TOOLONG' of field 'Code' is not valid for target 'x': is longer than "
                       "maxLength 4") != std::string::npos);
  CHECK(r.out.find(m + ":7:43: error: default 'cleveland' of field 'Force' is not valid for target 'x': does not "
                       "match the pattern [A-Z]{2}[0-9]{2}") != std::string::npos);
  CHECK(r.out.find(m + ":8:26: error: value '9' of field 'Grade' is not valid for target 'x': is above "
                       "maxInclusive 5") != std::string::npos);
  CHECK(r.out.find(m + ":9:30: error: value 'XYZ' of field '@system'") != std::string::npos);
  CHECK(r.out.find("field 'When'") == std::string::npos);  // a valid constant is no error
  CHECK(r.out.find("field 'Ref'") == std::string::npos);
}

TEST_CASE("sequence, first non-empty and short_id reach the document on the real binary") {
  Installation inst;
  write_facets_install(inst, R"(mapping: all
targets: [x]
fields:
  - {name: Ref, from: id, transforms: [{short_id: 12}], required: true}
  - {name: Seq, sequence: store}
  - {name: When, from: [occurred.start, submitted_at]}
  - {name: Priority, from: category, lookup: {table: ../lookups/prio.csv, unknown: default, default: LOW}}
  - {name: Force, value: "CL17"}
  - {name: "@system", value: "CLE"}
)", "key,value\nnoise,HIGH\n");
  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
  REQUIRE(inst.generate(3, 5).exit_code == 0);
  auto once = inst.bridge({"once"});
  INFO(once.err);
  REQUIRE(once.exit_code == 0);
  std::set<std::string> seqs;
  int docs = 0;
  for (const auto& e : std::filesystem::directory_iterator(inst.dir / "out")) {
    if (e.path().extension() != ".xml") continue;
    ++docs;
    const std::string doc = read_file(e.path());
    INFO(doc);
    CHECK(libxml2_errors((inst.dir / "facets.xsd").string(), doc).empty());
    std::smatch m;
    REQUIRE(std::regex_search(doc, m, std::regex("<Seq>([0-9]+)</Seq>")));
    seqs.insert(m[1]);
    CHECK(std::regex_search(doc, std::regex("<Ref>[A-Z2-7]{12}</Ref>")));
    CHECK(std::regex_search(doc, std::regex("<When>20[0-9][0-9]-")));  // occurred.start or else submitted_at
  }
  CHECK(docs == 3);
  CHECK(seqs == std::set<std::string>{"1", "2", "3"});  // the store's sequence numbers
}

TEST_CASE("check renders a sample document per xml_drop target: an invalid one fails at the field behind it") {
  Installation inst;
  const std::string mapping = R"(mapping: all
targets: [x]
fields:
  - {name: Ref, from: id}
  - {name: Seq, from: summary}
  - {name: Priority, value: HIGH}
  - {name: "@system", value: CLE}
)";
  write_facets_install(inst, mapping, "key,value\n");
  const std::string m = (inst.dir / "mappings/all.yaml").string();
  // The built-in sample's summary is text; Seq is an xs:positiveInteger.
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out.find(m + ":5:5: error: target 'x' rejects the document the built-in sample submission gives "
                       "(field 'Seq'): schema_invalid: line 4: Element '{urn:t}Seq': 'Loud music every night' is "
                       "not a valid value of the atomic type 'xs:positiveInteger'") != std::string::npos);
  CHECK(r.out.find("[check.sample_invalid]") != std::string::npos);

  // --sample: a submission whose summary fits passes; one that does not fails, naming the sample.
  write_file(inst.dir / "fits.json", R"({"id": "s1", "version": 1, "kind": "concern", "summary": "42"})");
  auto fits = inst.bridge({"check", "--sample", (inst.dir / "fits.json").string()});
  INFO(fits.out << fits.err);
  CHECK(fits.exit_code == 0);
  write_file(inst.dir / "zero.json", R"({"id": "s1", "version": 1, "kind": "concern", "summary": "0"})");
  auto zero = inst.bridge({"check", "--sample", (inst.dir / "zero.json").string()});
  CHECK(zero.exit_code == 3);
  CHECK(zero.out.find("the sample zero.json gives (field 'Seq')") != std::string::npos);
  write_file(inst.dir / "bad.json", "[1, 2");
  auto bad = inst.bridge({"check", "--sample", (inst.dir / "bad.json").string()});
  CHECK(bad.exit_code == 3);
  CHECK(bad.out.find("bad.json:1:1: error: the sample is not a JSON object") != std::string::npos);

  // A required element the mapping never fills: no field is behind it; the error is at the mapping's first field.
  write_facets_install(inst, R"(mapping: all
targets: [x]
fields:
  - {name: Ref, from: id}
  - {name: "@system", value: CLE}
)", "key,value\n");
  auto missing = inst.bridge({"check"});
  INFO(missing.out);
  CHECK(missing.exit_code == 3);
  CHECK(missing.out.find(m + ":4:1: error: target 'x' rejects the document mapping 'all' gives the built-in sample "
                             "submission: schema_invalid: line 2: Element '{urn:t}Report': Missing child element(s). "
                             "Expected is one of ( {urn:t}Seq, {urn:t}When, {urn:t}Priority )") != std::string::npos);
}

TEST_CASE("preview prints a rejected xml_drop document with line numbers and the failing line marked") {
  Installation inst;
  write_facets_install(inst, R"(mapping: all
targets: [x]
fields:
  - {name: Ref, from: id}
  - {name: Seq, from: summary}
  - {name: Priority, value: HIGH}
  - {name: "@system", value: CLE}
)", "key,value\n");
  write_file(inst.dir / "report.json",
             R"({"id": "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01", "version": 1, "submitted_at": "2026-11-27T18:42:10+00:00",
                 "kind": "concern", "category": "noise", "summary": "not a number", "description": "d"})");
  auto r = inst.bridge({"preview", "--input", (inst.dir / "report.json").string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.out.find("REJECTED by target x: schema_invalid: line 4: Element '{urn:t}Seq'") != std::string::npos);
  CHECK(r.out.find("  mapping fields behind it: Seq\n") != std::string::npos);
  CHECK(r.out.find("      3 |   <Ref>6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01</Ref>\n"
                   ">>    4 |   <Seq>not a number</Seq>\n"
                   "      5 |   <Priority>HIGH</Priority>\n") != std::string::npos);
}

TEST_CASE("scaffold round trip on the UK CJSE case schema (nine files): a bad constant fails check, fixed it delivers") {
  Installation inst;
  const auto& dir = inst.dir;
  const std::string xsd = kSrc + "/tests/fixtures/schemas/cjse_caseinfo/CaseInfo.xsd";
  auto s = rb({"scaffold", "--xsd", xsd, "--root", "NewCaseMessage", "--name", "cjse", "--out", (dir / "m").string()});
  INFO(s.out << s.err);
  REQUIRE(s.exit_code == 0);
  CHECK(s.out.find("7 required") != std::string::npos);
  std::string mapping = read_file(dir / "m/cjse.yaml");
  // The comments carry the facets the analyst must meet.
  CHECK(mapping.find("# required · cs:CaseNumberType · pattern: [A-Z][0-9]{8} · occurs 1..1\n") != std::string::npos);
  mapping = std::regex_replace(mapping, std::regex("description: \"FILL_IN[^\"]*\""), "description: \"CJSE\"");
  const std::vector<std::pair<std::string, std::string>> fills{
      {"cs:DocumentName", "value: \"New case\""},     {"cs:UniqueID", "from: id"},
      {"cs:DocumentType", "value: \"NewCase\""},      {"ccm:CaseNumber", "value: \"20267001\""},  // no letter
      {"cs:CourtHouseType", "value: \"Crown Court\""}, {"cs:CourtHouseCode", "value: \"404\""},
      {"cs:CourtHouseName", "value: \"Teesside\""}};
  for (const auto& [path, fill] : fills) mapping = replace_once(mapping, path + "\"\n    from: FILL_IN", path + "\"\n    " + fill);
  write_file(dir / "m/cjse.yaml", mapping);
  std::string target = read_file(dir / "m/cjse.target.yaml");
  target = std::regex_replace(target, std::regex("directory: \"FILL_IN[^\"]*\""), "directory: cjse-out");
  target += "    max_age: 100ms\n";
  write_file(inst.config, "state:\n  path: state/state.db\n"
                          "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n  poll_interval: 50ms\n"
                          "schema: " + kSubmissionSchema + "\nmappings: [m/cjse.yaml]\n" + target +
                          "logging:\n  level: info\n" + Installation::kNoHealth);

  // The case number misses its letter: check says so at the value, from the facet.
  auto bad = inst.bridge({"check"});
  INFO(bad.out);
  CHECK(bad.exit_code == 3);
  const auto line_of = [&](const std::string& needle) {
    const auto at = mapping.find(needle);
    return std::to_string(std::count(mapping.begin(), mapping.begin() + static_cast<std::ptrdiff_t>(at), '\n') + 1);
  };
  CHECK(bad.out.find((dir / "m/cjse.yaml").string() + ":" + line_of("value: \"20267001\"") +
                     ":12: error: value '20267001' of field 'ccm:Case/ccm:CaseNumber' is not valid for target "
                     "'cjse': does not match the pattern [A-Z][0-9]{8}") != std::string::npos);

  write_file(dir / "m/cjse.yaml", replace_once(mapping, "value: \"20267001\"", "value: \"T20267001\""));
  auto check = inst.bridge({"check"});
  INFO(check.out);
  REQUIRE(check.exit_code == 0);
  REQUIRE(inst.generate(2, 3).exit_code == 0);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  int docs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "cjse-out")) {
    if (e.path().extension() != ".xml") continue;
    ++docs;
    const std::string doc = read_file(e.path());
    INFO(doc);
    CHECK(libxml2_errors(xsd, doc).empty());
    CHECK(doc.find("<ccm:CaseNumber>T20267001</ccm:CaseNumber>") != std::string::npos);
    CHECK(doc.find("<cs:CourtHouseType>Crown Court</cs:CourtHouseType>") != std::string::npos);
  }
  CHECK(docs == 2);
}
