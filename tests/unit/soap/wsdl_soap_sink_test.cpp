// WsdlSoapSink against real legacy test systems that serve exactly their own
// WSDL (tests/servers/legacy_rms_server.py: lxml validates every request
// against the contract and refuses anything else) and spyne-served ones
// (tests/servers/spyne_legacy_server.py).
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <boost/json.hpp>
#include <map>
#include <thread>

#include "adapters/sinks/soap/wsdl_soap_sink.hpp"
#include "bridge/core/sha256.hpp"
#include "bridge/net/url.hpp"
#include "tests/servers/server_process.hpp"
#include "tests/servers/test_pki.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::soap;
using core::DeliveryStatus;
using testing::ServerProcess;

namespace {

const std::string kFixtures = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/fixtures/wsdl/";

ServerProcess& legacy(const std::string& shape) {
  static std::map<std::string, std::unique_ptr<ServerProcess>> servers;
  auto& s = servers[shape];
  if (!s)
    s = std::make_unique<ServerProcess>(std::vector<std::string>{
        testing::python(), testing::server_script("legacy_rms_server.py"), "0", "--shape", shape});
  return *s;
}

ServerProcess& spyne(const std::string& shape) {
  static std::map<std::string, std::unique_ptr<ServerProcess>> servers;
  auto& s = servers[shape];
  if (!s)
    s = std::make_unique<ServerProcess>(std::vector<std::string>{
        testing::python(), testing::server_script("spyne_legacy_server.py"), "0", "--shape", shape});
  return *s;
}

boost::json::value http(ServerProcess& s, const std::string& path, const std::string& method = "GET") {
  net::HttpClientConfig c;
  c.base_url = s.url(path);
  net::HttpClient client(c);
  net::Request r;
  r.method = method;
  r.target = net::parse_url(c.base_url)->target;
  auto res = client.send(r);
  REQUIRE(res.status == 200);
  return method == "GET" ? boost::json::parse(res.body) : boost::json::value{};
}

void control(ServerProcess& s, const std::string& query) { http(s, "/control?" + query, "POST"); }

// external reference -> legacy references of the records created with it
std::map<std::string, std::vector<std::string>> creates(ServerProcess& s) {
  std::map<std::string, std::vector<std::string>> out;
  auto dump = http(s, "/dump");
  for (const auto& rec : dump.at("records").as_array()) {
    const auto& ext = rec.at("external_reference");
    out[ext.is_string() ? std::string(ext.as_string()) : ""].push_back(std::string(rec.at("legacy_reference").as_string()));
  }
  return out;
}

std::int64_t calls(ServerProcess& s, const std::string& op) {
  auto dump = http(s, "/dump");
  const auto& c = dump.at("calls").as_object();
  auto it = c.find(op);
  return it == c.end() ? 0 : it->value().as_int64();
}

std::string versions_xml(ServerProcess& s, const std::string& ref) {
  auto dump = http(s, "/dump");
  std::string all;
  for (const auto& rec : dump.at("records").as_array())
    if (rec.at("legacy_reference").as_string() == ref)
      for (const auto& v : rec.at("versions").as_array()) all += boost::json::serialize(v) + "\n";
  return all;
}

core::DeliveryItem item(const std::string& id, std::int64_t version, std::vector<core::RecordField> fields,
                        std::string prior = {}, bool in_doubt = false, std::int64_t outbox_id = 1) {
  core::DeliveryItem i;
  i.outbox_id = outbox_id;
  i.record.submission_id = id;
  i.record.version = version;
  i.record.mapping = "m";
  i.record.target = "t";
  i.record.fields = std::move(fields);
  i.prior_reference = std::move(prior);
  i.in_doubt = in_doubt;
  return i;
}

core::DeliveryBatch batch(std::vector<core::DeliveryItem> items, const std::string& key = "k") {
  core::DeliveryBatch b;
  b.key = key;
  b.items = std::move(items);
  return b;
}

void fast(WsdlSoapConfig& c) {
  c.http.connect_timeout = std::chrono::milliseconds(2000);
  c.http.read_timeout = std::chrono::milliseconds(2000);
  c.http.total_timeout = std::chrono::milliseconds(4000);
}

// ---- Caldmore Guardian RMS: wrapped, the external reference inside the record,
// the RMS reference a sibling of the record in the update, nil when not found.
const char* kGuardianSvc = "http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03";
const char* kGuardianGcr = "http://schemas.caldmore.co.uk/guardian/records/community-report/2.1";

WsdlSoapConfig guardian(ServerProcess& s) {
  WsdlSoapConfig c;
  c.name = "guardian";
  c.wsdl = kFixtures + "wrapped/GuardianIntakeService.wsdl";
  c.url = s.url("/Guardian/IntakeService.svc");
  c.namespaces = {{"svc", kGuardianSvc}, {"gcr", kGuardianGcr}};
  c.create.operation = "SubmitCommunityReport";
  c.create.reference = "svc:SubmitCommunityReportResponse/svc:RmsReference";
  c.create.values = {{"gcr:CommunityReport/ExternalReference", BridgeValue::external_reference}};
  c.update.operation = "UpdateCommunityReport";
  c.update.reference = "svc:UpdateCommunityReportResponse/svc:RmsReference";
  c.update.values = {{"svc:RmsReference", BridgeValue::legacy_reference},
                     {"gcr:CommunityReport/ExternalReference", BridgeValue::external_reference}};
  c.lookup.operation = "FindByExternalReference";
  c.lookup.reference = "//svc:RmsReference";
  c.lookup.not_found = NotFound::nil;
  c.lookup.values = {{"svc:ExternalReference", BridgeValue::external_reference}};
  fast(c);
  return c;
}

std::vector<core::RecordField> guardian_fields(const std::string& summary = "Group throwing stones at buses") {
  return {{"gcr:CommunityReport/SourceSystem", "PUBLIC_APP"},
          {"gcr:CommunityReport/ReportedDateTime", "2026-11-27T18:42:10"},
          {"gcr:CommunityReport/Classification/CategoryCode", "ASB01"},
          {"gcr:CommunityReport/Summary", summary},
          {"gcr:CommunityReport/Location/Postcode", "TS1 3QY"},
          {"gcr:CommunityReport/Informant/@contactConsent", "true"},
          {"gcr:CommunityReport/Informant/Name", std::nullopt}};
}

}  // namespace

