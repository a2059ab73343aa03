// The bridge's own values as mapping sources (`from: bridge.NAME`, issue #12):
// a WSDL target configured with no `values:` at all. The mapping puts the
// external reference inside the record through a transform, sends the same
// transformed value with the lookup, and places the stored legacy reference
// in the update through its own rules; a CSV drop carries the external
// reference too. Against the real legacy server (legacy_rms_server.py, shape
// "wrapped"): an in-doubt create (dropped after it committed) is found by the
// transformed reference, the edit goes as an update of that record, nothing twice.
#include <catch2/catch.hpp>

#include <signal.h>

#include <boost/json.hpp>

#include "tests/integration/guardian_soap.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;

namespace {

// The shared Guardian mapping, for the Guardian target alone (a CSV drop
// issues no reference: check refuses legacy_reference for it), with the
// bridge's values as mapping fields.
std::string guardian_mapping() {
  std::string m = kGuardianMapping;
  const std::string targets = "targets: [guardian, drop]";
  m.replace(m.find(targets), targets.size(), "targets: [guardian]");
  return m + R"Y(  - name: gcr:CommunityReport/ExternalReference
    from: bridge.external_reference
    transforms:
      - regex_replace: {pattern: "^", with: "APP-"}
  - name: PriorReference
    from: bridge.legacy_reference
    transforms: [trim]
    required: true
operations:
  create:
    PriorReference: ""
  update:
    PriorReference: svc:RmsReference
  lookup:
    gcr:CommunityReport/ExternalReference: svc:ExternalReference
)Y";
}

const char* kDropMapping = R"Y(mapping: drop
targets: [drop]
fields:
  - {name: Ref, from: bridge.external_reference, transforms: [uppercase]}
  - {name: Version, from: bridge.version}
)Y";

// The Guardian target with no `values:` at all: the mapping places everything.
std::string target(int port) {
  return "  - name: guardian\n    type: soap\n    wsdl: " + kGuardianWsdl + "\n    url: http://127.0.0.1:" +
         std::to_string(port) +
         "/Guardian/IntakeService.svc\n"
         "    namespaces:\n"
         "      svc: http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03\n"
         "      gcr: http://schemas.caldmore.co.uk/guardian/records/community-report/2.1\n"
         "    create: {operation: SubmitCommunityReport, reference: svc:SubmitCommunityReportResponse/svc:RmsReference}\n"
         "    update: {operation: UpdateCommunityReport, reference: svc:UpdateCommunityReportResponse/svc:RmsReference}\n"
         "    lookup: {operation: FindByExternalReference, reference: //svc:RmsReference, not_found: nil}\n"
         "    read_timeout: 2s\n    request_timeout: 3s\n    settle_time: 1s\n"
         "    batch_size: 10\n    batch_wait: 50ms\n"
         "    retry: {max_attempts: 50, base: 50ms, cap: 200ms}\n"
         "    writeback: {message: \"Recorded by Guardian.\", reference: true}\n";
}

// Feeds the installation's CSV drop with kDropMapping.
void feed_drop(const Installation& inst) {
  write_file(inst.dir / "mappings/drop.yaml", kDropMapping);
  std::string cfg = read_file(inst.config);
  const std::string list = "mappings: [mappings/all.yaml]";
  cfg.replace(cfg.find(list), list.size(), "mappings: [mappings/all.yaml, mappings/drop.yaml]");
  write_file(inst.config, cfg);
}

// Runs the daemon until `done` holds (or the deadline), then stops it.
bool run_until(const Installation& inst, const std::function<bool()>& done) {
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                            (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
  const bool ok = wait_until(done, std::chrono::seconds(60));
  kill(pid, SIGTERM);
  wait_process(pid);
  return ok;
}

}  // namespace

