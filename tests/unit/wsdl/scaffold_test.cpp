// Starter mappings from schemas and WSDL operations: the text parses as YAML,
// lists every required path (active, required: true) and the optional ones
// (commented out), guesses `from:` where a submission field obviously matches,
// and every listed path is one the renderer takes.
#include "bridge/wsdl/scaffold.hpp"

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "bridge/mapping/mapping.hpp"
#include "bridge/xml/schema_paths.hpp"
#include "bridge/xml/xml_renderer.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::wsdl;

namespace {

std::string source(const std::string& name) { return std::string(REPORTBRIDGE_SOURCE_DIR) + "/" + name; }

std::vector<std::string> submission_paths() {
  std::ifstream in(source("schemas/submission.schema.json"));
  std::stringstream text;
  text << in.rdbuf();
  return mapping::schema_paths(boost::json::parse(text.str()));
}

// The active fields of a parsed mapping: name -> its node.
std::map<std::string, YAML::Node> active_fields(const YAML::Node& doc) {
  std::map<std::string, YAML::Node> out;
  for (const auto& f : doc["fields"]) out[f["name"].as<std::string>()] = YAML::Node(f);
  return out;
}

// Every scaffolded path resolves in a renderer built like the target snippet.
void check_paths_resolve(const std::shared_ptr<const xml::SchemaSet>& set, const Scaffold& s) {
  xml::XmlLayout layout;
  layout.root = s.root;
  layout.namespaces = s.namespaces;
  xml::XmlRenderer renderer(set, layout);
  for (const auto& f : s.fields) {
    INFO(f.path);
    auto r = renderer.resolve_field(f.path);
    CHECK(r.error == std::nullopt);
  }
}

// Loads the scaffolded mapping as `check` would: nullopt when it loads, else the diagnostics.
std::optional<std::string> load_errors(const Scaffold& s, const std::string& target,
                                       const std::vector<std::string>& submission_paths) {
  reportbridge::testing::TempDir dir;
  const std::string file = (dir / "scaffold.yaml").string();
  std::ofstream(file) << s.mapping_yaml;
  mapping::LoadOptions lo;
  lo.known_targets = {target};
  lo.known_paths = submission_paths;
  core::Diagnostics d;
  if (mapping::MappingSet::load({file}, lo, d) && !d.has_errors()) return std::nullopt;
  return d.to_string();
}

}  // namespace

TEST_CASE("scaffold of the project's complaint schema: required paths active, obvious fields guessed") {
  auto set = xml::SchemaSet::load(source("schemas/psd_complaint.xsd"));
  ScaffoldOptions o;
  o.submission_paths = submission_paths();
  o.schema_path = "schemas/psd_complaint.xsd";
  const Scaffold s = scaffold_document(set, {"urn:police-uk:psd:complaint:1.0", "Complaint"}, o);
  INFO(s.mapping_yaml);
  const YAML::Node doc = YAML::Load(s.mapping_yaml);
  CHECK(doc["mapping"].as<std::string>() == "complaint");
  CHECK(doc["targets"].as<std::string>() == "complaint");
  const auto fields = active_fields(doc);
  for (const char* required : {"psd:AppReference", "psd:ReceivedAt", "psd:Category", "psd:Allegation"}) {
    INFO(required);
    REQUIRE(fields.count(required));
    CHECK(fields.at(required)["required"].as<bool>());
  }
  CHECK(fields.at("psd:AppReference")["from"].as<std::string>() == "id");
  CHECK(fields.at("psd:ReceivedAt")["from"].as<std::string>() == "submitted_at");
  CHECK(fields.at("psd:Allegation")["from"].as<std::string>() == "description");
  // Optional paths are listed, commented out, with their guesses and facets.
  CHECK(s.mapping_yaml.find("# - name: \"psd:Complainant/psd:ComplainantEmail\"\n  #   from: reporter.email") !=
        std::string::npos);
  CHECK(s.mapping_yaml.find("# - name: \"psd:Incident/psd:IncidentPostcode\"\n  #   from: location.postcode") !=
        std::string::npos);
  CHECK(s.mapping_yaml.find("pattern") != std::string::npos);
  CHECK(s.mapping_yaml.find("inside repeated psd:Attachment (the first") != std::string::npos);
  check_paths_resolve(set, s);

  // Every required path was guessed: the starter mapping loads as it is.
  CHECK(s.mapping_yaml.find("from: FILL_IN\n    required: true") == std::string::npos);
  CHECK_FALSE(load_errors(s, "complaint", o.submission_paths).has_value());
  const YAML::Node target = YAML::Load(s.target_yaml)["targets"][0];
  CHECK(target["name"].as<std::string>() == "complaint");
  CHECK(target["type"].as<std::string>() == "xml_drop");
  CHECK(target["xsd"].as<std::string>() == "schemas/psd_complaint.xsd");
  CHECK(target["root"].as<std::string>() == "psd:Complaint");
  CHECK(target["namespaces"]["psd"].as<std::string>() == "urn:police-uk:psd:complaint:1.0");
}