TEST_CASE("wrapped (Guardian): create, update with the reference beside the record, lookup") {
  auto& s = legacy("wrapped");
  control(s, "reset=1");
  WsdlSoapSink sink(guardian(s), {});
  CHECK(sink.settle_time() == std::chrono::milliseconds(6000));  // request_timeout + read_timeout

  auto out = sink.deliver(batch({item("sub-1", 1, guardian_fields()), item("sub-2", 1, guardian_fields(), {}, false, 2)}));
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[1].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("GRD/", 0) == 0);
  CHECK(out[0].reference != out[1].reference);
  auto made = creates(s);
  CHECK(made["sub-1:1"] == std::vector<std::string>{out[0].reference});

  // Version 2 goes as UpdateCommunityReport against the stored reference.
  auto up = sink.deliver(batch({item("sub-1", 2, guardian_fields("Now with a description"), out[0].reference)}));
  REQUIRE(up[0].status == DeliveryStatus::delivered);
  CHECK(up[0].reference == out[0].reference);
  const auto versions = versions_xml(s, out[0].reference);
  CHECK(versions.find("Now with a description") != std::string::npos);
  CHECK(versions.find("sub-1:2") != std::string::npos);
  CHECK(calls(s, "UpdateCommunityReport") == 1);

  // In doubt after the settle time: the lookup finds it, nothing is sent again.
  auto cfg = guardian(s);
  cfg.settle_time = std::chrono::milliseconds(0);
  WsdlSoapSink quick(cfg, {});
  auto again = quick.deliver(batch({item("sub-2", 1, guardian_fields(), {}, true, 2)}));
  REQUIRE(again[0].status == DeliveryStatus::delivered);
  CHECK(again[0].reference == out[1].reference);
  CHECK(calls(s, "FindByExternalReference") == 1);
  CHECK(creates(s)["sub-2:1"].size() == 1);

  // Not there (nil): sent.
  auto fresh = quick.deliver(batch({item("sub-3", 1, guardian_fields(), {}, true, 3)}));
  REQUIRE(fresh[0].status == DeliveryStatus::delivered);
  CHECK(creates(s)["sub-3:1"].size() == 1);
  CHECK(http(s, "/dump").at("duplicates").as_object().empty());
}

TEST_CASE("#17.1: a slow create that commits after the timeout is looked up only after the settle time") {
  auto& s = legacy("wrapped");
  control(s, "reset=1");
  auto cfg = guardian(s);
  cfg.http.read_timeout = std::chrono::milliseconds(800);
  cfg.http.total_timeout = std::chrono::milliseconds(1000);
  cfg.settle_time = std::chrono::milliseconds(3500);

  SECTION("with the settle time: one record") {
    WsdlSoapSink sink(cfg, {});
    control(s, "slow_next=1&ms=2500");
    auto first = sink.deliver(batch({item("slow-1", 1, guardian_fields())}));
    REQUIRE(first[0].status == DeliveryStatus::retry);
    REQUIRE(first[0].in_doubt);
    // Handed again at once (as a quick retry or a restart would): deferred, nothing sent.
    auto early = sink.deliver(batch({item("slow-1", 1, guardian_fields(), {}, true)}));
    CHECK(early[0].status == DeliveryStatus::retry);
    CHECK(early[0].reason_code == "in_doubt_settling");
    CHECK(early[0].deferred);
    CHECK(early[0].retry_after.count() >= 1);
    CHECK(calls(s, "FindByExternalReference") == 0);
    // A new process (restart) counts the settle time from when it first sees the item.
    WsdlSoapSink restarted(cfg, {});
    auto after_restart = restarted.deliver(batch({item("slow-1", 1, guardian_fields(), {}, true)}));
    CHECK(after_restart[0].reason_code == "in_doubt_settling");
    std::this_thread::sleep_for(std::chrono::milliseconds(3600));
    auto late = sink.deliver(batch({item("slow-1", 1, guardian_fields(), {}, true)}));
    REQUIRE(late[0].status == DeliveryStatus::delivered);
    CHECK(calls(s, "FindByExternalReference") == 1);
    CHECK(creates(s)["slow-1:1"].size() == 1);
    CHECK(calls(s, "SubmitCommunityReport") == 1);
  }
  SECTION("without it (settle_time 0, the old behaviour): the lookup races the request, two records") {
    cfg.settle_time = std::chrono::milliseconds(0);
    WsdlSoapSink sink(cfg, {});
    control(s, "slow_next=1&ms=2500");
    auto first = sink.deliver(batch({item("slow-2", 1, guardian_fields())}));
    REQUIRE(first[0].in_doubt);
    auto again = sink.deliver(batch({item("slow-2", 1, guardian_fields(), {}, true)}));
    CHECK(again[0].status == DeliveryStatus::delivered);
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    CHECK(creates(s)["slow-2:1"].size() == 2);  // what the settle time prevents
  }
}

TEST_CASE("faults: auth rejects, client faults reject, server faults and 5xx retry, invalid requests never sent") {
  auto& s = legacy("wrapped");
  control(s, "reset=1");
  WsdlSoapSink sink(guardian(s), {});
  const std::vector<std::pair<std::string, std::pair<DeliveryStatus, std::string>>> cases{
      {"auth_fault", {DeliveryStatus::reject, "auth_failed"}},
      {"http401", {DeliveryStatus::reject, "auth_failed"}},
      {"http403", {DeliveryStatus::reject, "auth_failed"}},
      {"client_fault", {DeliveryStatus::reject, "soap_client_fault"}},
      {"server_fault", {DeliveryStatus::retry, "soap_server_fault"}},
      {"http500", {DeliveryStatus::retry, "http_5xx"}},
      {"http503", {DeliveryStatus::retry, "http_5xx"}},
  };
  for (const auto& [kind, expected] : cases) {
    INFO(kind);
    control(s, "fail_next=1&kind=" + kind);
    auto out = sink.deliver(batch({item("f-" + kind, 1, guardian_fields())}));
    CHECK(out[0].status == expected.first);
    CHECK(out[0].reason_code == expected.second);
  }
  // A value the schema refuses: rejected with the validator's message, never sent.
  const auto before = calls(s, "SubmitCommunityReport");
  auto bad = guardian_fields();
  bad[2].value = "not a category code with spaces";
  auto out = sink.deliver(batch({item("bad-1", 1, bad)}));
  CHECK(out[0].status == DeliveryStatus::reject);
  CHECK(out[0].reason_code == "schema_invalid");
  CHECK(out[0].detail.find("CategoryCode") != std::string::npos);
  CHECK(out[0].detail.find("not a category") == std::string::npos);  // no values in details
  CHECK(calls(s, "SubmitCommunityReport") == before);
}

TEST_CASE("preview shows the envelope of every operation") {
  auto& s = legacy("wrapped");
  WsdlSoapSink sink(guardian(s), {});
  core::TargetRecord r = item("p-1", 1, guardian_fields()).record;
  const auto text = sink.encode_preview(r);
  CHECK(text.find("== create: SubmitCommunityReport") != std::string::npos);
  CHECK(text.find("== update: UpdateCommunityReport") != std::string::npos);
  CHECK(text.find("== lookup: FindByExternalReference") != std::string::npos);
  CHECK(text.find("<ExternalReference>p-1:1</ExternalReference>") != std::string::npos);
  // The update's reference: a made-up value its pattern (GRD/[0-9]{2}/[0-9]{6}) accepts,
  // said so; the placeholder text used to fail the pattern and show the update REJECTED.
  CHECK(text.find("REJECTED") == std::string::npos);
  CHECK(text.find(">GRD/00/000000</") != std::string::npos);
  CHECK(text.find("a made-up value of its type") != std::string::npos);
  // The stored (or given) reference when there is one.
  const auto stored = sink.encode_preview_with_reference(r, "GRD/26/004211");
  CHECK(stored.find(">GRD/26/004211</") != std::string::npos);
  CHECK(stored.find("made-up") == std::string::npos);
  CHECK(stored.find("REJECTED") == std::string::npos);
  // One that breaks the contract shows the update rejected, with the reason.
  const auto wrong = sink.encode_preview_with_reference(r, "not-a-reference");
  CHECK(wrong.find("REJECTED schema_invalid") != std::string::npos);
  // A field the update leaves out goes with the create only.
  auto c = guardian(s);
  c.update.fields = {{"gcr:CommunityReport/Location/Postcode", ""}};
  WsdlSoapSink partial(c, {});
  const auto both = partial.encode_preview(r);
  const auto update_at = both.find("== update:");
  REQUIRE(update_at != std::string::npos);
  CHECK(both.substr(0, update_at).find("<Postcode>TS1 3QY</Postcode>") != std::string::npos);
  CHECK(both.substr(update_at).find("Postcode") == std::string::npos);
}