TEST_CASE("bridge values mapped: transformed external reference in the record and the lookup, legacy reference in the update") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  Installation inst(guardian_mapping(), target(server.port()));
  feed_drop(inst);
  create_app_store(inst.store);
  for (int n = 1; n <= 3; ++n) insert_submission(inst.store, n, test_id(n), 1, valid_payload(test_id(n)));

  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);

  // preview: the lineage of the mapped reference, and the update's envelope
  // with the stored-or-sample reference where the mapping puts it
  auto preview = inst.bridge({"preview", "--submission", test_id(1), "--target", "guardian"});
  INFO(preview.out << preview.err);
  CHECK(preview.out.find("from bridge.external_reference") != std::string::npos);
  CHECK(preview.out.find("APP-" + test_id(1) + ":1") != std::string::npos);
  CHECK(preview.out.find("given when an update is sent") != std::string::npos);

  // The first create commits at the server, then the connection drops: in
  // doubt; after the settle time the lookup must find it by the transformed reference.
  control(server, "drop_next=1&ops=create");
  REQUIRE(run_until(inst, [&] {
    std::size_t forwarded = 0;
    for (const auto& [id, state] : inst.statuses()) forwarded += state == "forwarded";
    return forwarded == 3;
  }));
  // An edit of the first: an update of the record the create made.
  insert_submission(inst.store, 4, test_id(1), 2, valid_payload(test_id(1), 2, "concern", "Edited summary"));
  REQUIRE(run_until(inst, [&] {
    if (inst.published_records().size() < 4) return false;  // the drop has the edit too
    auto d = dump(server);
    for (const auto& rec : d.at("records").as_array())
      if (rec.at("versions").as_array().size() == 2) return true;
    return false;
  }));

  auto d = dump(server);
  INFO(boost::json::serialize(d));
  CHECK(d.at("duplicates").as_object().empty());
  CHECK(d.at("repeated_versions").as_object().empty());
  const auto& records = d.at("records").as_array();
  REQUIRE(records.size() == 3);
  const auto refs = read_status_references(inst.store);
  for (const auto& rec : records) {
    const std::string external(rec.at("external_reference").as_string());
    REQUIRE(external.rfind("APP-", 0) == 0);  // the transform, inside the record
    const std::string id = external.substr(4, external.find(':') - 4);
    CHECK(refs.at(id) == std::string(rec.at("legacy_reference").as_string()));
    const auto& versions = rec.at("versions").as_array();
    if (id == test_id(1)) {
      REQUIRE(versions.size() == 2);
      const std::string update(versions[1].at("request").as_string());
      // the update names the record by the legacy reference the mapping placed
      CHECK(update.find("RmsReference>" + std::string(rec.at("legacy_reference").as_string()) + "<") !=
            std::string::npos);
      CHECK(std::string(versions[1].at("external_reference").as_string()) == "APP-" + test_id(1) + ":2");
    } else {
      CHECK(versions.size() == 1);
    }
    // no create carries the legacy reference (the mapping leaves it out of create)
    CHECK(std::string(versions[0].at("request").as_string()).find("RmsReference") == std::string::npos);
  }
  // the in-doubt create was looked up (by the transformed reference), not sent again
  const auto* lookups = d.at("calls").as_object().if_contains("FindByExternalReference");
  REQUIRE(lookups != nullptr);
  CHECK(lookups->to_number<std::int64_t>() >= 1);

  // the CSV drop got the external reference through its own transform
  std::size_t rows = 0;
  for (const auto& r : inst.published_records()) {
    REQUIRE(r.size() >= 2);
    CHECK(r[0].find(':') != std::string::npos);
    CHECK(r[0] == r[0].substr(0, r[0].find(':')) + ":" + r[1]);
    ++rows;
  }
  CHECK(rows == 4);
}

TEST_CASE("bridge.legacy_reference for a target that issues no reference is refused at its file:line:col") {
  Installation inst("mapping: m\ntargets: [drop]\nfields:\n  - {name: Ref, from: id}\n  - {name: Prev, from: bridge.legacy_reference}\n");
  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  CHECK(check.exit_code != 0);
  const std::string said = check.out + check.err;
  CHECK(said.find("all.yaml:5:24: error: bridge.legacy_reference") != std::string::npos);
  CHECK(said.find("target 'drop' sends no updates by reference") != std::string::npos);
}