TEST_CASE("scaffold of the NIBRS IEPD: required paths through NIEM's repeated elements, prefixes from the schemas") {
  auto set = xml::SchemaSet::load(source("tests/fixtures/schemas/nibrs_4_0/xsd/nibrs/4.0/nibrs.xsd"));
  ScaffoldOptions o;
  o.max_depth = 5;
  o.max_optional = 200;
  const Scaffold s = scaffold_document(set, {"http://fbi.gov/cjis/nibrs/4.0", "Submission"}, o);
  const YAML::Node doc = YAML::Load(s.mapping_yaml);
  const auto fields = active_fields(doc);
  std::set<std::string> required;
  for (const auto& f : s.fields)
    if (f.required) required.insert(f.path);
  CHECK(required.count("nibrs:Report[1]/nibrs:ReportHeader/nibrs:NIBRSReportCategoryCode"));
  CHECK(required.count("nibrs:Report[1]/nibrs:ReportHeader/nibrs:ReportActionCategoryCode"));
  for (const auto& path : required) CHECK(fields.count(path));
  CHECK(fields.size() == required.size());
  CHECK(s.optional_left_out > 0);
  // nibrs:ReportDate is required, but what it holds (nc:DateRepresentation) is not.
  CHECK(s.mapping_yaml.find("# NOTE: required element nibrs:Report[1]/nibrs:ReportHeader/nibrs:ReportDate") !=
        std::string::npos);
  CHECK(s.mapping_yaml.find("GROUP A INCIDENT REPORT") != std::string::npos);  // enumeration in the comment
  CHECK(s.root == "nibrs:Submission");
  // Required paths nothing obvious fills keep `from: FILL_IN`: the mapping does not
  // load until someone decides.
  const auto errors = load_errors(s, "submission", submission_paths());
  REQUIRE(errors);
  CHECK(errors->find("FILL_IN") != std::string::npos);
  std::set<std::string> prefixes;
  for (const auto& [p, u] : s.namespaces) prefixes.insert(p);
  CHECK(prefixes.count("nibrs"));
  CHECK(prefixes.count("nc"));
  CHECK(prefixes.count("j"));
  check_paths_resolve(set, s);
}

TEST_CASE("scaffold of WSDL operations: the request body of a wrapped operation and a soap target") {
  auto w = Wsdl::load(source("tests/fixtures/wsdl/darts_service/dartsService.wsdl"));
  ScaffoldOptions o;
  o.submission_paths = submission_paths();
  o.namespaces = {{"d", "http://com.synapps.mojdarts.service.com"}};
  const Scaffold s = scaffold_operation(*w, w->operation("getCases"), o);
  const YAML::Node doc = YAML::Load(s.mapping_yaml);
  CHECK(doc["mapping"].as<std::string>() == "get_cases");
  CHECK(s.root == "d:getCases");
  CHECK(doc["fields"].size() == 0);  // nothing is required
  CHECK(s.fields.size() == 3);       // courthouse, courtroom, date
  CHECK(s.fields[0].path == "courthouse");
  const YAML::Node target = YAML::Load(s.target_yaml)["targets"][0];
  CHECK(target["name"].as<std::string>() == "get_cases");
  CHECK(target["type"].as<std::string>() == "soap");
  CHECK(target["wsdl"].as<std::string>().find("dartsService.wsdl") != std::string::npos);
  CHECK(target["port"].as<std::string>() == "DARTSServicePort");
  CHECK(s.target_yaml.find("http://192.168.0.65:8070/service/darts/DARTSService") != std::string::npos);
  CHECK(target["create"]["operation"].as<std::string>() == "getCases");
  CHECK(s.target_yaml.find("document/literal wrapped") != std::string::npos);
  CHECK(s.target_yaml.find("faults d:Exception") != std::string::npos);
  check_paths_resolve(w->schemas(), s);

  // Abstract types: the scaffold lists the derived types' paths with xsi:type.
  auto reg = Wsdl::load(source("tests/fixtures/wsdl/documentum_context_registry/ContextRegistryService.wsdl"));
  const Scaffold r = scaffold_operation(*reg, reg->operation("register"), {});
  bool typed = false;
  for (const auto& f : r.fields) typed = typed || f.path.find("[xsi:type=") != std::string::npos;
  CHECK(typed);
  check_paths_resolve(reg->schemas(), r);
}

TEST_CASE("from: guesses are conservative") {
  const std::vector<std::string> paths = submission_paths();
  CHECK(guess_submission_path("PostCode", paths) == "location.postcode");
  CHECK(guess_submission_path("Latitude", paths) == "location.lat");
  CHECK(guess_submission_path("AppReference", paths) == "id");
  CHECK(guess_submission_path("accuracy_m", paths) == "location.accuracy_m");
  CHECK(guess_submission_path("IdentificationID", paths).empty());
  CHECK(guess_submission_path("sha256", paths).empty());  // only attachments[*].sha256: a list
  CHECK(guess_submission_path("Name", paths).empty());
}