TEST_CASE("#17 safer path: a create the target refuses as a duplicate is resent at once, one record") {
  auto& s = legacy("wrapped");
  control(s, "reset=1&unique_external=1");
  auto cfg = guardian(s);
  cfg.namespaces.emplace_back("dup", "urn:reportbridge:test:legacy-faults");
  cfg.http.read_timeout = std::chrono::milliseconds(800);
  cfg.http.total_timeout = std::chrono::milliseconds(1000);
  cfg.settle_time = std::chrono::milliseconds(60'000);  // never waited for here
  cfg.create.on_existing_fault = "DuplicateExternalReference";

  SECTION("the reference from the fault: a resend while the first is still running, then one refused") {
    cfg.create.on_existing_reference = "//dup:ExistingReference";
    WsdlSoapSink sink(cfg, {});
    control(s, "slow_next=1&ms=2000");
    auto first = sink.deliver(batch({item("safe-1", 1, guardian_fields())}));
    REQUIRE(first[0].status == DeliveryStatus::retry);
    REQUIRE(first[0].in_doubt);
    // Handed again at once: sent again, not deferred and not looked up.
    auto again = sink.deliver(batch({item("safe-1", 1, guardian_fields(), {}, true)}));
    REQUIRE(again[0].status == DeliveryStatus::delivered);
    CHECK(calls(s, "FindByExternalReference") == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(2200));  // the slow first commits: refused
    auto records = creates(s);
    REQUIRE(records["safe-1:1"].size() == 1);
    CHECK(again[0].reference == records["safe-1:1"][0]);
    // And a resend after the first committed (a drop after commit) gets its reference from the fault.
    control(s, "drop_next=1&ops=create");
    auto dropped = sink.deliver(batch({item("safe-2", 1, guardian_fields())}));
    REQUIRE(dropped[0].in_doubt);
    auto resent = sink.deliver(batch({item("safe-2", 1, guardian_fields(), {}, true)}));
    REQUIRE(resent[0].status == DeliveryStatus::delivered);
    records = creates(s);
    REQUIRE(records["safe-2:1"].size() == 1);
    CHECK(resent[0].reference == records["safe-2:1"][0]);
    CHECK(calls(s, "FindByExternalReference") == 0);
  }
  SECTION("no reference in the fault: the lookup finds the record") {
    WsdlSoapSink sink(cfg, {});
    control(s, "drop_next=1&ops=create");
    auto dropped = sink.deliver(batch({item("safe-3", 1, guardian_fields())}));
    REQUIRE(dropped[0].in_doubt);
    auto resent = sink.deliver(batch({item("safe-3", 1, guardian_fields(), {}, true)}));
    REQUIRE(resent[0].status == DeliveryStatus::delivered);
    auto records = creates(s);
    REQUIRE(records["safe-3:1"].size() == 1);
    CHECK(resent[0].reference == records["safe-3:1"][0]);
    CHECK(calls(s, "FindByExternalReference") == 1);
  }
  SECTION("configuration: a reference or a lookup is needed, prefixes are checked") {
    auto c = cfg;
    c.lookup = {};
    CHECK_THROWS_WITH(WsdlSoapSink(c, {}), Catch::Contains("on_existing"));
    c.create.on_existing_reference = "//nope:ExistingReference";
    CHECK_THROWS_WITH(WsdlSoapSink(c, {}), Catch::Contains("prefix 'nope' is not declared"));
  }
  control(s, "unique_external=0");
}

TEST_CASE("configuration errors name every problem") {
  auto& s = legacy("wrapped");
  auto c = guardian(s);
  c.update.operation = "UpdateReport";
  c.lookup.reference = "//x:RmsReference";
  c.create.values = {{"gcr:CommunityReport/ExternalRef", BridgeValue::external_reference}};
  try {
    WsdlSoapSink sink(c, {});
    FAIL("accepted");
  } catch (const ContractError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("update: ") != std::string::npos);
    CHECK(m.find("UpdateReport") != std::string::npos);
    CHECK(m.find("ExternalRef") != std::string::npos);
    CHECK(m.find("did you mean") != std::string::npos);
  }
  // #17.3: an undeclared prefix in a reference XPath is a configuration error.
  auto c2 = guardian(s);
  c2.lookup.reference = "//x:RmsReference";
  try {
    WsdlSoapSink sink(c2, {});
    FAIL("accepted");
  } catch (const ContractError& e) {
    CHECK(std::string(e.what()).find("prefix 'x' is not declared") != std::string::npos);
  }
  // A field the update leaves out ("") is checked against the create only.
  auto c3 = guardian(s);
  c3.update.fields = {{"gcr:CommunityReport/Sumary", ""}};
  WsdlSoapSink left_out(c3, {});
  REQUIRE(left_out.check_field("gcr:CommunityReport/Sumary"));
  CHECK(left_out.check_field("gcr:CommunityReport/Sumary")->rfind("create", 0) == 0);
  WsdlSoapSink ok(guardian(s), {});
  CHECK(!ok.check_field("gcr:CommunityReport/Summary"));
  auto why = ok.check_field("gcr:CommunityReport/Sumary");
  REQUIRE(why);
  CHECK(why->find("gcr:CommunityReport/Summary") != std::string::npos);
  core::Diagnostics diags;
  ok.check_contract({"gcr:CommunityReport/Summary"}, "c.yaml", 3, 5, diags);
  std::string all;
  for (const auto& d : diags.items()) all += d.message + "\n";
  INFO(all);
  CHECK(all.find("SourceSystem") != std::string::npos);  // required, never filled
  CHECK(all.find("gcr:CommunityReport/Classification") != std::string::npos);  // the outermost missing element
  CHECK(all.find("Summary,") == std::string::npos);

  // A complete mapping passes; one that writes Informant without its required
  // attribute cannot produce a valid request: the sample request says so.
  const std::vector<std::string> complete{"gcr:CommunityReport/SourceSystem", "gcr:CommunityReport/ReportedDateTime",
                                          "gcr:CommunityReport/Classification/CategoryCode",
                                          "gcr:CommunityReport/Summary"};
  core::Diagnostics fine;
  ok.check_contract(complete, "c.yaml", 3, 5, fine);
  INFO(fine.to_string());
  CHECK(!fine.has_errors());
  auto with_informant = complete;
  with_informant.push_back("gcr:CommunityReport/Informant/Name");
  core::Diagnostics sample;
  ok.check_contract(with_informant, "c.yaml", 3, 5, sample);
  INFO(sample.to_string());
  CHECK(sample.to_string().find("c.yaml:3:5") != std::string::npos);
  CHECK(sample.to_string().find("a sample request from these fields does not fit the contract") != std::string::npos);
  CHECK(sample.to_string().find("contactConsent") != std::string::npos);
}