TEST_CASE("a public contract (Documentum context registry): a mapped bridge value in an attribute, the lookup sends the same") {
  // The contract is not ours (tests/fixtures/wsdl/README.md); register takes
  // context/@token, lookup a token element: the short id of the external
  // reference goes in both, and preview validates each envelope against it.
  const std::string wsdl = std::string(REPORTBRIDGE_SOURCE_DIR) +
                           "/tests/fixtures/wsdl/documentum_context_registry/ContextRegistryService.wsdl";
  Installation inst(R"Y(mapping: registry
targets: [registry]
fields:
  - name: context/@token
    from: bridge.external_reference
    transforms: [{short_id: 16}]
  - name: host
    value: cleveland-app
operations:
  lookup:
    context/@token: token
)Y",
                    "  - name: registry\n    type: soap\n    wsdl: " + wsdl +
                        "\n    url: http://127.0.0.1:9/registry\n"
                        "    namespaces: {tns: \"http://services.rt.fs.documentum.emc.com/\"}\n"
                        "    create: {operation: register, reference: \"tns:registerResponse/return\"}\n"
                        "    lookup: {operation: lookup, reference: \"tns:lookupResponse/return/@token\"}\n");
  feed_drop(inst);
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
  auto preview = inst.bridge({"preview", "--submission", test_id(1), "--target", "registry"});
  INFO(preview.out << preview.err);
  REQUIRE(preview.exit_code == 0);
  const auto at = preview.out.find("<context token=\"");
  REQUIRE(at != std::string::npos);
  const std::string token = preview.out.substr(at + 16, 16);
  CHECK(token.find('"') == std::string::npos);
  CHECK(preview.out.find("<token>" + token + "</token>") != std::string::npos);
  CHECK(preview.out.find("REJECTED") == std::string::npos);
  CHECK(preview.out.find("from bridge.external_reference: \"" + test_id(1) + ":1\"") != std::string::npos);
}

TEST_CASE("a legacy reference the field's rules refuse: that update is a dead letter, unsent, and later rows keep flowing") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  // The Guardian issues GRD/yy/nnnnnn; this mapping wants RMS/... and refuses anything else.
  std::string mapping = guardian_mapping();
  const std::string trim = "    transforms: [trim]\n    required: true\n";
  REQUIRE(mapping.find(trim) != std::string::npos);
  mapping.replace(mapping.find(trim), trim.size(),
                  "    transforms: [{regex_extract: {pattern: \"^RMS/[0-9]+$\"}}]\n    required: true\n");
  Installation inst(mapping, target(server.port()));
  feed_drop(inst);
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  REQUIRE(inst.bridge({"check"}).exit_code == 0);
  REQUIRE(run_until(inst, [&] { return inst.statuses()[test_id(1)] == "forwarded"; }));
  // The edit cannot be sent; a new report behind it can.
  insert_submission(inst.store, 2, test_id(1), 2, valid_payload(test_id(1), 2, "concern", "Edited summary"));
  insert_submission(inst.store, 3, test_id(2), 1, valid_payload(test_id(2)));
  REQUIRE(run_until(inst, [&] {
    auto s = outbox_states(inst);
    return s["dead"] == 1 && inst.statuses()[test_id(2)] == "forwarded" && inst.published_records().size() == 3;
  }));
  auto d = dump(server);
  INFO(boost::json::serialize(d));
  REQUIRE(d.at("records").as_array().size() == 2);
  for (const auto& rec : d.at("records").as_array()) CHECK(rec.at("versions").as_array().size() == 1);  // no update sent
  const auto* updates = d.at("calls").as_object().if_contains("UpdateCommunityReport");
  CHECK((updates == nullptr || updates->to_number<std::int64_t>() == 0));
  auto status = run_process({REPORTBRIDGE_BINARY, "status", "--config", inst.config});
  INFO(status.out << status.err);
  CHECK(status.out.find("mapping_failed") != std::string::npos);
  CHECK(status.out.find("PriorReference") != std::string::npos);
}