// ---- Northmoor Occurrence Hub: bare, the record is the body, the hub
// reference of an update in a SOAP header, an empty result when not found.
TEST_CASE("bare (Occurrence Hub): record as the body, reference in a header, empty not-found") {
  auto& s = legacy("bare");
  control(s, "reset=1");
  WsdlSoapConfig c;
  c.name = "hub";
  c.wsdl = kFixtures + "bare/OccurrenceHub.wsdl";
  c.url = s.url("/occurrence-hub/soap/IncidentPort");
  c.namespaces = {{"inc", "urn:northmoor:occurrence-hub:incident:v3"}, {"ctx", "urn:northmoor:occurrence-hub:context:v1"}};
  c.create.operation = "LodgeIncident";
  c.create.reference = "inc:IncidentReceipt/ctx:RecordReference";
  c.create.values = {{"@externalId", BridgeValue::external_reference}, {"@revision", BridgeValue::version}};
  c.update.operation = "AmendIncident";
  c.update.reference = "inc:IncidentReceipt/ctx:RecordReference";
  c.update.values = {{"@externalId", BridgeValue::external_reference},
                     {"@revision", BridgeValue::version},
                     {"soap:Header/ctx:RecordReference", BridgeValue::legacy_reference}};
  c.lookup.operation = "QueryIncident";
  c.lookup.reference = "inc:IncidentQueryResult/ctx:RecordReference";
  c.lookup.values = {{"@externalId", BridgeValue::external_reference}};
  c.settle_time = std::chrono::milliseconds(0);
  fast(c);
  WsdlSoapSink sink(c, {});
  const std::vector<core::RecordField> f{{"inc:ReportedOn", "2026-11-27T18:42:10"},
                                         {"inc:Category", "ASB"},
                                         {"inc:Title", "Group throwing stones at buses"},
                                         {"inc:Location/inc:Postcode", "TS1 3QY"},
                                         {"inc:Reporter/@anonymous", "true"}};
  auto out = sink.deliver(batch({item("hub-1", 1, f)}));
  INFO(out[0].detail);
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("OH-", 0) == 0);
  auto up = sink.deliver(batch({item("hub-1", 2, f, out[0].reference)}));
  INFO(up[0].detail);
  REQUIRE(up[0].status == DeliveryStatus::delivered);
  CHECK(calls(s, "AmendIncident") == 1);
  // Lookup: found, and an empty result for one never sent.
  auto found = sink.deliver(batch({item("hub-1", 2, f, {}, true)}));
  CHECK(found[0].reference == out[0].reference);
  auto missing = sink.deliver(batch({item("hub-2", 1, f, {}, true)}));
  REQUIRE(missing[0].status == DeliveryStatus::delivered);
  CHECK(missing[0].reference != out[0].reference);
  CHECK(calls(s, "QueryIncident") == 2);
  CHECK(http(s, "/dump").at("duplicates").as_object().empty());
}

// ---- Vantage CaseConnect: SOAP 1.2 port, a required CallingSystem header,
// the source reference beside the record, a declared RecordNotFound fault.
TEST_CASE("soap12-header (CaseConnect): SOAP 1.2, a mapped header, not found as a fault") {
  auto& s = legacy("soap12-header");
  control(s, "reset=1");
  const std::string svc = "http://vantage-justice.co.uk/caseconnect/services/intake/v1";
  WsdlSoapConfig c;
  c.name = "caseconnect";
  c.wsdl = kFixtures + "soap12-header/CaseConnectIntake.wsdl";
  c.port = "CaseConnectIntakeSoap12Port";
  c.url = s.url("/caseconnect/v1/intake");
  c.namespaces = {{"svc", svc},
                  {"hdr", "http://vantage-justice.co.uk/caseconnect/headers/v1"},
                  {"ccd", "http://vantage-justice.co.uk/caseconnect/data/v1"}};
  const std::vector<std::pair<std::string, std::string>> header{
      {"soap:Header/hdr:CallingSystem/hdr:SystemId", "REPORTBRIDGE"}};
  const std::vector<std::pair<std::string, BridgeValue>> correlation{
      {"soap:Header/hdr:CallingSystem/hdr:CorrelationId", BridgeValue::request_id}};
  c.create = {"RecordOccurrence", "svc:RecordOccurrenceResponse/svc:CaseReference", NotFound::empty, "", {}, correlation, header};
  c.create.values.emplace_back("svc:SourceReference", BridgeValue::external_reference);
  c.update = {"ReviseOccurrence", "svc:ReviseOccurrenceResponse/svc:CaseReference", NotFound::empty, "", {}, correlation, header};
  c.update.values.emplace_back("svc:CaseReference", BridgeValue::legacy_reference);
  c.update.values.emplace_back("svc:SourceReference", BridgeValue::external_reference);
  c.lookup = {"LocateOccurrence", "svc:LocateOccurrenceResponse/svc:CaseReference", NotFound::fault, "RecordNotFound", {}, correlation, header};
  c.lookup.values.emplace_back("svc:SourceReference", BridgeValue::external_reference);
  c.settle_time = std::chrono::milliseconds(0);
  fast(c);
  WsdlSoapSink sink(c, {});
  const std::vector<core::RecordField> f{{"ccd:Occurrence/ccd:OccurrenceType", "ANTISOCIAL_BEHAVIOUR"},
                                         {"ccd:Occurrence/ccd:ReportedAt", "2026-11-27T18:42:10"},
                                         {"ccd:Occurrence/ccd:Summary", "Group throwing stones at buses"},
                                         {"ccd:Occurrence/ccd:When/ccd:Between/ccd:Start", "2026-11-27T18:15:00"},
                                         {"ccd:Occurrence/ccd:Where/ccd:Address/ccd:Line[*]", R"(["Linthorpe Road", "Middlesbrough"])"},
                                         {"ccd:Occurrence/ccd:Where/ccd:Address/ccd:Postcode", "TS1 3QY"}};
  auto out = sink.deliver(batch({item("cc-1", 1, f)}));
  INFO(out[0].detail);
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("CC", 0) == 0);
  auto up = sink.deliver(batch({item("cc-1", 2, f, out[0].reference)}));
  INFO(up[0].detail);
  CHECK(up[0].status == DeliveryStatus::delivered);
  // Lookup: found; and the declared fault means "not found": the record is sent.
  auto found = sink.deliver(batch({item("cc-1", 2, f, {}, true)}));
  CHECK(found[0].reference == out[0].reference);
  auto missing = sink.deliver(batch({item("cc-2", 1, f, {}, true)}));
  INFO(missing[0].detail);
  REQUIRE(missing[0].status == DeliveryStatus::delivered);
  CHECK(calls(s, "LocateOccurrence") == 2);
  CHECK(calls(s, "RecordOccurrence") == 2);
  // Another fault of the lookup is no "not found".
  control(s, "fail_next=1&kind=server_fault&ops=lookup");
  auto failed = sink.deliver(batch({item("cc-3", 1, f, {}, true)}));
  CHECK(failed[0].status == DeliveryStatus::retry);
  CHECK(failed[0].in_doubt);
  CHECK(calls(s, "RecordOccurrence") == 2);
}

// ---- spyne-served systems (spyne builds and validates the contract itself).
TEST_CASE("spyne-wrapped (Ravenscar): create, update, lookup with nil") {
  auto& s = spyne("spyne-wrapped");
  control(s, "reset=1");
  WsdlSoapConfig c;
  c.name = "ravenscar";
  c.wsdl = kFixtures + "spyne/spyne-wrapped/IncidentIntake.wsdl";
  c.url = s.url("/ravenscar/rms/IncidentIntake");
  c.namespaces = {{"svc", "http://schemas.ravenscar-rms.co.uk/services/intake/2021/06"},
                  {"inc", "http://schemas.ravenscar-rms.co.uk/records/incident/3.0"}};
  c.create.operation = "SubmitIncident";
  c.create.reference = "//svc:IncidentNumber";
  c.create.values = {{"svc:IncidentReport/inc:ExternalReference", BridgeValue::external_reference}};
  c.update.operation = "AmendIncident";
  c.update.reference = "//svc:IncidentNumber";
  c.update.values = {{"svc:IncidentNumber", BridgeValue::legacy_reference},
                     {"svc:IncidentReport/inc:ExternalReference", BridgeValue::external_reference}};
  c.lookup.operation = "FindIncidentByExternalReference";
  c.lookup.reference = "//svc:IncidentNumber";
  c.lookup.not_found = NotFound::nil;
  c.lookup.values = {{"svc:ExternalReference", BridgeValue::external_reference}};
  c.settle_time = std::chrono::milliseconds(0);
  fast(c);
  WsdlSoapSink sink(c, {});
  const std::vector<core::RecordField> f{{"svc:IncidentReport/@channel", "APP"},
                                         {"svc:IncidentReport/inc:SourceSystem", "PUBLIC_APP"},
                                         {"svc:IncidentReport/inc:IncidentType", "ASB"},
                                         {"svc:IncidentReport/inc:ReportedAt", "2026-11-27T18:42:10Z"},
                                         {"svc:IncidentReport/inc:Narrative", "Group throwing stones at buses"},
                                         {"svc:IncidentReport/inc:Location/inc:Address/inc:Street", "Linthorpe Road"},
                                         {"svc:IncidentReport/inc:Location/inc:Address/inc:Town", "Middlesbrough"},
                                         {"svc:IncidentReport/inc:Location/inc:Address/inc:Postcode", "TS1 3QY"}};
  auto out = sink.deliver(batch({item("rv-1", 1, f)}));
  INFO(out[0].detail);
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("RV-", 0) == 0);
  auto up = sink.deliver(batch({item("rv-1", 2, f, out[0].reference)}));
  INFO(up[0].detail);
  CHECK(up[0].status == DeliveryStatus::delivered);
  CHECK(calls(s, "AmendIncident") == 1);
  auto found = sink.deliver(batch({item("rv-1", 2, f, {}, true)}));
  CHECK(found[0].reference == out[0].reference);
  auto missing = sink.deliver(batch({item("rv-2", 1, f, {}, true)}));
  REQUIRE(missing[0].status == DeliveryStatus::delivered);
  CHECK(missing[0].reference != out[0].reference);
  CHECK(calls(s, "SubmitIncident") == 2);
  CHECK(http(s, "/dump").at("duplicates").as_object().empty());
}

TEST_CASE("spyne-header (CaseLink): required header, update and lookup with the declared fault") {
  auto& s = spyne("spyne-header");
  control(s, "reset=1");
  WsdlSoapConfig c;
  c.name = "caselink";
  c.wsdl = kFixtures + "spyne/spyne-header/CaseLinkIntake.wsdl";
  c.url = s.url("/caselink/v5/IntakeService");
  c.namespaces = {{"cl", "urn:marston:caselink:intake:5"}, {"case", "urn:marston:caselink:case:5"}};
  const std::vector<std::pair<std::string, std::string>> header{{"soap:Header/cl:CallingSystem/cl:SystemId", "REPORTBRIDGE"}};
  const std::vector<std::pair<std::string, BridgeValue>> values{
      {"soap:Header/cl:CallingSystem/cl:CorrelationId", BridgeValue::request_id},
      {"cl:SourceReference", BridgeValue::external_reference}};
  c.create = {"CreateCase", "//cl:CaseNumber", NotFound::empty, "", {}, values, header};
  c.update = {"UpdateCase", "//cl:CaseNumber", NotFound::empty, "", {}, values, header};
  c.update.values.emplace_back("cl:CaseNumber", BridgeValue::legacy_reference);
  c.lookup = {"LocateCase", "//cl:CaseNumber", NotFound::fault, "RecordNotFound", {}, values, header};
  c.settle_time = std::chrono::milliseconds(0);
  fast(c);
  WsdlSoapSink sink(c, {});
  const std::vector<core::RecordField> f{{"cl:CaseDetails/case:CaseType", "ANTISOCIAL_BEHAVIOUR"},
                                         {"cl:CaseDetails/case:ReceivedAt", "2026-11-27T18:42:10Z"},
                                         {"cl:CaseDetails/case:Summary", "Group throwing stones at buses"}};
  auto out = sink.deliver(batch({item("ml-1", 1, f)}));
  INFO(out[0].detail);
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("ML", 0) == 0);
  auto up = sink.deliver(batch({item("ml-1", 2, f, out[0].reference)}));
  INFO(up[0].detail);
  CHECK(up[0].status == DeliveryStatus::delivered);
  CHECK(calls(s, "UpdateCase") == 1);
  auto found = sink.deliver(batch({item("ml-1", 2, f, {}, true)}));
  INFO(found[0].detail);
  CHECK(found[0].reference == out[0].reference);
  auto missing = sink.deliver(batch({item("ml-2", 1, f, {}, true)}));
  INFO(missing[0].detail);
  REQUIRE(missing[0].status == DeliveryStatus::delivered);
  CHECK(calls(s, "LocateCase") == 2);
  CHECK(calls(s, "CreateCase") == 2);
}

TEST_CASE("WS-Security through a WSDL target: accepted with the right password, auth_failed with a wrong one") {
  ServerProcess s({testing::python(), testing::server_script("legacy_rms_server.py"), "0", "--shape", "wrapped",
                   "--wsse", "bridge:s3cret-pw"});
  testing::TempDir dir;
  testing::write_file(dir / "good", "s3cret-pw\n");
  testing::write_file(dir / "bad", "wrong\n");
  // Secret files follow the one rule for secrets (#15 item 6): owner-only.
  for (const char* f : {"good", "bad"})
    std::filesystem::permissions(dir / f, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace);
  auto c = guardian(s);
  c.username = "bridge";
  c.wsse = WsseMode::digest;
  c.password_file = dir / "good";
  WsdlSoapSink sink(c, {});
  auto ok = sink.deliver(batch({item("ws-1", 1, guardian_fields())}));
  INFO(ok[0].detail);
  CHECK(ok[0].status == DeliveryStatus::delivered);
  CHECK(sink.encode_preview(item("ws-1", 1, guardian_fields()).record).find("[redacted]") != std::string::npos);
  c.password_file = dir / "bad";
  WsdlSoapSink wrong(c, {});
  auto refused = wrong.deliver(batch({item("ws-2", 1, guardian_fields())}));
  CHECK(refused[0].status == DeliveryStatus::reject);
  CHECK(refused[0].reason_code == "auth_failed");  // wsse:FailedAuthentication, not a retried server fault
  CHECK(refused[0].detail.find("wrong") == std::string::npos);
  CHECK(creates(s).count("ws-2:1") == 0);
}

TEST_CASE("spyne-bare (Holderness): the record is the body, references in attributes, a simple-typed lookup body") {
  auto& s = spyne("spyne-bare");
  control(s, "reset=1");
  WsdlSoapConfig c;
  c.name = "holderness";
  c.wsdl = kFixtures + "spyne/spyne-bare/OccurrenceService.wsdl";
  c.url = s.url("/holderness/om/OccurrenceService");
  c.namespaces = {{"om", "http://holderness-systems.co.uk/occurrence-manager/soap/2.4"},
                  {"rec", "http://holderness-systems.co.uk/occurrence-manager/records/2.4"}};
  c.create.operation = "RegisterOccurrence";
  c.create.reference = "//rec:OccurrenceNumber";
  c.create.values = {{"@sourceReference", BridgeValue::external_reference}};
  c.update.operation = "ReviseOccurrence";
  c.update.reference = "//rec:OccurrenceNumber";
  c.update.values = {{"@sourceReference", BridgeValue::external_reference},
                     {"@occurrenceNumber", BridgeValue::legacy_reference}};
  c.lookup.operation = "FindOccurrence";
  c.lookup.reference = "//rec:OccurrenceNumber";
  c.lookup.values = {{"om:FindOccurrence", BridgeValue::external_reference}};  // the element's own text
  c.settle_time = std::chrono::milliseconds(0);
  fast(c);
  WsdlSoapSink sink(c, {});
  const std::vector<core::RecordField> f{{"rec:Category", "ASB"},
                                         {"rec:Occurred", "2026-11-27T18:15:00Z"},
                                         {"rec:Summary", "Group throwing stones at buses"},
                                         {"rec:Place/rec:AddressLine[*]", R"(["Paragon Interchange", "Hull"])"},
                                         {"rec:Place/rec:Postcode", "HU1 3UT"}};
  auto out = sink.deliver(batch({item("om-1", 1, f)}));
  INFO(out[0].detail);
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("OM", 0) == 0);
  auto up = sink.deliver(batch({item("om-1", 2, f, out[0].reference)}));
  INFO(up[0].detail);
  CHECK(up[0].status == DeliveryStatus::delivered);
  auto found = sink.deliver(batch({item("om-1", 2, f, {}, true)}));
  CHECK(found[0].reference == out[0].reference);
  auto missing = sink.deliver(batch({item("om-2", 1, f, {}, true)}));  // an empty answer: not found, sent
  INFO(missing[0].detail);
  REQUIRE(missing[0].status == DeliveryStatus::delivered);
  CHECK(missing[0].reference != out[0].reference);
  CHECK(calls(s, "FindOccurrence") == 2);
  CHECK(calls(s, "RegisterOccurrence") == 2);
  CHECK(calls(s, "ReviseOccurrence") == 1);
}

// ---- Kestrel KPS gateway: rpc/literal, typed parts as unqualified children of
// the operation wrapper, an empty match list when not found.
TEST_CASE("rpc/literal (Kestrel): typed parts under the wrapper, create, amend, find") {
  auto& s = legacy("rpc");
  control(s, "reset=1");
  WsdlSoapConfig c;
  c.name = "kestrel";
  c.wsdl = kFixtures + "rpc-literal/KestrelGateway.wsdl";
  c.url = s.url("/kps/services/KpsGateway");
  c.create.operation = "createLog";
  c.create.reference = "//logNumber";
  c.create.values = {{"sourceId", BridgeValue::external_reference}};
  c.create.constants = {{"origin", "PUBLICAPP"}};
  c.update.operation = "amendLog";
  c.update.reference = "//logNumber";
  c.update.values = {{"sourceId", BridgeValue::external_reference}, {"logNumber", BridgeValue::legacy_reference}};
  c.lookup.operation = "findLog";
  c.lookup.reference = "//match/logNumber";
  c.lookup.values = {{"sourceId", BridgeValue::external_reference}};
  c.lookup.constants = {{"origin", "PUBLICAPP"}};
  c.settle_time = std::chrono::milliseconds(0);
  fast(c);
  WsdlSoapSink sink(c, {});
  const std::vector<core::RecordField> f{{"entry/logType", "ASB"},
                                         {"entry/opened", "2026-11-27T18:42:10"},
                                         {"entry/synopsis", "Stones thrown at buses"},
                                         {"entry/place/postcode", "TS1 3QY"}};
  const auto preview = sink.encode_preview(item("kp-1", 1, f).record);
  CHECK(preview.find("<entry>") != std::string::npos);  // unqualified part accessor
  // A character XML cannot hold in a text-only part is replaced, never breaks the envelope.
  auto bad_char = item("kp-x", 1, f).record;
  bad_char.submission_id = std::string("kp\x0B\xFF-x");
  const auto cleaned = sink.encode_preview(bad_char);
  CHECK(cleaned.find("<sourceId>kp\xEF\xBF\xBD\xEF\xBF\xBD-x:1</sourceId>") != std::string::npos);
  auto out = sink.deliver(batch({item("kp-1", 1, f)}));
  INFO(out[0].detail);
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("KPS", 0) == 0);
  auto up = sink.deliver(batch({item("kp-1", 2, f, out[0].reference)}));
  INFO(up[0].detail);
  CHECK(up[0].status == DeliveryStatus::delivered);
  CHECK(calls(s, "amendLog") == 1);
  auto found = sink.deliver(batch({item("kp-1", 2, f, {}, true)}));
  INFO(found[0].detail);
  CHECK(found[0].reference == out[0].reference);
  auto missing = sink.deliver(batch({item("kp-2", 1, f, {}, true)}));
  INFO(missing[0].detail);
  REQUIRE(missing[0].status == DeliveryStatus::delivered);
  CHECK(missing[0].reference != out[0].reference);
  CHECK(calls(s, "createLog") == 2);
  CHECK(http(s, "/dump").at("duplicates").as_object().empty());
}

// ---- The shipped RMS contract (schemas/rms_service.wsdl importing
// schemas/rms_community_report.xsd) as config/demo.yaml uses it, against the
// spyne RMS stand-in validating every Report against the XSD: attachments
// inline as base64 (streamed), larger ones by reference, the bytes intact.
namespace {

const char* kRmsSvc = "urn:reportbridge:rms:service:1";
const char* kRmsDoc = "urn:police-uk:rms:community-report:1.0";
const std::string kRecord = "svc:Report/rms:CommunityReport/";

ServerProcess& rms_stand_in() {
  static ServerProcess s({testing::python(), testing::server_script("rms_spyne_server.py"), "0", "--xsd",
                          std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/rms_community_report.xsd"});
  return s;
}

WsdlSoapConfig shipped_rms(ServerProcess& s) {
  WsdlSoapConfig c;
  c.name = "rms_soap";
  c.wsdl = std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/rms_service.wsdl";
  c.port = "RmsSoap11Port";
  c.url = s.url("/rms");
  c.namespaces = {{"svc", kRmsSvc}, {"rms", kRmsDoc}};
  c.create.operation = "CreateCommunityReport";
  c.create.reference = "svc:CreateCommunityReportResponse/svc:LegacyReference";
  c.create.values = {{"svc:ExternalReference", BridgeValue::external_reference}};
  c.update.operation = "UpdateCommunityReport";
  c.update.reference = "svc:UpdateCommunityReportResponse/svc:LegacyReference";
  c.update.values = {{"svc:LegacyReference", BridgeValue::legacy_reference},
                     {"svc:ExternalReference", BridgeValue::external_reference}};
  c.lookup.operation = "FindByExternalReference";
  c.lookup.reference = "svc:FindByExternalReferenceResponse[svc:Found='true']/svc:LegacyReference";
  c.lookup.values = {{"svc:ExternalReference", BridgeValue::external_reference}};
  c.attachments_path = kRecord + "rms:Attachments/rms:Attachment";
  c.attachment_content = "rms:Content";
  c.attachment_content_reference = "rms:ContentReference";
  c.max_inline_bytes = 100000;
  c.attachment_reference = "app-media:{submission_id}/{id}";
  fast(c);
  return c;
}

std::vector<core::RecordField> rms_fields(const std::string& id, const std::string& summary = "Bins on fire") {
  return {{kRecord + "rms:ExternalReference", id}, {"Source", "PUBLIC_APP"},
          {"ReportedAt", "2026-03-01T10:00:00"},    {"CategoryCode", "ASB01"},
          {"Summary", summary}};
}

std::string base64_of(const std::string& data) {
  std::string b64(4 * ((data.size() + 2) / 3) + 1, '\0');
  b64.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                                      reinterpret_cast<const unsigned char*>(data.data()),
                                                      static_cast<int>(data.size()))));
  return b64;
}

// external references of the versions the RMS created records with -> count
std::map<std::string, int> creates_by_external_rms(ServerProcess& s) {
  std::map<std::string, int> out;
  const auto dump = http(s, "/dump");
  for (const auto& rec : dump.at("records").as_array())
    out[std::string(rec.at("versions").as_array()[0].at("external_reference").as_string())]++;
  return out;
}

// The xml of each version the RMS holds under `ref`.
std::vector<std::string> rms_versions(ServerProcess& s, const std::string& ref) {
  std::vector<std::string> out;
  const auto dump = http(s, "/dump");
  for (const auto& rec : dump.at("records").as_array())
    if (rec.at("legacy_reference").as_string() == ref)
      for (const auto& v : rec.at("versions").as_array()) out.emplace_back(v.at("xml").as_string());
  return out;
}

}  // namespace

TEST_CASE("shipped RMS contract: attachments inline (bytes intact), larger ones by reference, update, lookup") {
  auto& s = rms_stand_in();
  testing::TempDir dir;
  std::string photo(70001, '\0');  // not a multiple of 3: the base64 ends in padding
  for (std::size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>((i * 131 + 7) % 256);
  testing::write_file(dir / "photo.jpg", photo);
  testing::write_file(dir / "clip.mp4", std::string(150000, 'v'));
  auto locator = [&](const core::AttachmentRef& a) {
    if (a.path.find("..") != std::string::npos) throw std::runtime_error("unsafe path");
    return dir.path() / a.path;
  };
  WsdlSoapSink sink(shipped_rms(s), locator);

  auto with = item("rms-att-1", 1, rms_fields("rms-att-1"));
  with.record.attachments = {
      {"a1", "IMG_1.jpg", "image/jpeg", photo.size(), core::sha256_hex(photo), "photo.jpg"},
      {"a2", "VID_1.mp4", "video/mp4", 150000, core::sha256_hex(std::string(150000, 'v')), "clip.mp4"}};
  auto bad = item("rms-att-2", 1, rms_fields("rms-att-2"), {}, false, 2);
  bad.record.attachments = {{"b1", "x.jpg", "image/jpeg", photo.size(), std::string(64, '0'), "photo.jpg"}};
  auto unsafe = item("rms-att-3", 1, rms_fields("rms-att-3"), {}, false, 3);
  unsafe.record.attachments = {{"c1", "x.jpg", "image/jpeg", 1, "", "../etc/passwd"}};
  auto out = sink.deliver(batch({with, bad, unsafe}));
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference.rfind("RMS-26-", 0) == 0);
  CHECK(out[1].reason_code == "attachment_mismatch");
  CHECK(out[2].reason_code == "attachment_unavailable");

  // The server validated the Report against the XSD; the photo's bytes arrived intact.
  auto versions = rms_versions(s, out[0].reference);
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].find(">" + base64_of(photo) + "</") != std::string::npos);
  CHECK(versions[0].find("ContentReference>app-media:rms-att-1/a2</") != std::string::npos);
  CHECK(versions[0].find("rms-att-1:1") == std::string::npos);  // the external reference is the wrapper's, not the record's
  CHECK(creates_by_external_rms(s).count("rms-att-2:1") == 0);

  // An edit: UpdateCommunityReport against the stored reference, the photo sent again.
  auto edit = item("rms-att-1", 2, rms_fields("rms-att-1", "Bins on fire again"), out[0].reference);
  edit.record.attachments = {with.record.attachments[0]};
  auto up = sink.deliver(batch({edit}));
  REQUIRE(up[0].status == DeliveryStatus::delivered);
  CHECK(up[0].reference == out[0].reference);
  versions = rms_versions(s, out[0].reference);
  REQUIRE(versions.size() == 2);
  CHECK(versions[1].find("Bins on fire again") != std::string::npos);
  CHECK(versions[1].find(">" + base64_of(photo) + "</") != std::string::npos);

  // In doubt: the lookup finds the version; nothing is sent twice. Not found: sent.
  auto cfg = shipped_rms(s);
  cfg.settle_time = std::chrono::milliseconds(0);
  WsdlSoapSink quick(cfg, locator);
  auto found = quick.deliver(batch({item("rms-att-1", 2, rms_fields("rms-att-1"), out[0].reference, true, 4),
                                    item("rms-att-4", 1, rms_fields("rms-att-4"), {}, true, 5)}));
  REQUIRE(found[0].status == DeliveryStatus::delivered);
  CHECK(found[0].reference == out[0].reference);
  REQUIRE(found[1].status == DeliveryStatus::delivered);
  CHECK(rms_versions(s, out[0].reference).size() == 2);
  CHECK(creates_by_external_rms(s).count("rms-att-4:1") == 1);

  // Preview: a placeholder, not the bytes; the reference form for the large one.
  const std::string preview = sink.preview_all(with.record);
  CHECK(preview.find("(base64 of attachment a1, 70001 bytes)") != std::string::npos);
  CHECK(preview.find(base64_of(photo).substr(0, 40)) == std::string::npos);
  CHECK(preview.find("app-media:rms-att-1/a2") != std::string::npos);
}

TEST_CASE("shipped RMS contract: without a reference path a large attachment is rejected, bad content paths fail") {
  auto& s = rms_stand_in();
  testing::TempDir dir;
  testing::write_file(dir / "clip.mp4", std::string(150000, 'v'));
  auto cfg = shipped_rms(s);
  cfg.attachment_content_reference.clear();
  WsdlSoapSink sink(cfg, [&](const core::AttachmentRef& a) { return dir.path() / a.path; });
  auto big = item("rms-big-1", 1, rms_fields("rms-big-1"));
  big.record.attachments = {{"v1", "VID.mp4", "video/mp4", 150000, "", "clip.mp4"}};
  auto out = sink.deliver(batch({big}));
  CHECK(out[0].reason_code == "attachment_too_large");
  CHECK(creates_by_external_rms(s).count("rms-big-1:1") == 0);

  auto wrong_type = shipped_rms(s);
  wrong_type.attachment_content = "rms:FileName";  // xs:string, and written with the metadata
  CHECK_THROWS_WITH(WsdlSoapSink(wrong_type, {}), Catch::Contains("attachment content path 'rms:FileName'"));
  auto not_there = shipped_rms(s);
  not_there.attachment_content = "rms:Data";
  CHECK_THROWS_WITH(WsdlSoapSink(not_there, {}), Catch::Contains("'rms:Data' is not in element 'Attachment'"));
  auto not_base64 = shipped_rms(s);
  not_base64.attachment_content_reference.clear();
  not_base64.attachment_content = "@mediaType";
  CHECK_THROWS(WsdlSoapSink(not_base64, {}));
}

TEST_CASE("shipped RMS contract over mutual TLS: delivered with the photo inline, a name mismatch is refused") {
  testing::TempDir dir;
  testing::make_test_pki(dir.path());
  const std::string d = dir.path().string();
  ServerProcess tls({testing::python(), testing::server_script("faulty_server.py"), "0", "--cert", d + "/server.pem",
                     "--key", d + "/server.key", "--client-ca", d + "/ca.pem"});
  const std::string photo(3000, 'p');
  testing::write_file(dir / "photo.jpg", photo);
  auto c = shipped_rms(rms_stand_in());
  c.url = tls.url("/capture", "localhost", "https");
  c.http.tls.ca_file = dir / "ca.pem";
  c.http.tls.client_cert = dir / "client.pem";
  c.http.tls.client_key = dir / "client.key";
  auto with = item("rms-tls-1", 1, rms_fields("rms-tls-1"));
  with.record.attachments = {{"a1", "IMG.jpg", "image/jpeg", photo.size(), core::sha256_hex(photo), "photo.jpg"}};
  {
    WsdlSoapSink sink(c, [&](const core::AttachmentRef& a) { return dir.path() / a.path; });
    auto out = sink.deliver(batch({with}));
    REQUIRE(out[0].status == DeliveryStatus::delivered);
    CHECK(out[0].reference.rfind("OK-", 0) == 0);
    net::HttpClientConfig hc;  // GET /last over the same mutual TLS
    hc.base_url = tls.url("/last", "localhost", "https");
    hc.tls = c.http.tls;
    net::HttpClient client(hc);
    net::Request get;
    get.method = "GET";
    get.target = "/last";
    const auto res = client.send(get);
    REQUIRE(res.status == 200);
    const auto last = boost::json::parse(res.body);
    const std::string body(last.at("body").as_string());
    CHECK(body.find("<svc:ExternalReference>rms-tls-1:1</svc:ExternalReference>") != std::string::npos);
    CHECK(body.find(">" + base64_of(photo) + "</") != std::string::npos);
    CHECK(last.at("client_subject").is_object());  // the client certificate was presented
  }
  c.url = tls.url("/capture", "127.0.0.1", "https");
  WsdlSoapSink mismatch(c, [&](const core::AttachmentRef& a) { return dir.path() / a.path; });
  auto out = mismatch.deliver(batch({with}));
  CHECK(out[0].status == DeliveryStatus::retry);
  CHECK(out[0].reason_code == "tls_verify_failed");
  CHECK_FALSE(out[0].in_doubt);
}

TEST_CASE("a mapping's operations: section: its records' update leaves a field out, other mappings' keep it") {
  auto& s = legacy("wrapped");
  control(s, "reset=1");
  WsdlSoapSink sink(guardian(s), {});
  sink.set_mapping_operations({{"short_update", {{"update", {{"gcr:CommunityReport/Location/Postcode", ""}}}}}});
  auto out = sink.deliver(batch({item("ops-1", 1, guardian_fields()), item("ops-2", 1, guardian_fields(), {}, false, 2)}));
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  REQUIRE(out[1].status == DeliveryStatus::delivered);
  auto mine = item("ops-1", 2, guardian_fields("v2 of ops-1"), out[0].reference, false, 3);
  mine.record.mapping = "short_update";
  auto other = item("ops-2", 2, guardian_fields("v2 of ops-2"), out[1].reference, false, 4);  // mapping "m"
  auto up = sink.deliver(batch({mine, other}));
  REQUIRE(up[0].status == DeliveryStatus::delivered);
  REQUIRE(up[1].status == DeliveryStatus::delivered);
  const auto v1 = versions_xml(s, out[0].reference), v2 = versions_xml(s, out[1].reference);
  const auto at1 = v1.find("v2 of ops-1"), at2 = v2.find("v2 of ops-2");
  REQUIRE(at1 != std::string::npos);
  REQUIRE(at2 != std::string::npos);
  // The versions are listed in order: the update's is the text after the create's.
  CHECK(v1.substr(v1.rfind('\n', at1) == std::string::npos ? 0 : v1.rfind('\n', at1)).find("TS1 3QY") ==
        std::string::npos);
  CHECK(v2.substr(v2.rfind('\n', at2) == std::string::npos ? 0 : v2.rfind('\n', at2)).find("TS1 3QY") !=
        std::string::npos);
  // check: the section's paths are judged against the operation's input.
  CHECK_FALSE(sink.check_operation_path("update", "gcr:CommunityReport/Summary"));
  CHECK(sink.check_operation_path("lookup", "gcr:CommunityReport/Summary").value_or("").find("FindByExternalReference") !=
        std::string::npos);
  CHECK(sink.check_operation_path("amend", "x").has_value());
}

TEST_CASE("shipped RMS contract with max_request_size: photos inline only while the request fits, a request too large is not sent") {
  // The stand-in (spyne) refuses requests over 2 MiB: three 800 kB photos
  // inline (3.2 MB of base64) are refused by the target itself; within
  // max_request_size 2MiB the first goes inline and the others by reference.
  auto& s = rms_stand_in();
  testing::TempDir dir;
  std::string photo(800000, '\0');
  for (std::size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>((i * 31 + 3) % 251);
  testing::write_file(dir / "p.jpg", photo);
  auto locator = [&](const core::AttachmentRef& a) { return dir.path() / a.path; };
  auto three = [&](const std::string& id, std::int64_t outbox) {
    auto it = item(id, 1, rms_fields(id), {}, false, outbox);
    for (const char* a : {"p1", "p2", "p3"})
      it.record.attachments.push_back({a, "p.jpg", "image/jpeg", photo.size(), core::sha256_hex(photo), "p.jpg"});
    return it;
  };
  auto cfg = shipped_rms(s);
  cfg.max_inline_bytes = 5u << 20;
  {
    WsdlSoapSink unlimited(cfg, locator);
    auto out = unlimited.deliver(batch({three("rms-size-1", 1)}));
    CHECK(out[0].status == DeliveryStatus::reject);  // the target's own limit
    CHECK(creates_by_external_rms(s).count("rms-size-1:1") == 0);
  }
  cfg.max_request_bytes = 2u << 20;
  WsdlSoapSink sink(cfg, locator);
  auto out = sink.deliver(batch({three("rms-size-2", 2)}));
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  const auto versions = rms_versions(s, out[0].reference);
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].find(">" + base64_of(photo) + "</") != std::string::npos);  // p1 inline, intact
  CHECK(versions[0].find("app-media:rms-size-2/p1") == std::string::npos);
  CHECK(versions[0].find("app-media:rms-size-2/p2") != std::string::npos);
  CHECK(versions[0].find("app-media:rms-size-2/p3") != std::string::npos);
  // Preview makes the same choice.
  const std::string preview = sink.preview_all(three("rms-size-2", 2).record);
  CHECK(preview.find("(base64 of attachment p1, 800000 bytes)") != std::string::npos);
  CHECK(preview.find("(base64 of attachment p2") == std::string::npos);

  cfg.max_request_bytes = 300;  // not even the record fits: refused here, never sent
  WsdlSoapSink tiny(cfg, locator);
  out = tiny.deliver(batch({item("rms-size-3", 1, rms_fields("rms-size-3"), {}, false, 3)}));
  CHECK(out[0].reason_code == "request_too_large");
  CHECK(creates_by_external_rms(s).count("rms-size-3:1") == 0);
}
